//! What operators see of a node.
//!
//! - [`metrics`]: Prometheus metrics, every name in one place, and `/metrics`.
//! - [`telemetry`]: structured logs, with repeated lines bounded.
//! - [`health`]: `/healthz` and `/readyz`.
//! - [`activity`]: per-second counts for the Admin UI's charts.
//! - [`admin_feed`]: the Admin UI's bounded live view of sockets (development mode).
//! - [`redaction`]: the credentials the Admin UI is never shown.

pub(crate) mod activity;
pub(crate) mod admin_feed;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod redaction;
pub mod telemetry;
