//! iorelay: a production Socket.IO server on socketioxide, axum and tokio.
//!
//! # Layout
//! Folders are concerns; a module imports only from modules listed after it
//! (checked by `architecture::tests`), so a newcomer can read from the bottom up.
//! - [`node`]: running one node: compose the engine, apps and backends, serve, drain.
//! - [`apps`]: the namespaces and what happens in them (relay, chat, notifications and their SSE stream, the Admin UI's namespace, conformance).
//! - [`backends`]: how backends act on sockets (publisher, delivery, notifier with history and catch-up, publish API, Flask and Django bridges, forwarding).
//! - [`socket`]: what every socket goes through (lifecycle, event ordering).
//! - [`transport`]: HTTP and Engine.IO: router, engine settings, accept loop, connections, sessions.
//! - [`security`]: origins, auth, identity, limits.
//! - [`cluster`]: running as one of N nodes: the Redis link, its driver and monitor.
//! - [`protocol`]: the wire contract: event names and payloads, error codes, their rules.
//! - [`ops`]: metrics, logs, health, the Admin UI's activity counts and live feed.
//! - [`config`]: the one typed configuration (flags, `IORELAY_*`, TOML file).
//!
//! Only what the binary and the end-to-end tests use is public (`config`,
//! `node`, `apps::conformance`, `ops::telemetry`); the rest is crate-private.
//! `fuzz_logic` (the decoders as functions for `fuzz/` and the tests) is
//! compiled only for tests and with the `fuzzing` feature: it is not API.

#[cfg(test)]
mod architecture;
#[cfg(test)]
mod test_support;

pub mod apps;
pub(crate) mod backends;
pub(crate) mod cluster;
pub mod config;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_logic;
pub mod node;
pub mod ops;
pub(crate) mod protocol;
pub(crate) mod security;
pub(crate) mod socket;
pub(crate) mod transport;
