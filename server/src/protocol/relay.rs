//! Payloads of the client relay (`--client-relay`) on generic namespaces.
//!
//! With the relay on, clients of a namespace can join rooms and broadcast to
//! them without a backend, like Pusher's client events: enough for presence,
//! cursors or signalling between peers.

use serde::{Deserialize, Serialize};

use crate::protocol::event_args::EventArgs;

/// Client → server `rooms:join` / `rooms:leave` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomRequest {
    /// The room.
    pub room: String,
}

/// Ack of `rooms:join` / `rooms:leave`: the rooms the socket is in now.
#[derive(Debug, Clone, Serialize)]
pub struct RoomsReply {
    /// Rooms the socket has joined, sorted (its own sid room excluded).
    pub rooms: Vec<String>,
}

/// Client → server `relay` payload: emit `event` with `args` to others.
#[serde_with::serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayRequest {
    /// Target rooms, one or a list; absent = every socket of the namespace, `[]` = nobody. The sender must be in them.
    #[serde_as(as = "Option<serde_with::OneOrMany<_>>")]
    #[serde(default)]
    pub to: Option<Vec<String>>,
    /// Event name the receivers get.
    pub event: String,
    /// Arguments the receivers get, binary included.
    #[serde(default)]
    pub args: Vec<rmpv::Value>,
    /// Also deliver to the sender.
    #[serde(default)]
    pub include_self: bool,
    /// Wait for every receiver's acknowledgement and return them.
    #[serde(default)]
    pub ack: bool,
}

impl RelayRequest {
    /// The arguments to emit, as separate Socket.IO arguments.
    pub fn emit_args(&self) -> EventArgs {
        EventArgs(self.args.clone())
    }
}

/// Ack of `relay`.
#[derive(Debug, Clone, Serialize)]
pub struct RelayReply {
    /// With `ack: true`: each receiver's acknowledgement (its first argument).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::serialize_option_inline"
    )]
    pub acks: Option<Vec<rmpv::Value>>,
}
