//! What happens to every socket on every namespace: its sid room and its logs.
//!
//! python-socketio puts each socket in a room named by its sid, and the
//! Flask-SocketIO message queue addresses single sockets that way
//! (`emit(..., to=sid)`). socketioxide does not, so iorelay joins it here,
//! once, for all namespaces; with the Redis adapter that room is cluster-wide.
//! Connects and disconnects are also counted for the Admin UI and, in its
//! development mode, mirrored to it.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::DisconnectReason;

use crate::socket::guard;
use crate::socket::ordering::EventQueue;

use crate::ops::admin_feed::{self, FeedItem};
use crate::ops::{activity, metrics};
use crate::protocol::clock::now_ms;
use crate::socket::expiry;
use crate::socket::snapshot::{self, ConnectedAt};
use crate::transport::sessions;

/// The client's address as the TCP peer saw it (a proxy's when behind one).
pub fn remote_addr<A: Adapter>(socket: &SocketRef<A>) -> Option<SocketAddr> {
    socket
        .req_parts()
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}

/// Joins the socket's sid room, charges unknown events to its event budget,
/// enforces its token's expiry, counts and logs the connect.
pub fn on_connected<A: Adapter>(socket: &SocketRef<A>) {
    if let Some(session) = sessions::state_of(socket) {
        // WebSocket-only sessions learn their sid here (polling ones at the handshake).
        session.set_sid(socket.id.as_str());
    }
    socket.extensions.insert(EventQueue::new());
    socket.join(socket.id.to_string());
    guard::drop_unknown(socket);
    expiry::watch(socket);
    metrics::socket_connected(socket.ns());
    activity::connected();
    if admin_feed::is_on() {
        socket.extensions.insert(ConnectedAt(now_ms()));
        admin_feed::push(|| FeedItem::Connected(Box::new(snapshot::of(socket))));
    }
    let forwarded = socket
        .req_parts()
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    tracing::info!(
        sid = %socket.id,
        ns = socket.ns(),
        transport = ?socket.transport_type(),
        protocol = ?socket.protocol(),
        remote = ?remote_addr(socket),
        forwarded_for = forwarded.as_deref(),
        "socket connected"
    );
}

/// Logs a disconnect; namespaces call it from their own disconnect handler
/// (socketioxide keeps one per socket), or register it as that handler.
pub fn on_disconnect<A: Adapter>(socket: SocketRef<A>, reason: DisconnectReason) {
    expiry::release(&socket);
    metrics::socket_disconnected(socket.ns(), &reason);
    activity::disconnected(&reason);
    admin_feed::push(|| FeedItem::Disconnected {
        nsp: socket.ns().to_owned(),
        id: socket.id.to_string(),
        reason: activity::node_reason(&reason),
    });
    let cut = sessions::state_of(&socket).and_then(|s| s.cut_reason());
    tracing::info!(
        sid = %socket.id,
        ns = socket.ns(),
        reason = %reason,
        cause = cut.map(|c| c.as_str()),
        "socket disconnected"
    );
}
