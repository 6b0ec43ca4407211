//! The `presence` feed: a room's membership changes, batched and sent as changes.
//!
//! Sending every member the whole member list on every join made a join storm
//! cost O(N³) bytes. Here each node collects its own changes per room for
//! `--presence-interval-ms` and then sends one event with who joined and who
//! left, so a storm of N joins costs each member O(N) bytes. Big rooms get
//! counts only.
//!
//! A batch names each user whose presence changed in its window once, by
//! their state in the store when it is sent: `joined` if they are in the room
//! then, `left` if not. So a join and a leave of one user within a window
//! never both appear, and every client converges whatever it saw before:
//! simply dropping such a pair would leave a member for ever in the list of a
//! client whose `join` reply was taken between the two. A change overtaken by
//! a later one on another node is reported as that node's batch says, and the
//! count is the room's size when the batch is sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::apps::chat::presence::PresenceStore;
use crate::protocol::chat::PresenceEvent;
use crate::protocol::user::User;

/// Where batched events go: a broadcast to the room (the tests collect them).
pub type Sink = Arc<dyn Fn(PresenceEvent) -> BoxFuture<'static, ()> + Send + Sync>;

/// Collects presence changes per room and sends them in batches.
pub struct PresenceFeed {
    interval: Duration,
    max_listed: usize,
    store: Arc<dyn PresenceStore>,
    sink: Sink,
    // Rooms with a flush scheduled, and the users whose presence changed, by id.
    // A std mutex: held for a map update, never across an await.
    pending: Mutex<HashMap<String, HashMap<String, User>>>,
}

impl PresenceFeed {
    /// A feed that sends a room's changes `interval` after the first one
    /// (at once when zero), lists users in rooms of at most `max_listed`, and
    /// hands events to `sink`.
    pub fn new(
        interval: Duration,
        max_listed: usize,
        store: Arc<dyn PresenceStore>,
        sink: Sink,
    ) -> Arc<Self> {
        Arc::new(Self {
            interval,
            max_listed,
            store,
            sink,
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Notes that `user` came into or went out of `room` (their first tab
    /// joined or their last left), for the room's next batch.
    pub async fn record(self: &Arc<Self>, room: &str, user: &User) {
        let first = {
            let Ok(mut pending) = self.pending.lock() else {
                tracing::error!("presence feed lock poisoned");
                return;
            };
            let first = !pending.contains_key(room);
            pending
                .entry(room.to_owned())
                .or_default()
                .insert(user.id.clone(), user.clone());
            first
        };
        if self.interval.is_zero() {
            self.flush(room).await;
        } else if first {
            let feed = self.clone();
            let room = room.to_owned();
            tokio::spawn(async move {
                tokio::time::sleep(feed.interval).await;
                feed.flush(&room).await;
            });
        }
    }

    /// Sends what `room` has pending, as true as the store says it is now.
    async fn flush(&self, room: &str) {
        let changes = match self.pending.lock() {
            Ok(mut pending) => pending.remove(room).unwrap_or_default(),
            Err(_) => return,
        };
        if changes.is_empty() {
            return;
        }
        let mut changes: Vec<(String, User)> = changes.into_iter().collect();
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        let ids: Vec<String> = changes.iter().map(|(id, _)| id.clone()).collect();
        let (count, here) = match self.store.present(room, &ids).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(room, error = %e, "cannot read presence; this batch is dropped");
                return;
            }
        };
        let mut event = PresenceEvent {
            room: room.to_owned(),
            joined: Vec::new(),
            left: Vec::new(),
            count,
        };
        if count <= self.max_listed {
            for ((_, user), here) in changes.into_iter().zip(here) {
                if here {
                    event.joined.push(user);
                } else {
                    event.left.push(user);
                }
            }
        }
        (self.sink)(event).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::chat::presence::MemoryPresence;
    use tokio::sync::mpsc;

    fn user(i: usize) -> User {
        User {
            id: format!("guest:u{i:04}"),
            name: format!("u{i:04}"),
        }
    }

    fn feed(
        interval_ms: u64,
        max_listed: usize,
    ) -> (
        Arc<PresenceFeed>,
        Arc<MemoryPresence>,
        mpsc::UnboundedReceiver<PresenceEvent>,
    ) {
        let store = Arc::new(MemoryPresence::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let sink: Sink = Arc::new(move |event| {
            let _ = tx.send(event);
            Box::pin(std::future::ready(()))
        });
        let feed = PresenceFeed::new(
            Duration::from_millis(interval_ms),
            max_listed,
            store.clone(),
            sink,
        );
        (feed, store, rx)
    }

    async fn join(feed: &Arc<PresenceFeed>, store: &MemoryPresence, i: usize) {
        let u = user(i);
        let joined = store.join("r", &format!("s{i}"), &u).await.expect("join");
        if joined.first_tab {
            feed.record("r", &u).await;
        }
    }

    async fn leave(feed: &Arc<PresenceFeed>, store: &MemoryPresence, i: usize) {
        let left = store.leave("r", &format!("s{i}")).await.expect("leave");
        if let Some(u) = left.last_tab {
            feed.record("r", &u).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_join_storm_becomes_one_event_per_window() {
        let (feed, store, mut rx) = feed(500, 1000);
        for i in 0..300 {
            join(&feed, &store, i).await;
        }
        tokio::time::sleep(Duration::from_millis(499)).await;
        assert!(rx.try_recv().is_err(), "nothing before the window ends");
        tokio::time::sleep(Duration::from_millis(2)).await;
        let event = rx.recv().await.expect("one batch");
        assert_eq!(event.count, 300);
        assert_eq!(event.joined, (0..300).map(user).collect::<Vec<_>>());
        assert!(event.left.is_empty());
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(rx.try_recv().is_err(), "exactly one event for the storm");

        // The next window starts with the next change.
        join(&feed, &store, 300).await;
        leave(&feed, &store, 0).await;
        tokio::time::sleep(Duration::from_millis(501)).await;
        let event = rx.recv().await.expect("second batch");
        assert_eq!(event.joined, vec![user(300)]);
        assert_eq!(event.left, vec![user(0)]);
        assert_eq!(event.count, 300);
    }

    #[tokio::test(start_paused = true)]
    async fn a_join_and_a_leave_within_a_window_are_one_entry_the_final_state() {
        let (feed, store, mut rx) = feed(500, 1000);
        join(&feed, &store, 1).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(rx.recv().await.expect("join").joined, vec![user(1)]);

        // Comes and goes within the window: gone, once. A client whose join
        // reply was taken in between listed them, and must drop them.
        join(&feed, &store, 2).await;
        leave(&feed, &store, 2).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let event = rx.recv().await.expect("batch");
        assert_eq!(
            (event.joined, event.left, event.count),
            (vec![], vec![user(2)], 1)
        );

        // Goes and comes back (a reload): here, once.
        leave(&feed, &store, 1).await;
        join(&feed, &store, 1).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let event = rx.recv().await.expect("batch");
        assert_eq!(
            (event.joined, event.left, event.count),
            (vec![user(1)], vec![], 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn batches_are_checked_against_the_store() {
        let (feed, store, mut rx) = feed(500, 1000);
        // Joined per this node's batch, but gone by the time it is sent (another
        // node's leave, say, that did not pass through this feed).
        join(&feed, &store, 1).await;
        join(&feed, &store, 2).await;
        store.leave("r", "s1").await.expect("leave");
        tokio::time::sleep(Duration::from_millis(600)).await;
        let event = rx.recv().await.expect("batch");
        assert_eq!(
            event.joined,
            vec![user(2)],
            "Ada is gone: not reported as here"
        );
        assert_eq!(event.count, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn big_rooms_get_counts_only() {
        let (feed, store, mut rx) = feed(500, 10);
        for i in 0..10 {
            join(&feed, &store, i).await;
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(rx.recv().await.expect("batch").joined.len(), 10);
        join(&feed, &store, 10).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let event = rx.recv().await.expect("batch");
        assert_eq!(
            serde_json::to_value(&event).expect("json"),
            serde_json::json!({"room": "r", "count": 11})
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_interval_sends_each_change_at_once() {
        let (feed, store, mut rx) = feed(0, 1000);
        join(&feed, &store, 1).await;
        let event = rx.try_recv().expect("sent before record returned");
        assert_eq!(
            serde_json::to_value(&event).expect("json"),
            serde_json::json!({"room": "r", "joined": [{"id": "guest:u0001", "name": "u0001"}], "count": 1})
        );
        leave(&feed, &store, 1).await;
        assert_eq!(rx.try_recv().expect("leave").left, vec![user(1)]);
    }
}
