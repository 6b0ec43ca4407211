//! Request and response bodies of the publish API, with their OpenAPI schemas.
//!
//! JSON cannot carry bytes, so an argument written `{"$binary": "<base64>"}`
//! (anywhere in `args`) is delivered to clients as a binary attachment.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn root_namespace() -> String {
    "/".to_owned()
}

/// `POST /api/v1/emit`.
#[serde_with::serde_as]
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmitRequest {
    /// Namespace, default `/`.
    #[serde(default = "root_namespace")]
    pub namespace: String,
    /// Event name.
    pub event: String,
    /// Arguments, each delivered as a separate Socket.IO argument. `{"$binary": "<base64>"}` = bytes.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub args: Vec<serde_json::Value>,
    /// Rooms or socket ids to deliver to, one or a list; absent = everyone in the namespace, `[]` = nobody.
    #[serde_as(as = "Option<serde_with::OneOrMany<_>>")]
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub rooms: Option<Vec<String>>,
    /// Rooms or socket ids to leave out, one or a list.
    #[serde_as(as = "Option<serde_with::OneOrMany<_>>")]
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub except: Option<Vec<String>>,
    /// Wait up to this long for each receiver's acknowledgement and return them.
    #[serde(default)]
    pub ack_timeout_ms: Option<u64>,
}

/// Answer of `POST /api/v1/emit`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EmitResponse {
    /// Always `true`.
    pub ok: bool,
    /// With `ack_timeout_ms`: one entry per receiver that answered, in the order they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acks: Option<Vec<AckEntry>>,
    /// With `ack_timeout_ms`: how many receivers did not answer in time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<usize>,
    /// With `ack_timeout_ms`: the socket ids of those receivers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<Vec<String>>,
}

/// One receiver's acknowledgement.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AckEntry {
    /// The receiver's socket id.
    pub sid: String,
    /// Its ack's arguments (empty for `cb()`); bytes as `{"$binary": "<base64>"}`.
    #[schema(value_type = Vec<Object>)]
    pub args: Vec<serde_json::Value>,
}

/// Answer of `GET /api/v1/namespaces/{ns}/sockets/{sid}/rooms`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SocketRoomsResponse {
    /// The socket's rooms, sorted, its own (named by its id) included.
    pub rooms: Vec<String>,
}

/// `POST /api/v1/disconnect`: exactly one of `sid` and `room`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectRequest {
    /// Namespace, default `/`.
    #[serde(default = "root_namespace")]
    pub namespace: String,
    /// One socket.
    #[serde(default)]
    pub sid: Option<String>,
    /// Every socket in a room.
    #[serde(default)]
    pub room: Option<String>,
}

/// `POST /api/v1/rooms/join` and `/leave`: sockets in `target` join or leave `rooms`.
#[serde_with::serde_as]
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomsRequest {
    /// Namespace, default `/`.
    #[serde(default = "root_namespace")]
    pub namespace: String,
    /// A socket id, or a room whose sockets all move.
    pub target: String,
    /// Rooms to join or leave, one or a list.
    #[serde_as(as = "serde_with::OneOrMany<_>")]
    #[schema(value_type = Vec<String>)]
    pub rooms: Vec<String>,
}

/// A plain success.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OkResponse {
    /// Always `true`.
    pub ok: bool,
}

/// One socket in `GET .../sockets`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SocketEntry {
    /// Socket id (also the name of the room that addresses it alone).
    pub id: String,
    /// The node that holds it.
    pub node: String,
    /// Whether the node that answered holds it.
    pub local: bool,
}

/// Answer of `GET /api/v1/namespaces/{ns}/rooms/{room}/sockets`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SocketsResponse {
    /// The sockets, sorted by id.
    pub sockets: Vec<SocketEntry>,
}

/// `POST /api/v1/notify`: to users, to a topic's subscribers, or both.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyRequest {
    /// User ids; every socket of each gets it.
    #[serde(default)]
    pub users: Vec<String>,
    /// Topic; every subscriber gets it.
    #[serde(default)]
    pub topic: Option<String>,
    /// Short title (1 to 200 characters).
    pub title: String,
    /// Body text (up to 4000 characters).
    #[serde(default)]
    pub body: String,
    /// Free-form data for the application.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Answer of `POST /api/v1/notify`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotifyResponse {
    /// Always `true`.
    pub ok: bool,
    /// Id of the notification as clients receive it.
    pub id: String,
    /// Its timestamp (ms since the Unix epoch).
    pub ts: u64,
    /// Its position in each stream it was appended to (`user:<id>`, `topic:<name>`).
    pub positions: std::collections::BTreeMap<String, u64>,
}
