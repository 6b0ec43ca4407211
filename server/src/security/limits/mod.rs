//! Limits that keep one client from stalling or starving the others.
//!
//! - [`connections`]: admission of new Engine.IO connections (handshakes):
//!   connections per node and per client address, handshake rate per address.
//!   Refusals are HTTP answers with a JSON body, before socketioxide sees the
//!   request.
//! - [`held`]: what a node and each address hold, under caps (both admissions count with it).
//! - [`tcp`]: TCP connections per node and per peer address, checked at accept.
//! - [`budget`]: the event budget of each connection (events per second, burst,
//!   drops before a disconnect); [`crate::socket::guard`] spends it before any
//!   handler runs, for every event, known or not.
//!
//! Payload sizes (`--max-payload`), queued packets and bytes (`--max-buffer-size`,
//! `--max-queued-bytes`, see [`crate::transport::conn`]),
//! rooms per socket and text lengths are bounded where they are used.

pub mod budget;
pub mod connections;
pub mod held;
pub mod tcp;
