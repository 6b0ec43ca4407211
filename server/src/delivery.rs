//! Broadcasts that keep working on this node while the cluster link is down,
//! and failures told in one bounded line.
//!
//! socketioxide-redis publishes a broadcast to Redis before delivering it to
//! local sockets, and gives up on both when Redis is unreachable. A node that
//! lost Redis must still serve its own clients, so on an adapter error the
//! same broadcast is delivered to this node's sockets only.
//!
//! socketioxide reports a broadcast that some sockets could not take (full
//! buffer, closed) with one entry per socket; logged as is, one slow room of
//! thousands made a line of thousands of entries per delivery. Failures are
//! counted per recipient in `iorelay_delivery_failures_total` and summarized
//! by [`DeliveryFailure`].

use serde::Serialize;
use socketioxide::BroadcastError;
use socketioxide::SocketError;
use socketioxide::operators::BroadcastOperators;

use crate::metrics;
use crate::namespaces::NodeAdapter;

/// Why a broadcast did not reach every recipient, in a line of bounded size.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryFailure {
    /// Some sockets could not take it; the others did.
    #[error("{failed} recipient(s) could not take it ({full} with a full buffer, {closed} closed)")]
    Recipients {
        /// Sockets that did not get it.
        failed: usize,
        /// Of those, sockets whose packet buffer was full (slow consumers).
        full: usize,
        /// Of those, sockets that were closing.
        closed: usize,
    },
    /// The event could not be encoded.
    #[error("cannot encode it: {0}")]
    Serialize(String),
    /// The cluster link failed.
    #[error("the cluster adapter failed: {0}")]
    Adapter(String),
}

/// Counts a broadcast's failure (per recipient) and summarizes it.
pub fn failure(e: BroadcastError) -> DeliveryFailure {
    match e {
        BroadcastError::Socket(errors) => {
            let full = errors
                .iter()
                .filter(|e| matches!(e, SocketError::InternalChannelFull))
                .count();
            let closed = errors.len() - full;
            metrics::delivery_failed("channel_full", full);
            metrics::delivery_failed("closed", closed);
            DeliveryFailure::Recipients {
                failed: errors.len(),
                full,
                closed,
            }
        }
        BroadcastError::Serialize(e) => {
            metrics::delivery_failed("serialize", 1);
            DeliveryFailure::Serialize(e.to_string())
        }
        BroadcastError::Adapter(e) => {
            metrics::delivery_failed("adapter", 1);
            DeliveryFailure::Adapter(e.to_string())
        }
    }
}

/// Emits to the selected sockets of the cluster, or of this node when the cluster is unreachable.
pub async fn emit<A: NodeAdapter, T: Serialize + ?Sized>(
    target: BroadcastOperators<A>,
    event: &str,
    data: &T,
) -> Result<(), DeliveryFailure> {
    metrics::event_sent(target.ns_path());
    match target.clone().emit(event, data).await {
        Ok(()) => Ok(()),
        Err(BroadcastError::Adapter(e)) => {
            let cause = failure(BroadcastError::Adapter(e));
            tracing::warn!(error = %cause, event, "cluster broadcast failed; delivered to this node's sockets only");
            target.local().emit(event, data).await.map_err(failure)
        }
        Err(e) => Err(failure(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_of_failed_recipients_make_one_short_line() {
        let mut errors = vec![SocketError::InternalChannelFull; 5000];
        errors.push(SocketError::Closed);
        let line = failure(BroadcastError::Socket(errors)).to_string();
        assert_eq!(
            line,
            "5001 recipient(s) could not take it (5000 with a full buffer, 1 closed)"
        );
    }
}
