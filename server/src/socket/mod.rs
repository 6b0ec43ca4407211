//! What every socket of every namespace goes through, whatever app serves it.
//!
//! - [`lifecycle`]: connect and disconnect (sid room, session state, logs, metrics).
//! - [`connect`]: the connect middlewares: charge, token check, the user.
//! - [`legacy_auth`]: socket.io-client 2.x's query as its `auth`.
//! - [`guard`]: every event is charged to the connection's budget before any
//!   handler runs (apps register handlers through [`guard::on`]).
//! - [`rooms`]: a socket's own rooms, the names it may not take, the caps.
//! - [`ordering`]: a socket's events start their handlers in arrival order.
//! - [`expiry`]: a socket whose token expires is told and disconnected, or refreshes it.
//! - [`snapshot`]: a socket as the Admin UI shows it (credentials masked).

pub mod connect;
pub mod expiry;
pub mod guard;
pub mod legacy_auth;
pub mod lifecycle;
pub mod ordering;
pub mod rooms;
pub mod snapshot;

/// The adapters a node can run on (in-memory, Redis): socketioxide's
/// `Adapter` plus the marker it requires before namespaces can be added.
pub trait NodeAdapter:
    socketioxide::adapter::Adapter + socketioxide_core::adapter::DefinedAdapter
{
}

impl<T> NodeAdapter for T where
    T: socketioxide::adapter::Adapter + socketioxide_core::adapter::DefinedAdapter
{
}

/// The connect handler of the built-in namespaces: nothing is left to do once
/// connected (generic namespaces deliver their connect hook's answer instead).
///
/// socketioxide runs the connect handler in a task of its own after it has sent
/// the CONNECT packet, so handlers registered there can miss a client's first
/// event. Namespaces therefore register their handlers in their last connect
/// middleware, which runs before the CONNECT packet, and end with this.
pub async fn connected() {}

/// Sends the acknowledgement of a client → server event.
pub fn send_reply<A: socketioxide::adapter::Adapter, T: serde::Serialize>(
    ack: socketioxide::extract::AckSender<A>,
    result: Result<T, crate::protocol::Refusal>,
) {
    let reply: crate::protocol::Reply<T> = result.into();
    if let Err(e) = ack.send(&reply) {
        tracing::debug!(error = %e, "cannot send acknowledgement");
    }
}
