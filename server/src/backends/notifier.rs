//! Notifications from backends to `/notifications` sockets: the one delivery path.
//!
//! The publish API (`POST /api/v1/notify`) and the Flask bridge (emits to
//! `user:<id>` rooms of `/notifications`) both deliver through
//! [`Notifier::deliver`], so there is one path to test and to extend.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use socketioxide::SocketIo;

use crate::backends::delivery;
use crate::protocol::clock::now_ms;
use crate::protocol::notifications::{NAMESPACE, Notification, topic_room, user_room};
use crate::socket::NodeAdapter;

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

/// Delivery failed in the adapter (e.g. the Redis link is down).
#[derive(Debug, thiserror::Error)]
#[error("cannot deliver notification: {0}")]
pub struct DeliveryError(String);

/// Sends notifications to `/notifications` sockets.
#[derive(Clone)]
pub struct Notifier<A: NodeAdapter> {
    io: SocketIo<A>,
    node: Arc<str>,
    sequence: Arc<AtomicU64>,
}

impl<A: NodeAdapter> Notifier<A> {
    /// A notifier on `io`; `node` makes ids unique across nodes.
    pub fn new(io: SocketIo<A>, node: &str) -> Self {
        Self {
            io,
            node: node.into(),
            sequence: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Delivers one notification to its audience (each socket once) and returns it.
    pub async fn deliver(
        &self,
        audience: &Audience,
        draft: Draft,
    ) -> Result<Notification, DeliveryError> {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let notification = Notification {
            id: format!("{}-{n}", self.node),
            topic: audience.topic.clone(),
            title: draft.title,
            body: draft.body,
            data: draft.data,
            ts: now_ms(),
        };
        let mut rooms: Vec<String> = audience.users.iter().map(|u| user_room(u)).collect();
        rooms.extend(audience.topic.as_deref().map(topic_room));
        if rooms.is_empty() {
            return Ok(notification);
        }
        let ns = self.io.of(NAMESPACE).ok_or_else(|| {
            DeliveryError("the /notifications namespace is not served".to_owned())
        })?;
        delivery::emit(ns.to(rooms), "notification", &notification)
            .await
            .map_err(|e| DeliveryError(e.to_string()))?;
        Ok(notification)
    }
}
