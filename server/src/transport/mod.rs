//! How bytes reach clients: the accept loop, connections and Engine.IO sessions.
//!
//! - [`router`]: the HTTP surface of a node (engine, health, API, static files)
//!   and the layers every request passes.
//! - [`engine`]: socketioxide's engine settings, the Engine.IO v3 gate, and
//!   which requests are the engine's.
//! - [`listener`]: accepting, admitting and serving TCP connections (timeouts,
//!   TLS, graceful shutdown); [`tls`] loads the certificate.
//! - [`owned_head`]: a session's first request keeps its own copy of its head.
//! - [`body_deadline`]: a request body must arrive whole within a deadline.
//! - [`conn`]: one connection: its idle clock, and for Engine.IO WebSockets a
//!   bounded backlog that never makes the writer wait (slow consumers are cut).
//! - [`sessions`]: the HTTP view of Engine.IO sessions: which client may
//!   continue one, polling activity, slow polling sessions.
//! - [`session_ids`]: the signed session ids that keep socket ids safe to share.

pub mod body_deadline;
pub mod conn;
pub mod engine;
pub mod listener;
pub mod owned_head;
pub mod router;
pub mod session_ids;
pub mod sessions;
pub mod tls;
