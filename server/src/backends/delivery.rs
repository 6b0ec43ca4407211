//! Broadcasts that keep working on this node while the cluster link is down,
//! that never leave a recipient connected with a hole, and whose failures are
//! told in one bounded line.
//!
//! socketioxide-redis publishes a broadcast to Redis before delivering it to
//! local sockets, and gives up on both when Redis is unreachable. A node that
//! lost Redis must still serve its own clients, so on an adapter error the
//! same broadcast is delivered to this node's sockets only.
//!
//! socketioxide skips, without telling the client, a recipient whose packet
//! queue is full, and reports the broadcast with one entry per skipped
//! socket (logged as is, one slow room of thousands made a line of thousands
//! of entries per delivery). WebSocket queues never fill (they drain into the
//! connection's byte-bounded backlog, [`crate::transport::conn`]); a
//! long-polling recipient that is not polling can fill its queue, so a
//! broadcast that reports full queues closes such recipients
//! ([`sessions::cut_full_polling_sockets`]): they reconnect and catch up. The
//! broadcast itself succeeded for everyone else, so the caller is not told it
//! failed (a backend that retried would send duplicates); the recipients are
//! counted in `iorelay_delivery_failures_total` and summarized in one line.

use serde::Serialize;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;
use socketioxide::{AckError, BroadcastError, SocketError};

use crate::ops::{activity, metrics};
use crate::socket::NodeAdapter;
use crate::transport::sessions;

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

/// Counts the bytes written to it and keeps none: an encoding's length without its buffer.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Emits to the selected sockets of the cluster, or of this node when the cluster is unreachable.
pub async fn emit<A: NodeAdapter, T: Serialize + ?Sized>(
    target: BroadcastOperators<A>,
    event: &str,
    data: &T,
) -> Result<(), DeliveryFailure> {
    metrics::event_sent(target.ns_path());
    if activity::enabled() {
        // Only for the Admin UI's byte chart: an encoding nobody else pays for.
        let mut counted = ByteCount(0);
        let bytes = serde_json::to_writer(&mut counted, data).map_or(0, |()| counted.0);
        activity::sent(bytes + event.len());
    }
    let result = match target.clone().emit(event, data).await {
        Err(BroadcastError::Adapter(e)) => {
            let cause = failure(BroadcastError::Adapter(e));
            tracing::warn!(error = %cause, event, "cluster broadcast failed; delivered to this node's sockets only");
            target.clone().local().emit(event, data).await
        }
        other => other,
    };
    match result {
        Ok(()) => Ok(()),
        Err(BroadcastError::Socket(errors)) => {
            let full = errors
                .iter()
                .filter(|e| matches!(e, SocketError::InternalChannelFull))
                .count();
            if full > 0 {
                sessions::cut_full_polling_sockets(&target.clone().local().sockets(), full);
            }
            let summary = failure(BroadcastError::Socket(errors));
            tracing::warn!(
                event,
                ns = target.ns_path(),
                "{summary}; full ones are closed as slow consumers"
            );
            Ok(())
        }
        Err(e) => Err(failure(e)),
    }
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
