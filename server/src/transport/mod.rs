//! How bytes reach clients: the accept loop, connections and Engine.IO sessions.
//!
//! - [`listener`]: accepting, admitting and serving TCP connections (timeouts,
//!   TLS, graceful shutdown).
//! - [`body_deadline`]: a request body must arrive whole within a deadline.
//! - [`conn`]: one connection: its idle clock, and for Engine.IO WebSockets a
//!   bounded backlog that never makes the writer wait (slow consumers are cut).
//! - [`sessions`]: the HTTP view of Engine.IO sessions: which client may
//!   continue one, polling activity, slow polling sessions.
//! - [`session_ids`]: the signed session ids that keep socket ids safe to share.

pub mod body_deadline;
pub mod conn;
pub mod listener;
pub mod session_ids;
pub mod sessions;
