//! The event contract: every event name and payload shape iorelay speaks.
//!
//! Handlers and tests share these types so that what the README's protocol
//! table promises, the code does. Client → server events are acknowledged
//! with [`Reply`]: `{ok: true, ...}` or `{ok: false, error: {code, message}}`,
//! with the codes of [`error`], the one list of what clients can be told.
//! The lowest module: it imports nothing else of the crate.

pub mod admin_ui;
pub mod auth;
pub mod binary_json;
pub mod chat;
pub mod clock;
pub mod engine_io;
pub mod error;
pub mod event_args;
pub mod namespace_pattern;
pub mod notifications;
pub mod placeholders;
pub mod relay;
pub mod user;

use serde::Serialize;

pub use error::{ErrorCode, Refusal};

/// The acknowledgement of a client → server event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply<T: Serialize> {
    /// `{ok: true, ...fields of T}`.
    Ok {
        /// Always `true`.
        ok: bool,
        /// The result's fields, flattened next to `ok`.
        #[serde(flatten)]
        body: T,
    },
    /// `{ok: false, error: {code, message}}`.
    Err {
        /// Always `false`.
        ok: bool,
        /// What went wrong.
        error: Refusal,
    },
}

/// The one rendering of a refusal into an acknowledgement.
impl<T: Serialize> From<Result<T, Refusal>> for Reply<T> {
    fn from(result: Result<T, Refusal>) -> Self {
        match result {
            Ok(body) => Reply::Ok { ok: true, body },
            Err(error) => Reply::Err { ok: false, error },
        }
    }
}

/// Serializes a `Some` field as its value, without `serialize_some`.
///
/// socketioxide's default parser turns binary (`rmpv::Value::Binary`, `Bytes`)
/// into attachments through a wrapping serializer, but its `serialize_some`
/// hands the value to plain JSON, so binary under an `Option` arrived as an
/// array of numbers. Use with `skip_serializing_if = "Option::is_none"`.
pub fn serialize_option_inline<T, S>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error>
where
    T: Serialize,
    S: serde::Serializer,
{
    match value {
        Some(v) => v.serialize(serializer),
        None => serializer.serialize_none(),
    }
}

/// Turns a payload that did not deserialize into the `bad_request` error.
pub fn parse_payload<T>(data: Result<T, socketioxide::ParserError>) -> Result<T, Refusal> {
    data.map_err(|e| Refusal::new(ErrorCode::BadRequest, format!("malformed payload: {e}")))
}

/// An empty success body: the ack is `{ok: true}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Done {}

/// Event names Socket.IO clients reserve for themselves; the server never emits them.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Event names a client may not relay to others: the reserved ones, `error`
/// (iorelay's own notices: `rate_limited`, `token_expired`), and the names
/// socket.io-client 2.x fires for its own life cycle on any incoming event.
pub const RELAY_RESERVED_EVENTS: [&str; 16] = [
    "connect",
    "connect_error",
    "connect_timeout",
    "connecting",
    "disconnect",
    "disconnecting",
    "error",
    "newListener",
    "removeListener",
    "ping",
    "pong",
    "reconnect",
    "reconnect_attempt",
    "reconnect_error",
    "reconnect_failed",
    "reconnecting",
];

/// Longest event name, in characters, whoever sends it (a relaying client, a backend).
pub const MAX_EVENT_CHARS: usize = 64;

/// Checks an event name: 1 to [`MAX_EVENT_CHARS`] characters, none of `reserved`.
pub fn validate_event_name(event: &str, reserved: &[&str]) -> Result<(), Refusal> {
    let chars = event.chars().count();
    if chars == 0 || chars > MAX_EVENT_CHARS || reserved.contains(&event) {
        return Err(Refusal::new(
            ErrorCode::InvalidEvent,
            format!(
                "event names have 1 to {MAX_EVENT_CHARS} characters and are not reserved by Socket.IO or iorelay"
            ),
        ));
    }
    Ok(())
}

/// Checks an event name a client wants to relay: not one a client could mistake
/// for its own life cycle or for the server's notices.
pub fn validate_relay_event(event: &str) -> Result<(), Refusal> {
    validate_event_name(event, &RELAY_RESERVED_EVENTS)
}

/// Longest room name accepted from clients, in characters.
pub const MAX_ROOM_CHARS: usize = 64;

/// Checks a client-chosen room name: 1 to 64 letters, digits, `-`, `_`, `.`, `:`.
pub fn validate_room(room: &str) -> Result<(), Refusal> {
    let count = room.chars().count();
    if count == 0 || count > MAX_ROOM_CHARS {
        return Err(Refusal::new(
            ErrorCode::InvalidRoom,
            format!("room names have 1 to {MAX_ROOM_CHARS} characters"),
        ));
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if !room.chars().all(allowed) {
        return Err(Refusal::new(
            ErrorCode::InvalidRoom,
            "room names use letters, digits, '-', '_', '.' and ':' only",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_have_the_documented_shape() {
        #[derive(Serialize)]
        struct Joined {
            rooms: Vec<String>,
        }
        let ok: Reply<Joined> = Ok(Joined {
            rooms: vec!["a".into()],
        })
        .into();
        assert_eq!(
            serde_json::to_value(ok).expect("json"),
            json!({"ok": true, "rooms": ["a"]})
        );
        let err: Reply<Done> = Err(Refusal::new(ErrorCode::NotInRoom, "join first")).into();
        assert_eq!(
            serde_json::to_value(err).expect("json"),
            json!({"ok": false, "error": {"code": "not_in_room", "message": "join first"}})
        );
    }

    #[test]
    fn reserved_names_cannot_be_relayed() {
        for name in RESERVED_EVENTS.iter().chain(&RELAY_RESERVED_EVENTS) {
            assert_eq!(
                validate_relay_event(name).map_err(|e| e.code),
                Err(ErrorCode::InvalidEvent),
                "{name}"
            );
        }
        assert!(validate_relay_event("").is_err());
        assert!(validate_relay_event(&"x".repeat(65)).is_err());
        assert!(validate_relay_event("cursor:move").is_ok());
        assert!(validate_relay_event("Error").is_ok());
    }

    #[test]
    fn room_names() {
        assert!(validate_room("general").is_ok());
        assert!(validate_room("team:ops-1.x_y").is_ok());
        assert_eq!(
            validate_room("").map_err(|e| e.code),
            Err(ErrorCode::InvalidRoom)
        );
        assert!(validate_room("has space").is_err());
        assert!(validate_room(&"x".repeat(65)).is_err());
        assert!(validate_room("ünïcode").is_ok());
    }
}
