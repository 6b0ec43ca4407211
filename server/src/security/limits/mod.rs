//! Limits that keep one client from stalling or starving the others.
//!
//! - [`connections`]: admission of new Engine.IO connections (handshakes):
//!   connections per node and per client address, handshake rate per address.
//!   Refusals are HTTP answers with a JSON body, before socketioxide sees the
//!   request.
//! - [`tcp`]: TCP connections per node and per peer address, checked at accept.
//! - [`events`]: the event rate of each client, checked before any handler
//!   runs: every handler is registered through [`events::on`], and unknown
//!   events go through [`events::drop_unknown`], so no namespace can forget it.
//!
//! Payload sizes (`--max-payload`), queued packets and bytes (`--max-buffer-size`,
//! `--max-queued-bytes`, see [`crate::transport::conn`]),
//! rooms per socket and text lengths are bounded where they are used.

pub mod connections;
pub mod events;
pub mod tcp;
