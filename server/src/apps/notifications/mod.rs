//! The built-in `/notifications` namespace: who hears which notifications,
//! and how a client that was away gets what it missed.
//!
//! Each socket joins `user:{id}` for its user and `topic:{name}` for each
//! topic it subscribes to (names in [`crate::protocol::notifications`]).
//! Backends publish through [`crate::backends::notifier`], the one delivery
//! path; its hub makes a socket live on a stream only through a catch-up, so
//! the seam between history and live delivery holds everywhere: at connect
//! (`auth.since`, `auth.topics`), on `catch_up {since}` and on
//! `subscribe {topic, since}`. The same notifications also go out as
//! Server-Sent Events ([`sse`]).

pub mod sse;

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::socket::DisconnectReason;

use crate::backends::notifier::hub::{Hub, Sink};
use crate::config::NotificationsConfig;
use crate::protocol::notifications::{
    CatchUpRequest, Cursor, NAMESPACE, ResumeAuth, TopicRequest, TopicsReply, socket_room,
    topic_room, user_room,
};
use crate::protocol::{ErrorCode, Refusal, parse_payload, validate_room};
use crate::socket::connect::user_of;
use crate::socket::guard;
use crate::socket::rooms::{self, own_rooms};
use crate::socket::{NodeAdapter, lifecycle, send_reply};

/// What the namespace's handlers share.
pub struct Notifications<A: NodeAdapter> {
    /// Its settings.
    pub config: NotificationsConfig,
    /// This node's subscribers and the history they catch up from.
    pub hub: Arc<Hub<A>>,
}

/// Registers `/notifications`.
pub fn register<A: NodeAdapter>(io: &SocketIo<A>, app: Arc<Notifications<A>>) {
    let setup_app = app.clone();
    let setup = async move |socket: SocketRef<A>,
                            TryData(auth): TryData<ResumeAuth>|
                -> Result<(), Refusal> {
        let resume = auth.map_err(|e| {
            Refusal::new(
                ErrorCode::BadRequest,
                format!(
                    "auth.since must map streams to positions and auth.topics list topics: {e}"
                ),
            )
        })?;
        if resume.topics.len() > setup_app.config.max_topics_per_socket {
            return Err(Refusal::new(
                ErrorCode::TooManyRooms,
                format!(
                    "at most {} topics per socket",
                    setup_app.config.max_topics_per_socket
                ),
            ));
        }
        for topic in &resume.topics {
            allowed_topic(&setup_app.config, topic)?;
        }
        on_connect(socket, setup_app.clone(), resume);
        Ok(())
    };
    let then = async move |socket: SocketRef<A>| {
        catch_up_at_connect(socket, app.clone()).await;
    };
    crate::socket::connect::serve_users_then(io, NAMESPACE, setup, then);
}

fn on_connect<A: NodeAdapter>(
    socket: SocketRef<A>,
    app: Arc<Notifications<A>>,
    resume: ResumeAuth,
) {
    lifecycle::on_connected(&socket);
    // A room of its own, so a broadcast can leave it out while it catches up.
    socket.join(socket_room(&socket.id.to_string()));
    socket.extensions.insert(Arc::new(resume));
    let hub = app.hub.clone();
    socket.on_disconnect(async move |s: SocketRef<A>, reason: DisconnectReason| {
        hub.forget_socket(s.id).await;
        lifecycle::on_disconnect(s, reason);
    });
    let on_subscribe = app.clone();
    guard::on(
        &socket,
        "subscribe",
        async move |s: SocketRef<A>, TryData(req): TryData<TopicRequest>, ack: AckSender<A>| {
            let result = match parse_payload(req) {
                Ok(r) => subscribe(&s, &on_subscribe, &r).await,
                Err(e) => Err(e),
            };
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
    guard::on(
        &socket,
        "catch_up",
        async move |s: SocketRef<A>, TryData(req): TryData<CatchUpRequest>, ack: AckSender<A>| {
            let result = match parse_payload(req) {
                Ok(r) => catch_up(&s, &app, &r.since).await,
                Err(e) => Err(e),
            };
            send_reply(ack, result);
        },
    );
}

/// After the CONNECT: the socket's streams from its `auth` (its user's, and
/// the topics it named), caught up from `auth.since`; then `caught_up`.
async fn catch_up_at_connect<A: NodeAdapter>(socket: SocketRef<A>, app: Arc<Notifications<A>>) {
    let Some(user) = user_of(&socket) else {
        tracing::error!(sid = %socket.id, "notifications socket without identity");
        let _ = socket.disconnect();
        return;
    };
    let resume = socket
        .extensions
        .get::<Arc<ResumeAuth>>()
        .unwrap_or_default();
    let since = resume.since.clone();
    let mut streams = vec![user_room(&user.id)];
    streams.extend(resume.topics.iter().map(|t| topic_room(t)));
    streams.dedup();
    let wanted: Vec<(String, Option<u64>)> = streams
        .into_iter()
        .map(|s| {
            let position = since.as_ref().map(|c| c.get(&s).copied().unwrap_or(0));
            (s, position)
        })
        .collect();
    let reply = app
        .hub
        .catch_up(&Sink::Socket(socket.clone()), &user.id, &wanted)
        .await;
    if let Err(e) = socket.emit("caught_up", &reply) {
        tracing::debug!(error = %e, "cannot send caught_up");
    }
}

/// `catch_up {since}`: the socket's streams (its user's, its topics) from `since`.
async fn catch_up<A: NodeAdapter>(
    socket: &SocketRef<A>,
    app: &Notifications<A>,
    since: &Cursor,
) -> Result<crate::protocol::notifications::CatchUpReply, Refusal> {
    let user = user_of(socket).ok_or_else(|| Refusal::new(ErrorCode::Internal, "no identity"))?;
    let mut streams = vec![user_room(&user.id)];
    streams.extend(
        own_rooms(socket)
            .into_iter()
            .filter(|r| r.starts_with("topic:")),
    );
    let wanted: Vec<(String, Option<u64>)> = streams
        .into_iter()
        .map(|s| {
            let position = since.get(&s).copied();
            (s, position)
        })
        .collect();
    Ok(app
        .hub
        .catch_up(&Sink::Socket(socket.clone()), &user.id, &wanted)
        .await)
}

fn validate_topic(topic: &str) -> Result<(), Refusal> {
    validate_room(topic)
        .map_err(|e| Refusal::new(ErrorCode::InvalidTopic, e.message.replace("room", "topic")))
}

/// Checks that clients may subscribe to `topic` (its name, `--notify-topics`).
pub fn allowed_topic(config: &NotificationsConfig, topic: &str) -> Result<(), Refusal> {
    validate_topic(topic)?;
    if !config.allows_topic(topic) {
        return Err(Refusal::new(
            ErrorCode::InvalidTopic,
            format!("topic {topic:?} is not open to subscriptions"),
        ));
    }
    Ok(())
}

fn topics_of<A: NodeAdapter>(socket: &SocketRef<A>) -> TopicsReply {
    TopicsReply {
        topics: own_rooms(socket)
            .into_iter()
            .filter_map(|r| r.strip_prefix("topic:").map(str::to_owned))
            .collect(),
        positions: None,
        recovered: None,
    }
}

async fn subscribe<A: NodeAdapter>(
    socket: &SocketRef<A>,
    app: &Notifications<A>,
    req: &TopicRequest,
) -> Result<TopicsReply, Refusal> {
    allowed_topic(&app.config, &req.topic)?;
    rooms::admit_one_more(
        &topics_of(socket).topics,
        &req.topic,
        app.config.max_topics_per_socket,
        "topics",
    )?;
    let user = user_of(socket).ok_or_else(|| Refusal::new(ErrorCode::Internal, "no identity"))?;
    let stream = topic_room(&req.topic);
    let reply = app
        .hub
        .catch_up(
            &Sink::Socket(socket.clone()),
            &user.id,
            &[(stream, req.since)],
        )
        .await;
    let mut topics = topics_of(socket);
    topics.positions = Some(reply.positions);
    topics.recovered = req.since.map(|_| reply.recovered);
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(patterns: &[&str]) -> NotificationsConfig {
        NotificationsConfig {
            notify_topics: patterns.iter().map(|p| (*p).to_owned()).collect(),
            max_topics_per_socket: 5,
            notify_history_size: 10,
            notify_history_ttl_secs: 0,
            notify_history_max_streams: 10,
            notify_history_max_bytes: 1 << 20,
            sse_heartbeat_secs: 15,
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
        assert!(allowed_topic(&c, "weather").is_err());
        assert!(allowed_topic(&c, "alerts").is_ok());
    }
}
