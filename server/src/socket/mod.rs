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

use futures_util::future::BoxFuture;
use socketioxide::adapter::{Emitter, LocalAdapter};
use socketioxide_redis::CustomRedisAdapter;
use socketioxide_redis::drivers::Driver;

/// The adapters a node can run on (in-memory, Redis): socketioxide's
/// `Adapter` plus the marker it requires before namespaces can be added.
pub trait NodeAdapter:
    socketioxide::adapter::Adapter + socketioxide_core::adapter::DefinedAdapter
{
    /// Whether other nodes share the namespaces: a namespace without sockets
    /// on this node may have some elsewhere.
    const SHARED: bool;

    /// Resolves once a namespace `SocketIo::ns` added is served (Redis: once
    /// its adapter has subscribed to the namespace's channels, so that it both
    /// reaches the other nodes and hears their answers).
    fn added(init: Self::InitRes) -> BoxFuture<'static, Result<(), String>>;
}

impl NodeAdapter for LocalAdapter {
    const SHARED: bool = false;

    fn added((): ()) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

impl<D: Driver> NodeAdapter for CustomRedisAdapter<Emitter, D> {
    const SHARED: bool = true;

    fn added(init: Self::InitRes) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move { init.await.map_err(|e| e.to_string()) })
    }
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
