//! The built-in `/notifications` namespace and the one path that delivers to it.
//!
//! Each socket joins `user:{id}` for its user and `topic:{name}` for each
//! topic it subscribes to. The publish API and the Flask bridge both deliver
//! through [`Notifier::deliver`], so there is one delivery path to test.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide_core::adapter::Spawnable;

use crate::apps::chat::history::now_ms;
use crate::apps::relay::own_rooms;
use crate::backends::delivery;
use crate::config::NotificationsConfig;
use crate::protocol::notifications::{Notification, TopicRequest, TopicsReply};
use crate::protocol::{ErrorCode, EventError, parse_payload, validate_room};
use crate::socket::connect::user_of;
use crate::socket::guard;
use crate::socket::{NodeAdapter, connected, lifecycle, send_reply};
use std::convert::Infallible;

/// Path of the namespace.
pub const NAMESPACE: &str = "/notifications";

/// Room of all sockets of one user.
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Room of the subscribers of one topic.
pub fn topic_room(topic: &str) -> String {
    format!("topic:{topic}")
}

/// Registers `/notifications`.
pub fn register<A: NodeAdapter>(io: &SocketIo<A>, config: Arc<NotificationsConfig>) {
    let setup = async move |socket: SocketRef<A>| -> Result<(), Infallible> {
        on_connect(socket, config.clone());
        Ok(())
    };
    io.ns(
        NAMESPACE,
        connected
            .with(setup)
            .with(crate::socket::connect::identify::<A>),
    )
    .spawn();
}

fn on_connect<A: NodeAdapter>(socket: SocketRef<A>, config: Arc<NotificationsConfig>) {
    lifecycle::on_connected(&socket);
    let Some(user) = user_of(&socket) else {
        tracing::error!(sid = %socket.id, "notifications socket without identity");
        let _ = socket.disconnect();
        return;
    };
    socket.join(user_room(&user.id));
    socket.on_disconnect(async |s: SocketRef<A>, reason: DisconnectReason| {
        lifecycle::on_disconnect(s, reason);
    });
    guard::on(
        &socket,
        "subscribe",
        async move |s: SocketRef<A>, TryData(req): TryData<TopicRequest>, ack: AckSender<A>| {
            let result = parse_payload(req).and_then(|r| subscribe(&s, &config, &r.topic));
            send_reply(ack, result);
        },
    );
    guard::on(
        &socket,
        "unsubscribe",
        async |s: SocketRef<A>, TryData(req): TryData<TopicRequest>, ack: AckSender<A>| {
            let result = parse_payload(req).and_then(|r| {
                validate_topic(&r.topic)?;
                s.leave(topic_room(&r.topic));
                Ok(topics_of(&s))
            });
            send_reply(ack, result);
        },
    );
}

fn validate_topic(topic: &str) -> Result<(), EventError> {
    validate_room(topic)
        .map_err(|e| EventError::new(ErrorCode::InvalidTopic, e.message.replace("room", "topic")))
}

fn topics_of<A: NodeAdapter>(socket: &SocketRef<A>) -> TopicsReply {
    TopicsReply {
        topics: own_rooms(socket)
            .into_iter()
            .filter_map(|r| r.strip_prefix("topic:").map(str::to_owned))
            .collect(),
    }
}

fn subscribe<A: NodeAdapter>(
    socket: &SocketRef<A>,
    config: &NotificationsConfig,
    topic: &str,
) -> Result<TopicsReply, EventError> {
    validate_topic(topic)?;
    if !config.allows_topic(topic) {
        return Err(EventError::new(
            ErrorCode::InvalidTopic,
            format!("topic {topic:?} is not open to subscriptions"),
        ));
    }
    let current = topics_of(socket).topics;
    if !current.iter().any(|t| t == topic) && current.len() >= config.max_topics_per_socket {
        return Err(EventError::new(
            ErrorCode::TooManyRooms,
            format!(
                "a socket may subscribe to {} topics at most",
                config.max_topics_per_socket
            ),
        ));
    }
    socket.join(topic_room(topic));
    Ok(topics_of(socket))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(patterns: &[&str]) -> NotificationsConfig {
        NotificationsConfig {
            notify_topics: patterns.iter().map(|p| (*p).to_owned()).collect(),
            max_topics_per_socket: 5,
        }
    }

    #[test]
    fn topic_patterns() {
        assert!(config(&["*"]).allows_topic("anything"));
        let c = config(&["news.*", "alerts"]);
        assert!(c.allows_topic("news.sport"));
        assert!(c.allows_topic("alerts"));
        assert!(!c.allows_topic("alerts2"));
        assert!(!c.allows_topic("weather"));
    }
}
