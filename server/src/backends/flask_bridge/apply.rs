//! Applying a queue message to this node's sockets through the [`Publisher`].
//!
//! Every node subscribes to the channel and receives every message, so each
//! applies it with [`Scope::Local`]: to its own sockets only. Together the
//! nodes then deliver each message exactly once, as python-socketio servers
//! sharing a queue do. Room and sid addressing relies on every socket being
//! in a room named by its sid (see `namespaces::lifecycle`).
//!
//! An emit of `notification {title, body, data}` to `user:<id>` / `topic:<name>`
//! rooms of `/notifications` is a notification: it goes through the one
//! notification path (history, catch-up, SSE), delivered by one node.

use rmpv::Value;

use crate::backends::notifier::{Audience, Draft};
use crate::backends::publisher::{
    EmitCommand, PublishError, Publisher, RoomMove, Scope, close_room,
};
use crate::protocol::binary_json::to_json_value;
use crate::protocol::event_args::EventArgs;
use crate::protocol::notifications::NAMESPACE as NOTIFICATIONS;

use super::message::{Emit, QueueMessage, Rejection};
use super::stats::RejectReason;

/// What applying a valid message came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acted on this node's sockets (possibly none of them matched).
    Applied,
    /// Nothing to do by design (`callback`, an empty room list).
    Ignored,
}

fn rejection(e: PublishError) -> Rejection {
    let reason = match e {
        PublishError::UnknownNamespace(_) => RejectReason::UnknownNamespace,
        PublishError::InvalidEvent(_) => RejectReason::InvalidEvent,
        PublishError::InvalidArgs(_) | PublishError::ConnectionRoom(_) => RejectReason::BadShape,
        PublishError::Delivery(_) => RejectReason::DeliveryFailed,
    };
    Rejection::new(reason, e.to_string())
}

/// Applies `message` to this node's sockets.
pub async fn apply(publisher: &dyn Publisher, message: QueueMessage) -> Result<Outcome, Rejection> {
    match message {
        QueueMessage::Emit(emit) if notification_of(&emit).is_some() => {
            let digest = format!("{emit:?}");
            if let Some((audience, draft)) = notification_of(&emit) {
                publisher
                    .notify_once(digest.as_bytes(), &audience, draft)
                    .await
                    .map_err(rejection)?;
            }
        }
        QueueMessage::Emit(emit) => {
            // python-socketio addresses nobody with an empty list (so does the
            // publisher); counted as ignored, since nothing is done.
            if emit.rooms.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Outcome::Ignored);
            }
            if emit.wants_callback {
                tracing::debug!(
                    event = emit.event,
                    "callbacks through the message queue are not supported; emitting without"
                );
            }
            let command = EmitCommand {
                namespace: emit.namespace,
                event: emit.event,
                args: EventArgs(emit.args),
                rooms: emit.rooms,
                except: emit.skip_sids,
                ack_timeout: None,
                scope: Scope::Local,
            };
            publisher.emit(command).await.map_err(rejection)?;
        }
        QueueMessage::EnterRoom(change) => publisher
            .move_rooms(
                &change.namespace,
                &change.sid,
                RoomMove::Join(vec![change.room]),
                Scope::Local,
            )
            .await
            .map_err(rejection)?,
        QueueMessage::LeaveRoom(change) => publisher
            .move_rooms(
                &change.namespace,
                &change.sid,
                RoomMove::Leave(vec![change.room]),
                Scope::Local,
            )
            .await
            .map_err(rejection)?,
        QueueMessage::CloseRoom { namespace, room } => {
            close_room(publisher, &namespace, &room, Scope::Local)
                .await
                .map_err(rejection)?;
        }
        QueueMessage::Disconnect { namespace, sid } => publisher
            .disconnect(&namespace, &sid, Scope::Local)
            .await
            .map_err(rejection)?,
        QueueMessage::Callback => return Ok(Outcome::Ignored),
    }
    Ok(Outcome::Applied)
}

/// The notification an emit stands for: `notification` with one object
/// argument, to `user:` rooms and at most one `topic:` room of `/notifications`.
fn notification_of(emit: &Emit) -> Option<(Audience, Draft)> {
    if emit.namespace != NOTIFICATIONS || emit.event != "notification" || !emit.skip_sids.is_empty()
    {
        return None;
    }
    let mut audience = Audience::default();
    for room in emit.rooms.as_ref()? {
        if let Some(user) = room.strip_prefix("user:") {
            audience.users.push(user.to_owned());
        } else if let Some(topic) = room.strip_prefix("topic:")
            && audience.topic.is_none()
        {
            audience.topic = Some(topic.to_owned());
        } else {
            return None;
        }
    }
    let [Value::Map(fields)] = emit.args.as_slice() else {
        return None;
    };
    let text = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let data = fields
        .iter()
        .find(|(k, _)| k.as_str() == Some("data"))
        .map_or(serde_json::Value::Null, |(_, v)| to_json_value(v.clone()));
    let draft = Draft {
        title: text("title"),
        body: text("body"),
        data,
    };
    Some((audience, draft))
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use futures_util::future::BoxFuture;
    use rmpv::Value;

    use super::*;
    use crate::backends::flask_bridge::message::{Emit, RoomChange};
    use crate::backends::notifier::{Audience, Draft};
    use crate::backends::publisher::SocketInfo;
    use crate::protocol::notifications::Notification;

    /// Records every call; fails for the namespace `/gone`.
    #[derive(Default)]
    pub(in crate::backends::flask_bridge) struct Recorder {
        calls: Mutex<Vec<String>>,
        emits: Mutex<Vec<EmitCommand>>,
        /// What `rooms_of` answers, by socket id.
        pub rooms: HashMap<String, Vec<String>>,
    }

    impl Recorder {
        /// Every call so far, in order.
        pub fn calls(&self) -> Vec<String> {
            self.calls.lock().expect("lock").clone()
        }

        fn record(&self, call: String, namespace: &str) -> Result<(), PublishError> {
            self.calls.lock().expect("lock").push(call);
            if namespace == "/gone" {
                return Err(PublishError::UnknownNamespace(namespace.to_owned()));
            }
            Ok(())
        }
    }

    impl Publisher for Recorder {
        fn emit(
            &self,
            command: EmitCommand,
        ) -> BoxFuture<'_, Result<Option<crate::backends::publisher::AckReport>, PublishError>>
        {
            let result = self.record("emit".to_owned(), &command.namespace);
            self.emits.lock().expect("lock").push(command);
            Box::pin(async move { result.map(|()| None) })
        }
        fn disconnect<'a>(
            &'a self,
            namespace: &'a str,
            room: &'a str,
            scope: Scope,
        ) -> BoxFuture<'a, Result<(), PublishError>> {
            let result = self.record(
                format!("disconnect {namespace} {room} {scope:?}"),
                namespace,
            );
            Box::pin(async move { result })
        }
        fn move_rooms<'a>(
            &'a self,
            namespace: &'a str,
            target: &'a str,
            change: RoomMove,
            scope: Scope,
        ) -> BoxFuture<'a, Result<(), PublishError>> {
            let call = match change {
                RoomMove::Join(rooms) => format!("join {namespace} {target} {rooms:?} {scope:?}"),
                RoomMove::Leave(rooms) => format!("leave {namespace} {target} {rooms:?} {scope:?}"),
            };
            let result = self.record(call, namespace);
            Box::pin(async move { result })
        }
        fn rooms_of<'a>(
            &'a self,
            _: &'a str,
            sid: &'a str,
            _: Scope,
        ) -> BoxFuture<'a, Result<Option<Vec<String>>, PublishError>> {
            let rooms = self.rooms.get(sid).cloned();
            Box::pin(async move { Ok(rooms) })
        }
        fn sockets<'a>(
            &'a self,
            _namespace: &'a str,
            _room: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Vec<SocketInfo>, PublishError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn notify<'a>(
            &'a self,
            _audience: &'a Audience,
            _draft: Draft,
        ) -> BoxFuture<'a, Result<Notification, PublishError>> {
            Box::pin(async { Err(PublishError::Delivery("not in this test".to_owned())) })
        }
        fn notify_once<'a>(
            &'a self,
            _message: &'a [u8],
            audience: &'a Audience,
            draft: Draft,
        ) -> BoxFuture<'a, Result<(), PublishError>> {
            let result = self.record(
                format!(
                    "notify {:?} {:?} {}",
                    audience.users, audience.topic, draft.title
                ),
                NOTIFICATIONS,
            );
            Box::pin(async move { result })
        }
    }

    fn emit(namespace: &str, rooms: Option<Vec<&str>>) -> QueueMessage {
        QueueMessage::Emit(Emit {
            namespace: namespace.to_owned(),
            event: "ev".to_owned(),
            args: vec![Value::from(1)],
            rooms: rooms.map(|r| r.into_iter().map(str::to_owned).collect()),
            skip_sids: vec!["s1".to_owned()],
            wants_callback: true,
        })
    }

    #[tokio::test]
    async fn notification_emits_go_through_the_notification_path() {
        let recorder = Recorder::default();
        let note = |rooms: Vec<&str>, event: &str| {
            QueueMessage::Emit(Emit {
                namespace: NOTIFICATIONS.to_owned(),
                event: event.to_owned(),
                args: vec![Value::Map(vec![
                    (Value::from("title"), Value::from("Hi")),
                    (Value::from("data"), Value::from(3)),
                ])],
                rooms: Some(rooms.into_iter().map(str::to_owned).collect()),
                skip_sids: Vec::new(),
                wants_callback: false,
            })
        };
        apply(
            &recorder,
            note(vec!["user:42", "topic:news"], "notification"),
        )
        .await
        .expect("applied");
        // Not a notification: another event, or a room that is not a stream.
        apply(&recorder, note(vec!["user:42"], "other"))
            .await
            .expect("applied");
        apply(&recorder, note(vec!["lobby"], "notification"))
            .await
            .expect("applied");
        let calls = recorder.calls.lock().expect("lock").clone();
        assert_eq!(calls, ["notify [\"42\"] Some(\"news\") Hi", "emit", "emit"]);
    }

    #[tokio::test]
    async fn everything_is_applied_to_local_sockets_only() {
        let recorder = Recorder::default();
        let applied = apply(&recorder, emit("/", Some(vec!["r1", "r2"]))).await;
        assert_eq!(applied, Ok(Outcome::Applied));
        let change = RoomChange {
            namespace: "/".into(),
            sid: "s1".into(),
            room: "r9".into(),
        };
        for message in [
            QueueMessage::EnterRoom(change.clone()),
            QueueMessage::LeaveRoom(change),
            QueueMessage::CloseRoom {
                namespace: "/a".into(),
                room: "r9".into(),
            },
            QueueMessage::Disconnect {
                namespace: "/".into(),
                sid: "s2".into(),
            },
        ] {
            assert_eq!(apply(&recorder, message).await, Ok(Outcome::Applied));
        }
        let emits = recorder.emits.lock().expect("lock").clone();
        assert_eq!(
            emits,
            vec![EmitCommand {
                namespace: "/".into(),
                event: "ev".into(),
                args: EventArgs(vec![Value::from(1)]),
                rooms: Some(vec!["r1".into(), "r2".into()]),
                except: vec!["s1".into()],
                ack_timeout: None,
                scope: Scope::Local,
            }]
        );
        assert_eq!(
            recorder.calls.lock().expect("lock")[1..],
            [
                r#"join / s1 ["r9"] Local"#,
                r#"leave / s1 ["r9"] Local"#,
                r#"leave /a r9 ["r9"] Local"#,
                "disconnect / s2 Local",
            ]
        );
    }

    #[tokio::test]
    async fn nothing_to_do_and_failures() {
        let recorder = Recorder::default();
        assert_eq!(
            apply(&recorder, emit("/", Some(Vec::new()))).await,
            Ok(Outcome::Ignored),
            "an empty room list addresses nobody"
        );
        assert_eq!(
            apply(&recorder, QueueMessage::Callback).await,
            Ok(Outcome::Ignored)
        );
        assert!(recorder.calls.lock().expect("lock").is_empty());
        let everyone = apply(&recorder, emit("/", None)).await;
        assert_eq!(everyone, Ok(Outcome::Applied));
        assert_eq!(recorder.emits.lock().expect("lock")[0].rooms, None);
        let gone = apply(&recorder, emit("/gone", None)).await;
        assert_eq!(
            gone.map_err(|r| r.reason),
            Err(RejectReason::UnknownNamespace)
        );
    }
}
