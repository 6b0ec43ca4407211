//! Per-second counts of what the node does, for the Admin UI's charts
//! (`aggregatedEvents` of `server_stats`).
//!
//! Prometheus already counts the same things, but the UI wants them by second
//! and cleared on each report, so the admin namespace drains them here every
//! 2 s. Nothing is recorded until the admin namespace turns this on: a node
//! without it pays one relaxed atomic load per hook.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use socketioxide::socket::DisconnectReason;

use crate::protocol::admin_ui::{ActivityKind, AggregatedEvent};
use crate::protocol::clock::now_ms;

/// Seconds × kinds kept between two reports; a report that never comes cannot grow it past this.
const MAX_ENTRIES: usize = 4_096;

static ON: AtomicBool = AtomicBool::new(false);

type Key = (u64, ActivityKind, Option<&'static str>);

/// Counts by (second, kind, sub-type). A std mutex: held for one map update, never across an await.
static COUNTS: Mutex<BTreeMap<Key, u64>> = Mutex::new(BTreeMap::new());

/// Starts counting (the admin namespace does, once).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// Whether activity is being counted.
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Counts `n` of `kind` in the current second.
pub fn record(kind: ActivityKind, sub_type: Option<&'static str>, n: u64) {
    if !enabled() || n == 0 {
        return;
    }
    let second = now_ms() / 1000 * 1000;
    let mut counts = COUNTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = (second, kind, sub_type);
    if counts.len() >= MAX_ENTRIES && !counts.contains_key(&key) {
        return;
    }
    *counts.entry(key).or_default() += n;
}

/// A socket connected.
pub fn connected() {
    record(ActivityKind::RawConnection, None, 1);
}

/// A socket disconnected for `reason`.
pub fn disconnected(reason: &DisconnectReason) {
    record(ActivityKind::RawDisconnection, Some(node_reason(reason)), 1);
}

/// An event of `bytes` came in.
pub fn received(bytes: usize) {
    if !enabled() {
        return;
    }
    record(ActivityKind::PacketsIn, None, 1);
    record(ActivityKind::BytesIn, None, bytes as u64);
}

/// An emit of `bytes` went out.
pub fn sent(bytes: usize) {
    if !enabled() {
        return;
    }
    record(ActivityKind::PacketsOut, None, 1);
    record(ActivityKind::BytesOut, None, bytes as u64);
}

/// Everything counted since the last call, oldest second first.
pub fn take() -> Vec<AggregatedEvent> {
    let counts = {
        let mut counts = COUNTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::take(&mut *counts)
    };
    counts
        .into_iter()
        .map(|((timestamp, kind, sub_type), count)| AggregatedEvent {
            timestamp,
            kind,
            sub_type,
            count,
        })
        .collect()
}

/// A disconnect reason as Node socket.io names it (the UI shows these).
pub fn node_reason(reason: &DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport close",
        DisconnectReason::MultipleHttpPollingError | DisconnectReason::PacketParsingError => {
            "parse error"
        }
        DisconnectReason::TransportError => "transport error",
        DisconnectReason::HeartbeatTimeout => "ping timeout",
        DisconnectReason::ClientNSDisconnect => "client namespace disconnect",
        DisconnectReason::ServerNSDisconnect => "server namespace disconnect",
        DisconnectReason::ClosingServer => "server shutting down",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_second_and_clears_on_take() {
        enable();
        // Other tests of this process may count too: a sub-type of our own tells ours apart.
        let ours = |events: &[AggregatedEvent]| -> u64 {
            events
                .iter()
                .filter(|e| e.sub_type == Some("unit-test"))
                .map(|e| e.count)
                .sum()
        };
        record(ActivityKind::RawDisconnection, Some("unit-test"), 2);
        record(ActivityKind::RawDisconnection, Some("unit-test"), 3);
        let taken = take();
        assert_eq!(ours(&taken), 5, "{taken:?}");
        assert!(taken.iter().all(|e| e.timestamp % 1000 == 0));
        assert_eq!(ours(&take()), 0, "taken once");
        assert_eq!(
            node_reason(&DisconnectReason::HeartbeatTimeout),
            "ping timeout"
        );
    }
}
