//! What goes to and comes from a forwarding backend: the JSON contract of
//! `--forward-url` and `--connect-url` (see docs/MIGRATING.md), one place for
//! the request bodies, the answers and the [`Op`]s an answer may list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST forward_url` body: one client event.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardedEvent {
    /// Socket id of the sender (a room addressing it alone).
    pub sid: String,
    /// Namespace path.
    pub namespace: String,
    /// Event name.
    pub event: String,
    /// The event's arguments; bytes as `{"$binary": "<base64>"}`.
    pub args: Vec<serde_json::Value>,
    /// What the connect hook returned as `user`, else the identified user, else null.
    pub user: serde_json::Value,
}

/// The backend's answer to a forwarded event; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ForwardReply {
    /// Arguments of the acknowledgement (a handler's return value); none = an empty ack.
    #[serde(default)]
    pub ack: Option<Vec<serde_json::Value>>,
    /// Emits to make, in order, after the room changes.
    #[serde(default)]
    pub emit: Vec<BackendEmit>,
    /// Rooms the sender joins (`join_room`).
    #[serde(default)]
    pub join: Vec<String>,
    /// Rooms the sender leaves (`leave_room`).
    #[serde(default)]
    pub leave: Vec<String>,
    /// Operations in the order the handler issued them, after `join`, `leave`
    /// and `emit`, before the ack.
    #[serde(default)]
    pub ops: Vec<Op>,
}

/// One operation a handler issued, tagged by `op`; applied in list order.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `emit()`: same fields and defaults as an entry of `emit`.
    Emit(BackendEmit),
    /// `join_room(room, sid?, namespace?)`.
    Join(RoomOp),
    /// `leave_room(room, sid?, namespace?)`.
    Leave(RoomOp),
    /// `close_room(room, namespace?)`: every socket leaves the room.
    CloseRoom(CloseRoomOp),
    /// `disconnect(sid?, namespace?)`.
    Disconnect(DisconnectOp),
}

/// A socket (the sender by default) joins or leaves a room.
#[derive(Debug, Clone, Deserialize)]
pub struct RoomOp {
    /// The room.
    pub room: String,
    /// The socket; absent = the sender.
    #[serde(default)]
    pub sid: Option<String>,
    /// Its namespace; absent = the sender's.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// Every socket of a room leaves it.
#[derive(Debug, Clone, Deserialize)]
pub struct CloseRoomOp {
    /// The room.
    pub room: String,
    /// Its namespace; absent = the sender's.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A socket (the sender by default) is disconnected from its namespace.
#[derive(Debug, Clone, Deserialize)]
pub struct DisconnectOp {
    /// The socket; absent = the sender.
    #[serde(default)]
    pub sid: Option<String>,
    /// Its namespace; absent = the sender's.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// One emit a backend asks for, with Flask-SocketIO's `emit()` defaults.
#[serde_with::serde_as]
#[derive(Debug, Clone, Deserialize)]
pub struct BackendEmit {
    /// Event name.
    pub event: String,
    /// Arguments; `{"$binary": "<base64>"}` = bytes.
    #[serde(default)]
    pub args: Vec<serde_json::Value>,
    /// Rooms or sids (Flask's `to=`); absent = the sender alone, unless `broadcast`.
    #[serde(default)]
    #[serde_as(as = "Option<serde_with::OneOrMany<_>>")]
    pub rooms: Option<Vec<String>>,
    /// Without `rooms`: everyone in the namespace.
    #[serde(default)]
    pub broadcast: bool,
    /// Whether the sender receives it too when it is in the target (Flask default: yes).
    #[serde(default = "yes")]
    pub include_self: bool,
    /// Namespace to emit in; absent = the sender's.
    #[serde(default)]
    pub namespace: Option<String>,
    /// One more socket id to deliver to, beside `rooms` (alone: that socket only).
    #[serde(default)]
    pub to_sid: Option<String>,
}

fn yes() -> bool {
    true
}

/// `POST connect_url` body: a connection waiting for the backend's decision.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectRequest {
    /// Socket id the connection will have.
    pub sid: String,
    /// Namespace path.
    pub namespace: String,
    /// The handshake's `auth` payload (null when none).
    pub auth: serde_json::Value,
    /// A few request headers (cookie, authorization, origin, user agent, ...).
    pub headers: BTreeMap<String, String>,
}

/// The backend's decision on a connection.
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectReply {
    /// Accept (`true`) or refuse.
    pub ok: bool,
    /// Accepted: who the user is; sent with each forwarded event.
    #[serde(default)]
    pub user: Option<serde_json::Value>,
    /// Accepted: rooms the socket joins (`join_room` in a connect handler), first.
    #[serde(default)]
    pub join: Vec<String>,
    /// Accepted: emits made after `join`; the new socket gets its share right
    /// after its CONNECT packet, before any other packet.
    #[serde(default)]
    pub emit: Vec<BackendEmit>,
    /// Accepted: operations after `emit`, in order.
    #[serde(default)]
    pub ops: Vec<Op>,
    /// Refused: the explanation (`ConnectionRefusedError`'s first argument).
    #[serde(default)]
    pub message: Option<String>,
    /// Refused: extra data (`ConnectionRefusedError`'s second argument).
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn connect_replies_may_join_emit_and_list_ops() {
        let reply: ConnectReply = serde_json::from_value(json!({
            "ok": true,
            "user": {"id": "u1"},
            "join": ["lobby"],
            "emit": [{"event": "welcome", "args": ["hi"]}],
            "ops": [{"op": "emit", "event": "joined", "rooms": "lobby", "include_self": false},
                    {"op": "join", "room": "greeted"}]
        }))
        .expect("shape");
        assert!(reply.ok);
        assert_eq!(reply.join, ["lobby"]);
        assert_eq!(reply.emit.len(), 1);
        assert_eq!(reply.emit[0].event, "welcome");
        assert!(reply.emit[0].include_self, "Flask's default");
        match &reply.ops[..] {
            [Op::Emit(emit), Op::Join(join)] => {
                assert_eq!(emit.rooms.as_deref(), Some(&["lobby".to_owned()][..]));
                assert!(!emit.include_self);
                assert_eq!(
                    (join.room.as_str(), &join.sid, &join.namespace),
                    ("greeted", &None, &None)
                );
            }
            other => panic!("unexpected ops {other:?}"),
        }
        let bare: ConnectReply = serde_json::from_value(json!({"ok": true})).expect("all optional");
        assert!(bare.emit.is_empty() && bare.ops.is_empty() && bare.join.is_empty());
    }

    #[test]
    fn every_op_shape_parses_and_unknown_ones_do_not() {
        let reply: ForwardReply = serde_json::from_value(json!({
            "ops": [
                {"op": "emit", "event": "e", "args": [1, {"$binary": "AAE="}], "to_sid": "s9", "namespace": "/x", "broadcast": true},
                {"op": "leave", "room": "r", "sid": "s2", "namespace": "/x"},
                {"op": "close_room", "room": "r"},
                {"op": "disconnect", "sid": "s3"},
                {"op": "disconnect"}
            ]
        }))
        .expect("shape");
        assert_eq!(reply.ops.len(), 5);
        assert!(
            matches!(&reply.ops[0], Op::Emit(e) if e.to_sid.as_deref() == Some("s9") && e.broadcast && e.args.len() == 2)
        );
        assert!(matches!(&reply.ops[1], Op::Leave(o) if o.sid.as_deref() == Some("s2")));
        assert!(
            matches!(&reply.ops[2], Op::CloseRoom(o) if o.room == "r" && o.namespace.is_none())
        );
        assert!(matches!(&reply.ops[4], Op::Disconnect(o) if o.sid.is_none()));
        for bad in [
            json!({"ops": [{"op": "close_room"}]}),
            json!({"ops": [{"op": "emit"}]}),
            json!({"ops": [{"op": "rename", "room": "r"}]}),
            json!({"ops": [{"op": "join", "room": 7}]}),
        ] {
            assert!(
                serde_json::from_value::<ForwardReply>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
