//! What operators see of a node.
//!
//! - [`metrics`]: Prometheus metrics, every name in one place, and `/metrics`.
//! - [`telemetry`]: structured logs, with repeated lines bounded.
//! - [`health`]: `/healthz` and `/readyz`.

pub(crate) mod health;
pub(crate) mod metrics;
pub mod telemetry;
