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
        }
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
        let mut users = audience.users.clone();
        users.sort();
        users.dedup();
        // Users' streams first, the topic's last: catch-up reads them the other way round.
        let mut streams: Vec<String> = users.iter().map(|u| user_room(u)).collect();
        streams.extend(audience.topic.as_deref().map(topic_room));
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
