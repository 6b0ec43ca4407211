//! Broadcasts that keep working on this node while the cluster link is down,
//! and that never leave a recipient connected with a hole.
//!
//! socketioxide-redis publishes a broadcast to Redis before delivering it to
//! local sockets, and gives up on both when Redis is unreachable. A node that
//! lost Redis must still serve its own clients, so on an adapter error the
//! same broadcast is delivered to this node's sockets only.
//!
//! socketioxide skips, without telling the client, a recipient whose packet
//! queue is full. WebSocket queues never fill (they drain into the
//! connection's byte-bounded backlog, [`crate::transport::conn`]); a
//! long-polling recipient that is not polling can fill its queue, so a
//! broadcast that reports full queues closes such recipients
//! ([`sessions::cut_full_polling_sockets`]): they reconnect and catch up.

use serde::Serialize;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;
use socketioxide::{AckError, BroadcastError, SocketError};

use crate::namespaces::NodeAdapter;
use crate::transport::sessions;

/// Emits to the selected sockets of the cluster, or of this node when the cluster is unreachable.
pub async fn emit<A: NodeAdapter, T: Serialize + ?Sized>(
    target: BroadcastOperators<A>,
    event: &str,
    data: &T,
) -> Result<(), BroadcastError> {
    crate::metrics::event_sent(target.ns_path());
    let result = match target.clone().emit(event, data).await {
        Err(BroadcastError::Adapter(e)) => {
            tracing::warn!(error = %e, event, "cluster broadcast failed; delivered to this node's sockets only");
            target.clone().local().emit(event, data).await
        }
        other => other,
    };
    if let Err(BroadcastError::Socket(errors)) = &result {
        let full = errors
            .iter()
            .filter(|e| matches!(e, SocketError::InternalChannelFull))
            .count();
        if full > 0 {
            sessions::cut_full_polling_sockets(&target.local().sockets(), full);
        }
    }
    result
}

/// The answer of one recipient of an acknowledged emit; a recipient whose
/// queue was full is closed as a slow consumer (it never got the emit).
pub fn answer_or_cut<A: NodeAdapter, T>(
    target: &BroadcastOperators<A>,
    sid: Sid,
    answer: Result<T, AckError>,
) -> Option<T> {
    if let Err(AckError::Socket(SocketError::InternalChannelFull)) = &answer
        && let Some(socket) = target.get_socket(sid)
    {
        sessions::cut_full_socket(&socket);
    }
    answer.ok()
}
