//! Development mode: the node's socket records ([`crate::ops::admin_feed`])
//! broadcast to every admin socket of the cluster, in the shapes the UI reads.
//!
//! One task per node drains the bounded queue, so a busy node never waits on
//! the UI: records it cannot queue are dropped and counted at the source.

use socketioxide::SocketIo;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ops::admin_feed::{FeedItem, Stamped};
use crate::protocol::admin_ui::{
    EVENT_RECEIVED, EVENT_SENT, ROOM_JOINED, ROOM_LEFT, SOCKET_CONNECTED, SOCKET_DISCONNECTED,
    SOCKET_UPDATED,
};
use crate::protocol::clock::iso8601;
use crate::socket::NodeAdapter;

/// Emits every record of `records` to `admin_ns` until `stop`.
pub fn spawn<A: NodeAdapter>(
    io: SocketIo<A>,
    admin_ns: String,
    mut records: mpsc::Receiver<Stamped>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let record = tokio::select! {
                () = stop.cancelled() => break,
                record = records.recv() => record,
            };
            let Some((at, item)) = record else { break };
            let Some(admins) = io.of(admin_ns.as_str()) else {
                continue;
            };
            let time = iso8601(at);
            let sent = match item {
                FeedItem::Connected(socket) => admins.emit(SOCKET_CONNECTED, &(socket, time)).await,
                FeedItem::Updated(update) => admins.emit(SOCKET_UPDATED, &update).await,
                FeedItem::Disconnected { nsp, id, reason } => {
                    admins
                        .emit(SOCKET_DISCONNECTED, &(nsp, id, reason, time))
                        .await
                }
                FeedItem::RoomJoined { nsp, room, id } => {
                    admins.emit(ROOM_JOINED, &(nsp, room, id, time)).await
                }
                FeedItem::RoomLeft { nsp, room, id } => {
                    admins.emit(ROOM_LEFT, &(nsp, room, id, time)).await
                }
                FeedItem::EventReceived { nsp, id, args } => {
                    admins.emit(EVENT_RECEIVED, &(nsp, id, args, time)).await
                }
                FeedItem::EventSent { nsp, id, args } => {
                    admins.emit(EVENT_SENT, &(nsp, id, args, time)).await
                }
            };
            if let Err(e) = sent {
                tracing::debug!(error = %e, "cannot mirror a record to the admin UI");
            }
        }
    });
}
