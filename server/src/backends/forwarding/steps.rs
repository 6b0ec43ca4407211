//! A backend answer's effects as one ordered list of steps, and running them.
//!
//! A Flask handler issues emits, room changes, `close_room` and `disconnect`
//! in an order its clients can see (a notice, then the room closes). An
//! answer's `emit` entries and `ops` are resolved here, against the sender,
//! into [`Step`]s that are all checked before any is applied (a malformed
//! answer applies nothing), then run one after another through the
//! [`Publisher`]: a step has reached the sockets' queues before the next one
//! starts, so a disconnect never overtakes the emits listed before it.

use crate::backends::publisher::{
    EmitCommand, PublishError, Publisher, RoomMove, Scope, close_room,
};
use crate::protocol::binary_json::to_socket_value;
use crate::protocol::event_args::EventArgs;
use crate::protocol::placeholders;

use super::wire::{BackendEmit, Op};

/// The socket whose event (or connection) the backend answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Its namespace.
    pub namespace: String,
    /// Its id.
    pub sid: String,
}

/// One effect of an answer, its defaults resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// An emit (cluster-wide).
    Emit(EmitCommand),
    /// A socket joins a room.
    Join {
        /// Namespace of the socket.
        namespace: String,
        /// The socket.
        sid: String,
        /// The room.
        room: String,
    },
    /// A socket leaves a room.
    Leave {
        /// Namespace of the socket.
        namespace: String,
        /// The socket.
        sid: String,
        /// The room.
        room: String,
    },
    /// Every socket of a room leaves it.
    CloseRoom {
        /// Namespace of the room.
        namespace: String,
        /// The room.
        room: String,
    },
    /// A socket is disconnected from its namespace.
    Disconnect {
        /// Namespace of the socket.
        namespace: String,
        /// The socket.
        sid: String,
    },
}

impl Step {
    /// Whether the step acts on `sender` alone (meaningless once it is gone).
    pub fn only_for(&self, sender: &Sender) -> bool {
        let mine = |namespace: &str, sid: &str| namespace == sender.namespace && sid == sender.sid;
        match self {
            Step::Emit(command) => {
                command.namespace == sender.namespace
                    && command.rooms.as_ref().is_some_and(|rooms| {
                        !rooms.is_empty() && rooms.iter().all(|r| *r == sender.sid)
                    })
            }
            Step::Join { namespace, sid, .. }
            | Step::Leave { namespace, sid, .. }
            | Step::Disconnect { namespace, sid } => mine(namespace, sid),
            Step::CloseRoom { .. } => false,
        }
    }
}

/// The steps of an answer's `emit` entries followed by its `ops`, in order.
pub fn resolve(
    emits: Vec<BackendEmit>,
    ops: Vec<Op>,
    sender: &Sender,
) -> Result<Vec<Step>, String> {
    let namespace = |ns: Option<String>| ns.unwrap_or_else(|| sender.namespace.clone());
    let sid = |sid: Option<String>| sid.unwrap_or_else(|| sender.sid.clone());
    let mut steps: Vec<Step> = Vec::with_capacity(emits.len() + ops.len());
    for emit in emits {
        steps.push(emit_step(emit, sender)?);
    }
    for op in ops {
        steps.push(match op {
            Op::Emit(emit) => emit_step(emit, sender)?,
            Op::Join(op) => Step::Join {
                namespace: namespace(op.namespace),
                sid: sid(op.sid),
                room: op.room,
            },
            Op::Leave(op) => Step::Leave {
                namespace: namespace(op.namespace),
                sid: sid(op.sid),
                room: op.room,
            },
            Op::CloseRoom(op) => Step::CloseRoom {
                namespace: namespace(op.namespace),
                room: op.room,
            },
            Op::Disconnect(op) => Step::Disconnect {
                namespace: namespace(op.namespace),
                sid: sid(op.sid),
            },
        });
    }
    Ok(steps)
}

fn emit_step(emit: BackendEmit, sender: &Sender) -> Result<Step, String> {
    crate::backends::publisher::validate_event(&emit.event).map_err(|e| e.to_string())?;
    let (rooms, except) = targets(&emit, &sender.sid);
    let args = emit
        .args
        .into_iter()
        .map(to_socket_value)
        .collect::<Result<Vec<_>, _>>()?;
    placeholders::refuse_forged(&args).map_err(|e| e.message)?;
    Ok(Step::Emit(EmitCommand {
        namespace: emit.namespace.unwrap_or_else(|| sender.namespace.clone()),
        event: emit.event,
        args: EventArgs(args),
        rooms,
        except,
        ack_timeout: None,
        scope: Scope::Cluster,
    }))
}

/// Rooms and exceptions of a backend emit, with Flask's `emit()` defaults:
/// no rooms = the sender alone (everyone with `broadcast`); `rooms: []` =
/// nobody; `to_sid` adds one socket to the rooms.
pub fn targets(emit: &BackendEmit, sid: &str) -> (Option<Vec<String>>, Vec<String>) {
    let rooms = match (&emit.rooms, &emit.to_sid, emit.broadcast) {
        (Some(rooms), to_sid, _) => Some(rooms.iter().chain(to_sid).cloned().collect()),
        (None, Some(to_sid), _) => Some(vec![to_sid.clone()]),
        (None, None, true) => None,
        (None, None, false) => Some(vec![sid.to_owned()]),
    };
    let except = if emit.include_self {
        Vec::new()
    } else {
        vec![sid.to_owned()]
    };
    (rooms, except)
}

/// Runs `steps` in order, each through the adapter (cluster-wide); stops at the first failure.
pub async fn run(publisher: &dyn Publisher, steps: Vec<Step>) -> Result<(), PublishError> {
    for step in steps {
        match step {
            Step::Emit(command) => publisher.emit(command).await.map(drop)?,
            Step::Join {
                namespace,
                sid,
                room,
            } => {
                publisher
                    .move_rooms(&namespace, &sid, RoomMove::Join(vec![room]), Scope::Cluster)
                    .await?;
            }
            Step::Leave {
                namespace,
                sid,
                room,
            } => {
                publisher
                    .move_rooms(
                        &namespace,
                        &sid,
                        RoomMove::Leave(vec![room]),
                        Scope::Cluster,
                    )
                    .await?;
            }
            Step::CloseRoom { namespace, room } => {
                close_room(publisher, &namespace, &room, Scope::Cluster).await?;
            }
            Step::Disconnect { namespace, sid } => {
                publisher
                    .disconnect(&namespace, &sid, Scope::Cluster)
                    .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::backends::forwarding::wire::ForwardReply;

    fn sender() -> Sender {
        Sender {
            namespace: "/".to_owned(),
            sid: "s1".to_owned(),
        }
    }

    fn emit(value: serde_json::Value) -> BackendEmit {
        serde_json::from_value(value).expect("shape")
    }

    #[test]
    fn emits_default_to_the_sender_like_flask() {
        assert_eq!(
            targets(&emit(json!({"event": "e"})), "s1"),
            (Some(vec!["s1".to_owned()]), vec![])
        );
        assert_eq!(
            targets(&emit(json!({"event": "e", "broadcast": true})), "s1"),
            (None, vec![])
        );
        assert_eq!(
            targets(
                &emit(json!({"event": "e", "rooms": ["a", "b"], "include_self": false})),
                "s1"
            ),
            (
                Some(vec!["a".to_owned(), "b".to_owned()]),
                vec!["s1".to_owned()]
            )
        );
        assert_eq!(
            targets(&emit(json!({"event": "e", "to_sid": "s9"})), "s1"),
            (Some(vec!["s9".to_owned()]), vec![])
        );
        assert_eq!(
            targets(
                &emit(json!({"event": "e", "rooms": "a", "to_sid": "s9"})),
                "s1"
            ),
            (Some(vec!["a".to_owned(), "s9".to_owned()]), vec![])
        );
        for nobody in [
            json!({"event": "e", "rooms": []}),
            json!({"event": "e", "rooms": [], "broadcast": true}),
        ] {
            assert_eq!(targets(&emit(nobody), "s1"), (Some(vec![]), vec![]));
        }
    }

    #[test]
    fn ops_resolve_in_order_with_the_sender_as_default() {
        let reply: ForwardReply = serde_json::from_value(json!({
            "emit": [{"event": "first"}],
            "ops": [
                {"op": "emit", "event": "notice", "args": [1], "rooms": "lobby", "namespace": "/chat"},
                {"op": "join", "room": "r1"},
                {"op": "leave", "room": "r2", "sid": "s2", "namespace": "/x"},
                {"op": "close_room", "room": "lobby"},
                {"op": "disconnect"},
                {"op": "disconnect", "sid": "s3"}
            ]
        }))
        .expect("shape");
        let steps = resolve(reply.emit, reply.ops, &sender()).expect("valid");
        let names: Vec<String> = steps
            .iter()
            .map(|s| match s {
                Step::Emit(c) => format!("emit {} {} {:?}", c.namespace, c.event, c.rooms),
                Step::Join {
                    namespace,
                    sid,
                    room,
                } => format!("join {namespace} {sid} {room}"),
                Step::Leave {
                    namespace,
                    sid,
                    room,
                } => format!("leave {namespace} {sid} {room}"),
                Step::CloseRoom { namespace, room } => format!("close {namespace} {room}"),
                Step::Disconnect { namespace, sid } => format!("disconnect {namespace} {sid}"),
            })
            .collect();
        assert_eq!(
            names,
            [
                r#"emit / first Some(["s1"])"#,
                r#"emit /chat notice Some(["lobby"])"#,
                "join / s1 r1",
                "leave /x s2 r2",
                "close / lobby",
                "disconnect / s1",
                "disconnect / s3",
            ]
        );
        let gone: Vec<bool> = steps.iter().map(|s| s.only_for(&sender())).collect();
        assert_eq!(gone, [true, false, true, false, false, true, false]);
    }

    #[test]
    fn a_bad_step_refuses_the_whole_answer() {
        for ops in [
            json!([{"op": "emit", "event": "disconnect"}]),
            json!([{"op": "emit", "event": "e", "args": [{"$binary": "not base64!"}]}]),
            json!([{"op": "emit", "event": "e", "args": [{"_placeholder": true, "num": 0}]}]),
        ] {
            let reply: ForwardReply = serde_json::from_value(json!({ "ops": ops })).expect("shape");
            assert!(resolve(reply.emit, reply.ops, &sender()).is_err(), "{ops}");
        }
        for shape in [
            json!({"ops": [{"op": "explode"}]}),
            json!({"ops": [{"op": "join"}]}),
            json!({"ops": [{"room": "r"}]}),
            json!({"ops": {"op": "disconnect"}}),
        ] {
            assert!(
                serde_json::from_value::<ForwardReply>(shape.clone()).is_err(),
                "{shape}"
            );
        }
    }
}
