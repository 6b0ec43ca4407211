//! Notifications from backends to `/notifications` subscribers: the one delivery path.
//!
//! The publish API (`POST /api/v1/notify`), the Flask bridge (emits of
//! `notification` to `user:<id>` / `topic:<name>` rooms of `/notifications`)
//! and the Django bridge all deliver through [`Notifier::deliver`]: the
//! notification is appended to each of its streams' history ([`history`]),
//! which gives it its positions, then handed to every node's [`hub::Hub`]
//! (directly here, through Redis pub/sub elsewhere: [`fanout`]), which
//! delivers it to sockets and SSE streams and keeps the catch-up seam.

pub mod fanout;
pub mod history;
pub mod hub;
pub mod redis_history;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::clock::now_ms;
use crate::protocol::notifications::{Notification, topic_room, user_room};
use crate::socket::NodeAdapter;
use fanout::Fanout;
use hub::{Hub, Published};

/// Who a notification is for: these users, the subscribers of a topic, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    /// User ids; every socket of each gets it.
    pub users: Vec<String>,
    /// Topic; every subscriber gets it.
    pub topic: Option<String>,
}

/// What a backend publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// Short title.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Free-form data.
    pub data: serde_json::Value,
}

/// Delivery failed (e.g. the history store is unreachable).
#[derive(Debug, thiserror::Error)]
#[error("cannot deliver notification: {0}")]
pub struct DeliveryError(String);

/// Sends notifications to `/notifications` subscribers, through history.
#[derive(Clone)]
pub struct Notifier<A: NodeAdapter> {
    hub: Arc<Hub<A>>,
    fanout: Option<Arc<Fanout>>,
    node: Arc<str>,
    sequence: Arc<AtomicU64>,
    occurrences: Arc<Occurrences>,
}

/// The users of an audience (sorted, once each) and its streams in append
/// order: users' first, the topic's last (catch-up reads them the other way round).
fn streams_of(audience: &Audience) -> (Vec<String>, Vec<String>) {
    let mut users = audience.users.clone();
    users.sort();
    users.dedup();
    let mut streams: Vec<String> = users.iter().map(|u| user_room(u)).collect();
    streams.extend(audience.topic.as_deref().map(topic_room));
    (users, streams)
}

/// How many times this node has seen each message content lately.
struct Occurrences(std::sync::Mutex<lru::LruCache<String, (u64, std::time::Instant)>>);

impl Occurrences {
    /// A count is forgotten after this long without the content (claims live 60 s).
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(50);

    fn new() -> Self {
        let size = std::num::NonZeroUsize::new(100_000).unwrap_or(std::num::NonZeroUsize::MIN);
        Self(std::sync::Mutex::new(lru::LruCache::new(size)))
    }

    fn count(&self, digest: &str) -> u64 {
        let Ok(mut seen) = self.0.lock() else {
            return 1;
        };
        let now = std::time::Instant::now();
        let entry = seen.get_or_insert_mut(digest.to_owned(), || (0, now));
        if now.duration_since(entry.1) >= Self::WINDOW {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = now;
        entry.0
    }
}

impl<A: NodeAdapter> Notifier<A> {
    /// A notifier delivering through `hub` (and, clustered, `fanout` to the
    /// other nodes); `node` makes ids unique across nodes.
    pub fn new(hub: Arc<Hub<A>>, fanout: Option<Arc<Fanout>>, node: &str) -> Self {
        Self {
            hub,
            fanout,
            node: node.into(),
            sequence: Arc::new(AtomicU64::new(0)),
            occurrences: Arc::new(Occurrences::new()),
        }
    }

    /// A notification from a message every node of the cluster received in
    /// the same order (a bridge's queue): appended once, cluster-wide (the
    /// first node to append a stream's copy wins, the others read its
    /// position and copy), and delivered by each node to its own subscribers,
    /// so each node delivers the queue's notifications in queue order.
    /// `message` identifies the message's content; the n-th message with the
    /// same content is told apart by counting.
    pub async fn deliver_once(
        &self,
        message: &[u8],
        audience: &Audience,
        draft: Draft,
    ) -> Result<Notification, DeliveryError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, message);
        let digest: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let occurrence = self.occurrences.count(&digest);
        let claim = format!("{digest}:{occurrence}");
        let draft_notification = Notification {
            id: format!("q{digest}-{occurrence}"),
            topic: audience.topic.clone(),
            title: draft.title,
            body: draft.body,
            data: draft.data,
            ts: now_ms(),
            positions: Default::default(),
        };
        let (users, streams) = streams_of(audience);
        let mut notification: Option<Notification> = None;
        let mut positions = crate::protocol::notifications::Cursor::new();
        for stream in &streams {
            let (position, stored) = self
                .hub
                .history()
                .append_once(stream, &claim, &draft_notification)
                .await
                .map_err(|e| DeliveryError(e.to_string()))?;
            positions.insert(stream.clone(), position);
            notification.get_or_insert(stored);
        }
        let Some(mut notification) = notification else {
            return Ok(draft_notification);
        };
        notification.positions = positions;
        let published = Published {
            notification: notification.clone(),
            users,
        };
        self.hub.deliver(&published).await;
        Ok(notification)
    }

    /// Appends one notification to its streams and delivers it to its
    /// audience (each subscriber once); returns it with its positions.
    pub async fn deliver(
        &self,
        audience: &Audience,
        draft: Draft,
    ) -> Result<Notification, DeliveryError> {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let mut notification = Notification {
            id: format!("{}-{n}", self.node),
            topic: audience.topic.clone(),
            title: draft.title,
            body: draft.body,
            data: draft.data,
            ts: now_ms(),
            positions: Default::default(),
        };
        let (users, streams) = streams_of(audience);
        let history = self.hub.history();
        // Stored without positions: a reader sees only its own streams' ones.
        let stored = notification.clone();
        for stream in &streams {
            let position = history
                .append(stream, &stored)
                .await
                .map_err(|e| DeliveryError(e.to_string()))?;
            notification.positions.insert(stream.clone(), position);
        }
        if streams.is_empty() {
            return Ok(notification);
        }
        let published = Published {
            notification: notification.clone(),
            users,
        };
        self.hub.deliver(&published).await;
        if let Some(fanout) = &self.fanout {
            fanout
                .publish(&published)
                .await
                .map_err(|e| DeliveryError(e.to_string()))?;
        }
        Ok(notification)
    }
}
