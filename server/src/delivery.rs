//! Broadcasts that keep working on this node while the cluster link is down.
//!
//! socketioxide-redis publishes a broadcast to Redis before delivering it to
//! local sockets, and gives up on both when Redis is unreachable. A node that
//! lost Redis must still serve its own clients, so on an adapter error the
//! same broadcast is delivered to this node's sockets only.

use serde::Serialize;
use socketioxide::BroadcastError;
use socketioxide::operators::BroadcastOperators;

use crate::namespaces::NodeAdapter;

/// Emits to the selected sockets of the cluster, or of this node when the cluster is unreachable.
pub async fn emit<A: NodeAdapter, T: Serialize + ?Sized>(
    target: BroadcastOperators<A>,
    event: &str,
    data: &T,
) -> Result<(), BroadcastError> {
    crate::metrics::event_sent(target.ns_path());
    match target.clone().emit(event, data).await {
        Err(BroadcastError::Adapter(e)) => {
            tracing::warn!(error = %e, event, "cluster broadcast failed; delivered to this node's sockets only");
            target.local().emit(event, data).await
        }
        other => other,
    }
}
