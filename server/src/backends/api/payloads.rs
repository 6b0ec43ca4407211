//! Request and response bodies of the publish API, with their OpenAPI schemas.
//!
//! JSON cannot carry bytes, so an argument written `{"$binary": "<base64>"}`
//! (anywhere in `args`) is delivered to clients as a binary attachment.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
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
    /// With `ack_timeout_ms`: the first argument of each receiver's acknowledgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub acks: Option<Vec<serde_json::Value>>,
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
}

/// Converts a JSON argument to a Socket.IO value, decoding `{"$binary": ...}`.
pub fn to_socket_value(json: serde_json::Value) -> Result<rmpv::Value, String> {
    use serde_json::Value as J;
    Ok(match json {
        J::Null => rmpv::Value::Nil,
        J::Bool(b) => rmpv::Value::Boolean(b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                rmpv::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                rmpv::Value::from(u)
            } else {
                rmpv::Value::F64(n.as_f64().unwrap_or_default())
            }
        }
        J::String(s) => rmpv::Value::String(s.into()),
        J::Array(items) => rmpv::Value::Array(
            items
                .into_iter()
                .map(to_socket_value)
                .collect::<Result<_, _>>()?,
        ),
        J::Object(map) => {
            if map.len() == 1
                && let Some(J::String(b64)) = map.get("$binary")
            {
                let bytes = STANDARD
                    .decode(b64)
                    .map_err(|e| format!("invalid base64 in $binary: {e}"))?;
                return Ok(rmpv::Value::Binary(bytes));
            }
            rmpv::Value::Map(
                map.into_iter()
                    .map(|(k, v)| Ok((rmpv::Value::String(k.into()), to_socket_value(v)?)))
                    .collect::<Result<_, String>>()?,
            )
        }
    })
}

/// Converts a Socket.IO value (e.g. an acknowledgement) to JSON; bytes become `{"$binary": ...}`.
pub fn to_json_value(value: rmpv::Value) -> serde_json::Value {
    use rmpv::Value as M;
    use serde_json::Value as J;
    match value {
        M::Nil => J::Null,
        M::Boolean(b) => J::Bool(b),
        M::Integer(i) => i
            .as_i64()
            .map(J::from)
            .or_else(|| i.as_u64().map(J::from))
            .unwrap_or(J::Null),
        M::F32(f) => serde_json::Number::from_f64(f64::from(f)).map_or(J::Null, J::Number),
        M::F64(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        M::String(s) => J::String(s.into_str().unwrap_or_default()),
        M::Binary(b) => serde_json::json!({ "$binary": STANDARD.encode(b) }),
        M::Array(items) => J::Array(items.into_iter().map(to_json_value).collect()),
        M::Map(entries) => J::Object(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        M::String(s) => s.into_str().unwrap_or_default(),
                        other => other.to_string(),
                    };
                    (key, to_json_value(v))
                })
                .collect(),
        ),
        M::Ext(_, bytes) => serde_json::json!({ "$binary": STANDARD.encode(bytes) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_markers_round_trip() {
        let json = json!([1, "two", {"nested": {"$binary": "AAEC"}}, null, 2.5]);
        let value = to_socket_value(json.clone()).expect("valid");
        let rmpv::Value::Array(items) = &value else {
            panic!("array")
        };
        assert_eq!(items[2]["nested"], rmpv::Value::Binary(vec![0, 1, 2]));
        assert_eq!(to_json_value(value), json);
    }

    #[test]
    fn bad_base64_is_an_error() {
        assert!(to_socket_value(json!({"$binary": "***"})).is_err());
        // Not a marker: other keys beside it.
        assert!(to_socket_value(json!({"$binary": "***", "x": 1})).is_ok());
    }
}
