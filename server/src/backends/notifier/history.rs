//! Notification history: a bounded, ordered log per stream (`user:{id}`,
//! `topic:{name}`), so a client that was away gets what it missed.
//!
//! Behind [`NotificationHistory`] so one node keeps it in memory and a cluster
//! in Redis ([`super::redis_history`]), where every node reads the same
//! positions. A stream's first position is the time it was created in
//! microseconds-like units (`now_ms * 1000`), and each append adds one, so a
//! stream that was forgotten (TTL, eviction, a restart of a memory store)
//! and made again never reuses a position a client may still hold.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use lru::LruCache;
use tokio::time::Instant;

use crate::protocol::clock::now_ms;
use crate::protocol::notifications::Notification;

/// The store failed (e.g. Redis is unreachable).
#[derive(Debug, thiserror::Error)]
#[error("notification history: {0}")]
pub struct StoreError(pub String);

/// One stored notification and its position in a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its position in the stream.
    pub position: u64,
    /// The notification (its `positions` empty: the reader fills them in).
    pub notification: Arc<Notification>,
}

/// What a stream holds after a position.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamRead {
    /// Entries after the position asked for, oldest first.
    pub entries: Vec<Entry>,
    /// The stream's newest position (0: the stream has nothing).
    pub head: u64,
    /// Whether every notification after the position asked for is in `entries`.
    pub recovered: bool,
}

/// Where notification streams are kept.
pub trait NotificationHistory: Send + Sync + 'static {
    /// Appends `notification` to `stream`; returns its position there.
    fn append<'a>(
        &'a self,
        stream: &'a str,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Appends `notification` to `stream` unless a node already did so for
    /// `claim` (a message every node received); either way returns the
    /// position and the notification as stored, so every node agrees.
    /// A store that no other node shares appends.
    fn append_once<'a>(
        &'a self,
        stream: &'a str,
        _claim: &'a str,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(u64, Notification), StoreError>> {
        Box::pin(async move {
            let position = self.append(stream, notification).await?;
            Ok((position, notification.clone()))
        })
    }

    /// What `stream` holds after `since`; with `None`, only its head.
    fn read<'a>(
        &'a self,
        stream: &'a str,
        since: Option<u64>,
    ) -> BoxFuture<'a, Result<StreamRead, StoreError>>;
}

/// The first position of a stream made now.
pub fn first_position() -> u64 {
    now_ms().saturating_mul(1000)
}

/// Whether a stream created at `start`, whose positions up to `floor` are
/// gone, still holds everything after `since`. `since == 0` means the client
/// had seen nothing of it; a `since` below `start` was seen in an earlier
/// life of the stream, whose end may be lost.
pub fn reaches_back(start: u64, floor: u64, head: u64, since: u64) -> bool {
    if head == 0 {
        return since == 0;
    }
    since >= floor && (since == 0 || since >= start) && since <= head
}

/// What bounds the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Newest notifications kept per stream.
    pub per_stream: usize,
    /// Notifications older than this are forgotten (`None`: never).
    pub ttl: Option<Duration>,
    /// Streams kept in memory (least recently used go first).
    pub max_streams: usize,
    /// Bytes kept in memory across streams (an estimate of the heap used).
    pub max_bytes: usize,
}

struct Stream {
    start: u64,
    floor: u64,
    head: u64,
    entries: VecDeque<(Entry, Instant, usize)>,
    bytes: usize,
}

impl Stream {
    fn drop_oldest(&mut self) -> usize {
        match self.entries.pop_front() {
            Some((entry, _, size)) => {
                self.floor = entry.position;
                self.bytes -= size;
                size
            }
            None => 0,
        }
    }
}

struct Streams {
    lru: LruCache<String, Stream>,
    bytes: usize,
}

/// One node's notification history, in memory.
pub struct MemoryNotificationHistory {
    limits: HistoryLimits,
    // A std mutex: held for a push or a copy, never across an await.
    streams: Mutex<Streams>,
}

fn notification_bytes(n: &Notification) -> usize {
    std::mem::size_of::<Notification>()
        + n.id.len()
        + n.title.len()
        + n.body.len()
        + n.topic.as_ref().map_or(0, String::len)
        + n.data.to_string().len()
}

impl MemoryNotificationHistory {
    /// A store within `limits`.
    pub fn new(limits: HistoryLimits) -> Self {
        Self {
            limits,
            streams: Mutex::new(Streams {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Streams>, StoreError> {
        self.streams
            .lock()
            .map_err(|_| StoreError("notification history lock poisoned".to_owned()))
    }

    fn expire(&self, stream: &mut Stream, now: Instant) -> usize {
        let Some(ttl) = self.limits.ttl else { return 0 };
        let mut freed = 0;
        while stream
            .entries
            .front()
            .is_some_and(|(_, at, _)| now.saturating_duration_since(*at) >= ttl)
        {
            freed += stream.drop_oldest();
        }
        freed
    }
}

impl NotificationHistory for MemoryNotificationHistory {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let result = self.lock().map(|mut guard| {
            let streams = &mut *guard;
            let now = Instant::now();
            let s = streams.lru.get_or_insert_mut(stream.to_owned(), || Stream {
                start: 0,
                floor: 0,
                head: 0,
                entries: VecDeque::new(),
                bytes: 0,
            });
            let position = if s.head == 0 {
                s.start = first_position();
                s.start
            } else {
                s.head + 1
            };
            s.head = position;
            let size = notification_bytes(notification);
            let entry = Entry {
                position,
                notification: Arc::new(notification.clone()),
            };
            s.entries.push_back((entry, now, size));
            s.bytes += size;
            streams.bytes += size;
            let mut freed = 0;
            while s.entries.len() > self.limits.per_stream.max(1) {
                freed += s.drop_oldest();
            }
            freed += self.expire(s, now);
            streams.bytes -= freed;
            // Whole streams go, least recently used first, past the bounds.
            while streams.bytes > self.limits.max_bytes
                || streams.lru.len() > self.limits.max_streams
            {
                if streams.lru.len() <= 1 {
                    break;
                }
                match streams.lru.pop_lru() {
                    Some((_, old)) => streams.bytes -= old.bytes,
                    None => break,
                }
            }
            position
        });
        Box::pin(std::future::ready(result))
    }

    fn read<'a>(
        &'a self,
        stream: &'a str,
        since: Option<u64>,
    ) -> BoxFuture<'a, Result<StreamRead, StoreError>> {
        let result = self.lock().map(|mut guard| {
            let streams = &mut *guard;
            let Some(s) = streams.lru.get_mut(stream) else {
                return StreamRead {
                    entries: Vec::new(),
                    head: 0,
                    recovered: since.is_none_or(|since| since == 0),
                };
            };
            let freed = self.expire(s, Instant::now());
            streams.bytes -= freed;
            let Some(since) = since else {
                return StreamRead {
                    entries: Vec::new(),
                    head: s.head,
                    recovered: true,
                };
            };
            StreamRead {
                entries: s
                    .entries
                    .iter()
                    .filter(|(e, _, _)| e.position > since)
                    .map(|(e, _, _)| e.clone())
                    .collect(),
                head: s.head,
                recovered: reaches_back(s.start, s.floor, s.head, since),
            }
        });
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(id: &str) -> Notification {
        Notification {
            id: id.to_owned(),
            topic: None,
            title: "t".to_owned(),
            body: "b".to_owned(),
            data: serde_json::Value::Null,
            ts: 1,
            positions: Default::default(),
        }
    }

    fn limits(per_stream: usize) -> HistoryLimits {
        HistoryLimits {
            per_stream,
            ttl: None,
            max_streams: 10,
            max_bytes: 1 << 20,
        }
    }

    #[tokio::test]
    async fn positions_grow_and_reads_resume_after_a_position() {
        let h = MemoryNotificationHistory::new(limits(3));
        let empty = h.read("user:a", Some(0)).await.expect("read");
        assert_eq!((empty.head, empty.recovered), (0, true));
        assert!(!h.read("user:a", Some(5)).await.expect("read").recovered);
        let p1 = h.append("user:a", &note("1")).await.expect("append");
        let p2 = h.append("user:a", &note("2")).await.expect("append");
        assert!(p1 >= first_position() - 1_000_000 && p2 == p1 + 1);
        let read = h.read("user:a", Some(p1)).await.expect("read");
        assert_eq!(read.head, p2);
        assert!(read.recovered);
        assert_eq!(read.entries.len(), 1);
        assert_eq!(read.entries[0].notification.id, "2");
        let all = h.read("user:a", Some(0)).await.expect("read");
        assert_eq!((all.entries.len(), all.recovered), (2, true));
        let head = h.read("user:a", None).await.expect("read");
        assert!(head.entries.is_empty() && head.head == p2);
        // Another stream has its own positions.
        let other = h.append("topic:x", &note("3")).await.expect("append");
        assert!(other >= p1);
    }

    #[tokio::test]
    async fn trimmed_history_says_it_cannot_recover() {
        let h = MemoryNotificationHistory::new(limits(2));
        let p1 = h.append("s", &note("1")).await.expect("append");
        for id in ["2", "3", "4"] {
            h.append("s", &note(id)).await.expect("append");
        }
        let read = h.read("s", Some(p1)).await.expect("read");
        assert!(!read.recovered, "positions 2 was trimmed");
        assert_eq!(read.entries.len(), 2);
        let read = h.read("s", Some(p1 + 1)).await.expect("read");
        assert!(read.recovered, "everything after 2 is kept");
        // A cursor from an earlier life of the stream (below its start) cannot recover.
        assert!(!h.read("s", Some(p1 - 5)).await.expect("read").recovered);
    }

    #[tokio::test]
    async fn streams_past_the_bounds_are_forgotten() {
        let h = MemoryNotificationHistory::new(HistoryLimits {
            max_streams: 2,
            ..limits(5)
        });
        let p = h.append("a", &note("1")).await.expect("append");
        h.append("b", &note("2")).await.expect("append");
        h.append("c", &note("3")).await.expect("append");
        let read = h.read("a", Some(p)).await.expect("read");
        assert_eq!(read.head, 0, "a was forgotten");
        assert!(!read.recovered);
    }

    #[tokio::test(start_paused = true)]
    async fn old_notifications_expire() {
        let h = MemoryNotificationHistory::new(HistoryLimits {
            ttl: Some(Duration::from_secs(10)),
            ..limits(5)
        });
        let p = h.append("a", &note("1")).await.expect("append");
        tokio::time::advance(Duration::from_secs(11)).await;
        let read = h.read("a", Some(0)).await.expect("read");
        assert!(read.entries.is_empty());
        assert!(!read.recovered, "the expired one is lost");
        assert!(h.read("a", Some(p)).await.expect("read").recovered);
    }
}
