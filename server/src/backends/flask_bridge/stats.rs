//! Counters of what the bridge did with each queue message.
//!
//! A bad message is logged and skipped, never fatal, so counters are how an
//! operator sees that an emitter is misconfigured or that someone writes
//! garbage on the channel. They are plain atomics so the metrics exporter can
//! read a [`StatsSnapshot`] whenever it scrapes, without a lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a message was not applied; `as_str` is the stable label for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Larger than the bridge decodes.
    TooLarge,
    /// Not valid JSON (and not a pickle).
    MalformedJson,
    /// A pickle that is truncated, inconsistent or of an unsupported kind.
    MalformedPickle,
    /// A pickle that imports, calls or constructs objects.
    ForbiddenPickle,
    /// Decodes, but fields are missing or of the wrong type.
    BadShape,
    /// A `method` python-socketio does not write.
    UnknownMethod,
    /// A namespace this server does not serve.
    UnknownNamespace,
    /// An event name Socket.IO reserves, or an empty or too long one.
    InvalidEvent,
    /// The adapter could not deliver.
    DeliveryFailed,
    /// The bridge could not keep up and dropped the message.
    Overflow,
}

impl RejectReason {
    /// Every reason, in counter order.
    pub const ALL: [RejectReason; 10] = [
        RejectReason::TooLarge,
        RejectReason::MalformedJson,
        RejectReason::MalformedPickle,
        RejectReason::ForbiddenPickle,
        RejectReason::BadShape,
        RejectReason::UnknownMethod,
        RejectReason::UnknownNamespace,
        RejectReason::InvalidEvent,
        RejectReason::DeliveryFailed,
        RejectReason::Overflow,
    ];

    /// Stable snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "too_large",
            RejectReason::MalformedJson => "malformed_json",
            RejectReason::MalformedPickle => "malformed_pickle",
            RejectReason::ForbiddenPickle => "forbidden_pickle",
            RejectReason::BadShape => "bad_shape",
            RejectReason::UnknownMethod => "unknown_method",
            RejectReason::UnknownNamespace => "unknown_namespace",
            RejectReason::InvalidEvent => "invalid_event",
            RejectReason::DeliveryFailed => "delivery_failed",
            RejectReason::Overflow => "overflow",
        }
    }

    fn index(self) -> usize {
        RejectReason::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or_default()
    }
}

/// Counters of one bridge; share it with `Arc`.
#[derive(Debug, Default)]
pub struct BridgeStats {
    received: AtomicU64,
    applied: AtomicU64,
    ignored: AtomicU64,
    rejected: [AtomicU64; RejectReason::ALL.len()],
}

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Messages read from the channel.
    pub received: u64,
    /// Messages applied to this node's sockets.
    pub applied: u64,
    /// Valid messages with nothing to do here (`callback`, empty room lists).
    pub ignored: u64,
    /// Rejected messages by reason (every reason listed, zeros included).
    pub rejected: Vec<(&'static str, u64)>,
}

impl BridgeStats {
    /// Counts a message read from the channel.
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an applied message.
    pub fn applied(&self) {
        self.applied.fetch_add(1, Ordering::Relaxed);
        crate::ops::metrics::bridge_message("applied");
    }

    /// Counts a valid message that needed nothing done.
    pub fn ignored(&self) {
        self.ignored.fetch_add(1, Ordering::Relaxed);
        crate::ops::metrics::bridge_message("ignored");
    }

    /// Counts a rejected message.
    pub fn rejected(&self, reason: RejectReason) {
        self.rejected[reason.index()].fetch_add(1, Ordering::Relaxed);
        crate::ops::metrics::bridge_message(reason.as_str());
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            received: self.received.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
            ignored: self.ignored.load(Ordering::Relaxed),
            rejected: RejectReason::ALL
                .iter()
                .map(|r| (r.as_str(), self.rejected[r.index()].load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let stats = BridgeStats::default();
        stats.received();
        stats.received();
        stats.applied();
        stats.rejected(RejectReason::ForbiddenPickle);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.received, 2);
        assert_eq!(snapshot.applied, 1);
        assert!(snapshot.rejected.contains(&("forbidden_pickle", 1)));
        assert!(snapshot.rejected.contains(&("malformed_json", 0)));
        assert_eq!(snapshot.rejected.len(), RejectReason::ALL.len());
    }
}
