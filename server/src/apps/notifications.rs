//! The built-in `/notifications` namespace: who hears which notifications.
//!
//! Each socket joins `user:{id}` for its user and `topic:{name}` for each
//! topic it subscribes to (names in [`crate::protocol::notifications`]).
//! Backends publish through [`crate::backends::notifier`], the one delivery path.

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::socket::DisconnectReason;

use crate::config::NotificationsConfig;
use crate::protocol::notifications::{NAMESPACE, TopicRequest, TopicsReply, topic_room, user_room};
use crate::protocol::{ErrorCode, Refusal, parse_payload, validate_room};
use crate::socket::connect::user_of;
use crate::socket::guard;
use crate::socket::rooms::{self, own_rooms};
use crate::socket::{NodeAdapter, lifecycle, send_reply};
use std::convert::Infallible;

/// Registers `/notifications`.
pub fn register<A: NodeAdapter>(io: &SocketIo<A>, config: Arc<NotificationsConfig>) {
    let setup = async move |socket: SocketRef<A>| -> Result<(), Infallible> {
        on_connect(socket, config.clone());
        Ok(())
    };
    crate::socket::connect::serve_users(io, NAMESPACE, setup);
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

fn validate_topic(topic: &str) -> Result<(), Refusal> {
    validate_room(topic)
        .map_err(|e| Refusal::new(ErrorCode::InvalidTopic, e.message.replace("room", "topic")))
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
) -> Result<TopicsReply, Refusal> {
    validate_topic(topic)?;
    if !config.allows_topic(topic) {
        return Err(Refusal::new(
            ErrorCode::InvalidTopic,
            format!("topic {topic:?} is not open to subscriptions"),
        ));
    }
    rooms::admit_one_more(
        &topics_of(socket).topics,
        topic,
        config.max_topics_per_socket,
        "topics",
    )?;
    socket.join(topic_room(topic));
    Ok(topics_of(socket))
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
