//! Room history: a bounded ring of messages per room with monotonic ids,
//! within a bound on the whole (bytes and rooms, least recently used first).
//!
//! Behind [`HistoryStore`] so the in-memory ring of a single node can be
//! replaced by a shared Redis store when several nodes serve one room.
//! Ids start at 1 per room and only grow, which is what lets a reconnecting
//! client ask for exactly what it missed (`after: last_seen_id`).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use lru::LruCache;
use tokio::time::Instant;

use crate::protocol::chat::ChatMessage;
use crate::protocol::clock::now_ms;
use crate::protocol::user::User;

/// Which part of a room's history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only ids smaller than this.
    pub before: Option<u64>,
    /// Only ids larger than this; the oldest such messages come first.
    pub after: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// A page of history, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// The messages.
    pub messages: Vec<ChatMessage>,
    /// Whether more messages match beyond the limit.
    pub has_more: bool,
}

/// The history store failed (e.g. Redis is unreachable).
#[derive(Debug, thiserror::Error)]
#[error("history store: {0}")]
pub struct StoreError(pub String);

/// Where chat rooms keep their messages.
pub trait HistoryStore: Send + Sync + 'static {
    /// Stores a message, giving it the room's next id and the current time.
    fn append<'a>(
        &'a self,
        room: &'a str,
        from: User,
        text: String,
    ) -> BoxFuture<'a, Result<ChatMessage, StoreError>>;

    /// Reads part of a room's history.
    fn query<'a>(
        &'a self,
        room: &'a str,
        query: HistoryQuery,
    ) -> BoxFuture<'a, Result<HistoryPage, StoreError>>;

    /// Says whether anyone is in `room` on this node, so that a store that must
    /// forget rooms forgets the empty ones first. Stores that never forget a
    /// room that is in use (Redis: a TTL from the last message) ignore it.
    fn set_occupied(&self, _room: &str, _occupied: bool) {}
}

/// Selects a page from messages sorted by id (shared by every store).
pub fn select<'m>(
    messages: impl Iterator<Item = &'m ChatMessage>,
    query: HistoryQuery,
) -> HistoryPage {
    let matching: Vec<&ChatMessage> = messages
        .filter(|m| query.after.is_none_or(|a| m.id > a))
        .filter(|m| query.before.is_none_or(|b| m.id < b))
        .collect();
    let has_more = matching.len() > query.limit;
    let page = if query.after.is_some() {
        // Catch-up reads forward from the cursor.
        &matching[..matching.len().min(query.limit)]
    } else {
        // Paging back reads the newest first.
        &matching[matching.len().saturating_sub(query.limit)..]
    };
    HistoryPage {
        messages: page.iter().map(|m| (*m).clone()).collect(),
        has_more,
    }
}

/// What bounds a node's history in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Newest messages kept per room.
    pub per_room: usize,
    /// Bytes of messages kept across all rooms (an estimate of the heap they use).
    pub max_bytes: usize,
    /// Rooms with history.
    pub max_rooms: usize,
    /// A room unused for this long is forgotten (`None`: never).
    pub ttl: Option<Duration>,
}

#[derive(Default)]
struct Ring {
    last_id: u64,
    messages: VecDeque<ChatMessage>,
    bytes: usize,
}

/// Rooms by recency of use, with the bytes they hold.
struct Rooms {
    lru: LruCache<String, (Ring, Instant)>,
    bytes: usize,
    /// Rooms someone is in: forgotten only when forgetting every empty room was not enough.
    occupied: HashSet<String>,
}

/// Roughly the heap a stored message takes: its strings and its slot.
fn message_bytes(m: &ChatMessage) -> usize {
    std::mem::size_of::<ChatMessage>()
        + m.room.capacity()
        + m.text.capacity()
        + m.from.id.capacity()
        + m.from.name.capacity()
}

/// One node's history, in memory.
///
/// Every room's ring is bounded, and so is the whole: past `max_bytes` or
/// `max_rooms` the least recently used rooms are forgotten, and rooms unused
/// for `ttl` go when the store is next written. A forgotten room starts again
/// at id 1, as after a restart (clients see the ids fall and reload).
pub struct MemoryHistory {
    limits: HistoryLimits,
    // A std mutex: held for a push or a copy, never across an await.
    rooms: Mutex<Rooms>,
}

impl MemoryHistory {
    /// A store within `limits`.
    pub fn new(limits: HistoryLimits) -> Self {
        Self {
            limits,
            rooms: Mutex::new(Rooms {
                lru: LruCache::unbounded(),
                bytes: 0,
                occupied: HashSet::new(),
            }),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Rooms>, StoreError> {
        self.rooms
            .lock()
            .map_err(|_| StoreError("history lock poisoned".to_owned()))
    }

    /// Rooms with history and the bytes they hold.
    #[cfg(test)]
    pub fn usage(&self) -> Result<(usize, usize), StoreError> {
        self.lock().map(|rooms| (rooms.lru.len(), rooms.bytes))
    }
}

impl Rooms {
    /// Forgets rooms, least recently used first, until the store is within
    /// `limits`: idle rooms past the TTL and empty rooms first, then rooms
    /// people are in; `keep` (the room just written) goes last, oldest message first.
    fn evict(&mut self, limits: &HistoryLimits, keep: &str, now: Instant) {
        let mut spare_occupied = true;
        loop {
            let over = self.bytes > limits.max_bytes || self.lru.len() > limits.max_rooms;
            let victim = self
                .lru
                .iter()
                .rev()
                .filter(|(room, _)| room.as_str() != keep)
                .find(|(room, _)| !(spare_occupied && self.occupied.contains(room.as_str())))
                .filter(|(_, (_, used))| {
                    over || limits
                        .ttl
                        .is_some_and(|ttl| now.saturating_duration_since(*used) >= ttl)
                })
                .map(|(room, _)| room.clone());
            match victim {
                Some(room) => {
                    if let Some((ring, _)) = self.lru.pop(&room) {
                        self.bytes -= ring.bytes;
                    }
                }
                None if over && spare_occupied => spare_occupied = false,
                None => break,
            }
        }
        if self.bytes > limits.max_bytes
            && let Some((ring, _)) = self.lru.get_mut(keep)
        {
            while self.bytes > limits.max_bytes && ring.messages.len() > 1 {
                if let Some(old) = ring.messages.pop_front() {
                    let size = message_bytes(&old);
                    ring.bytes -= size;
                    self.bytes -= size;
                }
            }
        }
    }
}

impl HistoryStore for MemoryHistory {
    fn append<'a>(
        &'a self,
        room: &'a str,
        from: User,
        text: String,
    ) -> BoxFuture<'a, Result<ChatMessage, StoreError>> {
        let result = self.lock().map(|mut rooms| {
            let now = Instant::now();
            let rooms = &mut *rooms;
            let (ring, used) = rooms
                .lru
                .get_or_insert_mut(room.to_owned(), || (Ring::default(), now));
            *used = now;
            ring.last_id += 1;
            let message = ChatMessage {
                id: ring.last_id,
                room: room.to_owned(),
                from,
                text,
                ts: now_ms(),
            };
            if ring.messages.len() == self.limits.per_room
                && let Some(old) = ring.messages.pop_front()
            {
                let size = message_bytes(&old);
                ring.bytes -= size;
                rooms.bytes -= size;
            }
            let size = message_bytes(&message);
            ring.bytes += size;
            rooms.bytes += size;
            ring.messages.push_back(message.clone());
            rooms.evict(&self.limits, room, now);
            message
        });
        Box::pin(std::future::ready(result))
    }

    fn set_occupied(&self, room: &str, occupied: bool) {
        if let Ok(mut rooms) = self.lock() {
            if occupied {
                rooms.occupied.insert(room.to_owned());
            } else {
                rooms.occupied.remove(room);
            }
        }
    }

    fn query<'a>(
        &'a self,
        room: &'a str,
        query: HistoryQuery,
    ) -> BoxFuture<'a, Result<HistoryPage, StoreError>> {
        let result = self.lock().map(|mut rooms| match rooms.lru.get_mut(room) {
            Some((ring, used)) => {
                *used = Instant::now();
                select(ring.messages.iter(), query)
            }
            None => HistoryPage {
                messages: Vec::new(),
                has_more: false,
            },
        });
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: "guest:ada".into(),
            name: "Ada".into(),
        }
    }

    fn limits(per_room: usize) -> HistoryLimits {
        HistoryLimits {
            per_room,
            max_bytes: usize::MAX,
            max_rooms: usize::MAX,
            ttl: None,
        }
    }

    async fn filled(capacity: usize, count: usize) -> MemoryHistory {
        let store = MemoryHistory::new(limits(capacity));
        for i in 1..=count {
            store
                .append("r", user(), format!("m{i}"))
                .await
                .expect("append");
        }
        store
    }

    fn ids(page: &HistoryPage) -> Vec<u64> {
        page.messages.iter().map(|m| m.id).collect()
    }

    #[tokio::test]
    async fn ids_are_monotonic_per_room_and_the_ring_is_bounded() {
        let store = filled(3, 5).await;
        let other = store
            .append("other", user(), "x".into())
            .await
            .expect("append");
        assert_eq!(other.id, 1, "ids are per room");
        let page = store
            .query(
                "r",
                HistoryQuery {
                    before: None,
                    after: None,
                    limit: 10,
                },
            )
            .await
            .expect("query");
        assert_eq!(ids(&page), vec![3, 4, 5]);
        assert!(!page.has_more);
    }

    #[tokio::test]
    async fn after_reads_forward_and_before_reads_back() {
        let store = filled(100, 10).await;
        let q = |before, after, limit| HistoryQuery {
            before,
            after,
            limit,
        };
        let page = store.query("r", q(None, Some(7), 10)).await.expect("query");
        assert_eq!(ids(&page), vec![8, 9, 10]);
        let page = store.query("r", q(None, Some(2), 3)).await.expect("query");
        assert_eq!(ids(&page), vec![3, 4, 5]);
        assert!(page.has_more);
        let page = store.query("r", q(Some(6), None, 2)).await.expect("query");
        assert_eq!(ids(&page), vec![4, 5]);
        assert!(page.has_more);
        let page = store
            .query("r", q(Some(6), Some(3), 10))
            .await
            .expect("query");
        assert_eq!(ids(&page), vec![4, 5]);
        let page = store.query("nope", q(None, None, 10)).await.expect("query");
        assert!(page.messages.is_empty());
    }

    async fn room_ids(store: &MemoryHistory, room: &str) -> Vec<u64> {
        let query = HistoryQuery {
            before: None,
            after: None,
            limit: 1000,
        };
        ids(&store.query(room, query).await.expect("query"))
    }

    #[tokio::test]
    async fn the_least_recently_used_rooms_go_first_past_the_room_cap() {
        let store = MemoryHistory::new(HistoryLimits {
            max_rooms: 3,
            ..limits(10)
        });
        for room in ["a", "b", "c"] {
            store
                .append(room, user(), "x".into())
                .await
                .expect("append");
        }
        // Reading "a" makes it recent: "b" is now the least recently used.
        assert_eq!(room_ids(&store, "a").await, vec![1]);
        store.append("d", user(), "x".into()).await.expect("append");
        assert_eq!(store.usage().expect("usage").0, 3);
        assert!(room_ids(&store, "b").await.is_empty(), "b was forgotten");
        assert_eq!(room_ids(&store, "a").await, vec![1]);
        assert_eq!(room_ids(&store, "c").await, vec![1]);
        // A forgotten room starts again at 1, like after a restart.
        let again = store.append("b", user(), "x".into()).await.expect("append");
        assert_eq!(again.id, 1);
    }

    #[tokio::test]
    async fn the_byte_cap_holds_and_frees_what_it_forgets() {
        let text = "é".repeat(4000);
        let one = message_bytes(&ChatMessage {
            id: 1,
            room: "r000".into(),
            from: user(),
            text: text.clone(),
            ts: 0,
        });
        let store = MemoryHistory::new(HistoryLimits {
            max_bytes: one * 10,
            ..limits(5)
        });
        for i in 0..200 {
            let room = format!("r{:03}", i / 3);
            store
                .append(&room, user(), text.clone())
                .await
                .expect("append");
            let (_, bytes) = store.usage().expect("usage");
            assert!(bytes <= one * 10, "{bytes} bytes after message {i}");
        }
        let (rooms, bytes) = store.usage().expect("usage");
        assert!(rooms <= 4, "{rooms} rooms kept");
        assert!(bytes >= one * 8, "the cap is used, not emptied: {bytes}");
        assert_eq!(
            room_ids(&store, "r066").await,
            vec![1, 2],
            "the newest room is whole"
        );
        assert!(
            room_ids(&store, "r000").await.is_empty(),
            "the oldest room is gone"
        );
    }

    #[tokio::test]
    async fn a_room_alone_over_the_byte_cap_loses_its_oldest_messages() {
        let text = "x".repeat(1000);
        let store = MemoryHistory::new(HistoryLimits {
            max_bytes: 3500,
            ..limits(100)
        });
        for _ in 0..10 {
            store
                .append("big", user(), text.clone())
                .await
                .expect("append");
        }
        let kept = room_ids(&store, "big").await;
        assert_eq!(kept.last(), Some(&10), "the newest is kept");
        assert!(kept.len() == 3 || kept.len() == 2, "{kept:?}");
        assert!(store.usage().expect("usage").1 <= 3500);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_rooms_expire_when_the_store_is_next_written() {
        let store = MemoryHistory::new(HistoryLimits {
            ttl: Some(Duration::from_secs(60)),
            ..limits(10)
        });
        store
            .append("old", user(), "x".into())
            .await
            .expect("append");
        tokio::time::advance(Duration::from_secs(30)).await;
        store
            .append("recent", user(), "x".into())
            .await
            .expect("append");
        tokio::time::advance(Duration::from_secs(31)).await;
        store
            .append("new", user(), "x".into())
            .await
            .expect("append");
        assert!(room_ids(&store, "old").await.is_empty(), "idle for 61 s");
        assert_eq!(room_ids(&store, "recent").await, vec![1], "idle for 31 s");
        assert_eq!(store.usage().expect("usage").0, 2);
    }

    #[tokio::test]
    async fn rooms_people_are_in_go_after_the_empty_ones() {
        let store = MemoryHistory::new(HistoryLimits {
            max_rooms: 3,
            ..limits(10)
        });
        store
            .append("busy", user(), "x".into())
            .await
            .expect("append");
        store.set_occupied("busy", true);
        for room in ["a", "b", "c", "d"] {
            store
                .append(room, user(), "x".into())
                .await
                .expect("append");
        }
        assert_eq!(
            room_ids(&store, "busy").await,
            vec![1],
            "kept though least recently used"
        );
        assert!(room_ids(&store, "a").await.is_empty());
        assert!(room_ids(&store, "b").await.is_empty());
        // When only occupied rooms are left to forget, they go too.
        store.set_occupied("c", true);
        store.set_occupied("d", true);
        store.append("e", user(), "x".into()).await.expect("append");
        assert_eq!(store.usage().expect("usage").0, 3);
        store.set_occupied("busy", false);
        store.append("f", user(), "x".into()).await.expect("append");
        assert!(
            room_ids(&store, "busy").await.is_empty(),
            "empty again: first to go"
        );
    }
}
