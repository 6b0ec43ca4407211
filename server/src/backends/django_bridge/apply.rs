//! A group message applied: to a room of this node's sockets, or as a user's notification.
//!
//! Room groups are applied with [`Scope::Local`]: each node gets its own copy
//! (pub/sub: every node is subscribed; core: every node is a member with its
//! own channel), so together the nodes deliver each message once. A user
//! group goes through the one notification path (history, catch-up, SSE), in
//! the way the layer hands it out ([`Users`]).

use rmpv::Value;

use crate::backends::notifier::{Audience, Draft};
use crate::backends::publisher::{EmitCommand, PublishError, Publisher, Scope};
use crate::protocol::event_args::EventArgs;

use super::groups::{GroupMap, Target};
use super::message::{GroupMessage, RejectReason, Rejection, to_json};

/// What applying a valid message came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acted on sockets (possibly none matched).
    Applied,
    /// Nothing to do here (a user group another node delivers).
    Ignored,
}

/// How this node delivers a user group's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Users<'a> {
    /// Every node got this message (pub/sub): appended to history once for
    /// the cluster ([`Publisher::notify_once`], keyed by the message's bytes),
    /// delivered by each node to its own sockets.
    EveryNode(&'a [u8]),
    /// Only this node got it (popped from the shared core inbox): delivered
    /// to the whole cluster ([`Publisher::notify`]).
    OnlyHere,
    /// Not for this reader (a user group in a node's room inbox).
    Ignore,
}

/// Where this bridge's groups go.
pub struct Routes {
    /// The namespace of room groups.
    pub namespace: String,
    /// Which groups are users.
    pub groups: GroupMap,
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

/// Applies `message`, sent to `group`; `users` says how a user group is delivered.
pub async fn apply(
    publisher: &dyn Publisher,
    routes: &Routes,
    group: &str,
    message: &GroupMessage,
    users: Users<'_>,
) -> Result<Outcome, Rejection> {
    match routes.groups.target(group) {
        Target::Room(room) => {
            let command = EmitCommand {
                namespace: routes.namespace.clone(),
                event: message.event.clone(),
                args: EventArgs(vec![message.payload()]),
                rooms: Some(vec![room]),
                except: Vec::new(),
                ack_timeout: None,
                scope: Scope::Local,
            };
            publisher.emit(command).await.map_err(rejection)?;
        }
        Target::User(user) => {
            let audience = Audience {
                users: vec![user],
                topic: None,
            };
            match users {
                Users::Ignore => return Ok(Outcome::Ignored),
                Users::OnlyHere => publisher
                    .notify(&audience, draft(message)?)
                    .await
                    .map(drop)
                    .map_err(rejection)?,
                Users::EveryNode(raw) => publisher
                    .notify_once(raw, &audience, draft(message)?)
                    .await
                    .map_err(rejection)?,
            }
        }
    }
    Ok(Outcome::Applied)
}

/// A notification from a message: `title` and `body` if the dict has them as
/// strings (else the `type` and ""), everything else, `type` included, as `data`.
pub fn draft(message: &GroupMessage) -> Result<Draft, Rejection> {
    let text = |key: &str| {
        message.fields.iter().find_map(|(k, v)| match v {
            Value::String(s) if k == key => s.as_str().map(str::to_owned),
            _ => None,
        })
    };
    let title = text("title").unwrap_or_else(|| message.event.clone());
    let body = text("body").unwrap_or_default();
    let mut data = serde_json::Map::new();
    data.insert("type".to_owned(), message.event.clone().into());
    for (key, value) in &message.fields {
        if key != "title" && key != "body" {
            data.insert(key.clone(), to_json(value)?);
        }
    }
    Ok(Draft {
        title,
        body,
        data: serde_json::Value::Object(data),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures_util::future::BoxFuture;

    use super::*;
    use crate::backends::publisher::{RoomMove, SocketInfo};
    use crate::protocol::notifications::Notification;

    /// Records emits and notifications.
    #[derive(Default)]
    struct Recorder {
        emits: Mutex<Vec<EmitCommand>>,
        notes: Mutex<Vec<(Audience, Draft)>>,
    }

    impl Publisher for Recorder {
        fn emit(
            &self,
            command: EmitCommand,
        ) -> BoxFuture<'_, Result<Option<crate::backends::publisher::AckReport>, PublishError>>
        {
            let result = crate::backends::publisher::validate_event(&command.event);
            self.emits.lock().expect("lock").push(command);
            Box::pin(async move { result.map(|()| None) })
        }
        fn disconnect<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: Scope,
        ) -> BoxFuture<'a, Result<(), PublishError>> {
            Box::pin(async { Ok(()) })
        }
        fn move_rooms<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: RoomMove,
            _: Scope,
        ) -> BoxFuture<'a, Result<(), PublishError>> {
            Box::pin(async { Ok(()) })
        }
        fn rooms_of<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: Scope,
        ) -> BoxFuture<'a, Result<Option<Vec<String>>, PublishError>> {
            Box::pin(async { Ok(None) })
        }
        fn sockets<'a>(
            &'a self,
            _: &'a str,
            _: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Vec<SocketInfo>, PublishError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn notify<'a>(
            &'a self,
            audience: &'a Audience,
            draft: Draft,
        ) -> BoxFuture<'a, Result<Notification, PublishError>> {
            self.notes
                .lock()
                .expect("lock")
                .push((audience.clone(), draft));
            Box::pin(async { Err(PublishError::Delivery("recorded".to_owned())) })
        }
        fn notify_once<'a>(
            &'a self,
            message: &'a [u8],
            audience: &'a Audience,
            mut draft: Draft,
        ) -> BoxFuture<'a, Result<(), PublishError>> {
            draft.body = format!("once {message:?}");
            self.notes
                .lock()
                .expect("lock")
                .push((audience.clone(), draft));
            Box::pin(async { Ok(()) })
        }
    }

    fn message(event: &str, fields: Vec<(&str, Value)>) -> GroupMessage {
        GroupMessage {
            event: event.to_owned(),
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            channels: Vec::new(),
        }
    }

    fn routes() -> Routes {
        Routes {
            namespace: "/shop".to_owned(),
            groups: GroupMap::new("user.{id}"),
        }
    }

    #[tokio::test]
    async fn a_room_group_is_a_local_emit_of_the_type_with_the_rest() {
        let recorder = Recorder::default();
        let m = message("order.update", vec![("id", Value::from(7))]);
        let outcome = apply(&recorder, &routes(), "orders", &m, Users::Ignore).await;
        assert_eq!(outcome, Ok(Outcome::Applied));
        let emits = recorder.emits.lock().expect("lock").clone();
        assert_eq!(
            emits,
            vec![EmitCommand {
                namespace: "/shop".into(),
                event: "order.update".into(),
                args: EventArgs(vec![Value::Map(vec![(Value::from("id"), Value::from(7))])]),
                rooms: Some(vec!["orders".into()]),
                except: Vec::new(),
                ack_timeout: None,
                scope: Scope::Local,
            }]
        );
        let reserved = apply(
            &recorder,
            &routes(),
            "orders",
            &message("connect", vec![]),
            Users::OnlyHere,
        )
        .await;
        assert_eq!(
            reserved.map_err(|r| r.reason),
            Err(RejectReason::InvalidEvent)
        );
    }

    #[tokio::test]
    async fn a_user_group_is_one_notification_where_users_are_delivered() {
        let recorder = Recorder::default();
        let m = message(
            "invoice.paid",
            vec![("title", Value::from("Paid")), ("amount", Value::from(12))],
        );
        assert_eq!(
            apply(&recorder, &routes(), "user.42", &m, Users::Ignore).await,
            Ok(Outcome::Ignored)
        );
        assert!(recorder.notes.lock().expect("lock").is_empty());
        let failed = apply(&recorder, &routes(), "user.42", &m, Users::OnlyHere).await;
        assert_eq!(
            failed.map_err(|r| r.reason),
            Err(RejectReason::DeliveryFailed)
        );
        let notes = recorder.notes.lock().expect("lock").clone();
        assert_eq!(notes[0].0.users, ["42"]);
        assert_eq!(notes[0].1.title, "Paid");
        assert_eq!(notes[0].1.body, "");
        assert_eq!(
            notes[0].1.data,
            serde_json::json!({"type": "invoice.paid", "amount": 12})
        );
        let bytes = message("x", vec![("raw", Value::Binary(vec![1]))]);
        let refused = apply(&recorder, &routes(), "user.42", &bytes, Users::OnlyHere).await;
        assert_eq!(refused.map_err(|r| r.reason), Err(RejectReason::BadShape));
        let once = apply(
            &recorder,
            &routes(),
            "user.42",
            &m,
            Users::EveryNode(b"raw"),
        )
        .await;
        assert_eq!(once, Ok(Outcome::Applied));
        let notes = recorder.notes.lock().expect("lock").clone();
        assert_eq!(notes[1].0.users, ["42"]);
        assert_eq!(
            notes[1].1.body,
            format!("once {:?}", b"raw"),
            "keyed by the message's bytes"
        );
    }
}
