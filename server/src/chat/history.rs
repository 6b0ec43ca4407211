//! Room history: a bounded ring of messages per room with monotonic ids.
//!
//! Behind [`HistoryStore`] so the in-memory ring of a single node can be
//! replaced by a shared Redis store when several nodes serve one room.
//! Ids start at 1 per room and only grow, which is what lets a reconnecting
//! client ask for exactly what it missed (`after: last_seen_id`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use crate::events::chat::{ChatMessage, User};

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
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
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

#[derive(Default)]
struct Ring {
    last_id: u64,
    messages: VecDeque<ChatMessage>,
}

/// One node's history, in memory.
pub struct MemoryHistory {
    capacity: usize,
    // A std mutex: held for a push or a copy, never across an await.
    rooms: Mutex<HashMap<String, Ring>>,
}

impl MemoryHistory {
    /// A store that keeps the newest `capacity` messages of each room.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            rooms: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Ring>>, StoreError> {
        self.rooms
            .lock()
            .map_err(|_| StoreError("history lock poisoned".to_owned()))
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
            let ring = rooms.entry(room.to_owned()).or_default();
            ring.last_id += 1;
            let message = ChatMessage {
                id: ring.last_id,
                room: room.to_owned(),
                from,
                text,
                ts: now_ms(),
            };
            if ring.messages.len() == self.capacity {
                ring.messages.pop_front();
            }
            ring.messages.push_back(message.clone());
            message
        });
        Box::pin(std::future::ready(result))
    }

    fn query<'a>(
        &'a self,
        room: &'a str,
        query: HistoryQuery,
    ) -> BoxFuture<'a, Result<HistoryPage, StoreError>> {
        let result = self.lock().map(|rooms| match rooms.get(room) {
            Some(ring) => select(ring.messages.iter(), query),
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

    async fn filled(capacity: usize, count: usize) -> MemoryHistory {
        let store = MemoryHistory::new(capacity);
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
}
