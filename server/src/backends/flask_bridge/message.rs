//! The messages Flask-SocketIO and python-socketio put on the queue, typed.
//!
//! Two encodings reach the channel: JSON since python-socketio 5.14 and
//! pickle before. Both decode into [`PyValue`] first, then into one
//! [`QueueMessage`], so what is applied does not depend on the encoding.
//! The encodings differ in how `data` carries the event's arguments, and
//! each keeps the meaning the Python reader of its era gave it:
//! - JSON: `data` is always the list of arguments; `[x]` is one argument and
//!   `[null]` none (`emit('ev')`); with `binary`, `data[0]` holds the
//!   arguments with `{"_placeholder": true, "num": N}` and `data[1..]` the
//!   base64 attachments.
//! - pickle: `data` is the object given to `emit`: a tuple is several
//!   arguments, `None` none, anything else one; `bytes` are binary as they are.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rmpv::Value;

use super::pickle::{self, MAX_DEPTH, PickleError, PyValue};
use super::stats::RejectReason;
use crate::config::FLASK_MAX_MESSAGE_BYTES;

/// One message of the queue, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueMessage {
    /// `emit`: send an event.
    Emit(Emit),
    /// `enter_room`: a socket joins a room.
    EnterRoom(RoomChange),
    /// `leave_room`: a socket leaves a room.
    LeaveRoom(RoomChange),
    /// `close_room`: every socket leaves a room.
    CloseRoom {
        /// Namespace path.
        namespace: String,
        /// The room.
        room: String,
    },
    /// `disconnect`: a socket is disconnected.
    Disconnect {
        /// Namespace path.
        namespace: String,
        /// The socket id.
        sid: String,
    },
    /// `callback`: an ack travelling back to the Python server that asked for it.
    Callback,
}

impl QueueMessage {
    /// The `method` name, for logs and counters.
    pub fn method(&self) -> &'static str {
        match self {
            QueueMessage::Emit(_) => "emit",
            QueueMessage::EnterRoom(_) => "enter_room",
            QueueMessage::LeaveRoom(_) => "leave_room",
            QueueMessage::CloseRoom { .. } => "close_room",
            QueueMessage::Disconnect { .. } => "disconnect",
            QueueMessage::Callback => "callback",
        }
    }
}

/// An `emit` message.
#[derive(Debug, Clone, PartialEq)]
pub struct Emit {
    /// Namespace path.
    pub namespace: String,
    /// Event name.
    pub event: String,
    /// The arguments the clients receive, binary ones as `Value::Binary`.
    pub args: Vec<Value>,
    /// Rooms (or sids) to deliver to; `None` = the whole namespace.
    pub rooms: Option<Vec<String>>,
    /// Sids to leave out.
    pub skip_sids: Vec<String>,
    /// Whether the emitter asked for the clients' acks (not supported through the queue).
    pub wants_callback: bool,
}

/// An `enter_room` / `leave_room` message.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomChange {
    /// Namespace path.
    pub namespace: String,
    /// The socket id.
    pub sid: String,
    /// The room.
    pub room: String,
}

/// Why a message was not applied: the counter it goes to and the cause for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Counter and stable code.
    pub reason: RejectReason,
    /// What was wrong, for people.
    pub detail: String,
}

impl Rejection {
    /// A rejection with its reason and detail.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

fn bad_shape(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::BadShape, detail)
}

/// Which encoding a message came in; decides what `data` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Pickle,
}

/// Decodes one message of the channel, JSON or pickle.
pub fn decode(payload: &[u8]) -> Result<QueueMessage, Rejection> {
    if payload.len() > FLASK_MAX_MESSAGE_BYTES {
        return Err(Rejection::new(
            RejectReason::TooLarge,
            format!(
                "{} bytes (at most {FLASK_MAX_MESSAGE_BYTES})",
                payload.len()
            ),
        ));
    }
    // Every pickle python-socketio writes starts with PROTO (protocol ≥ 2).
    if payload.first() == Some(&0x80) {
        let value = pickle::decode(payload).map_err(|e| match e {
            PickleError::Forbidden(_) => {
                Rejection::new(RejectReason::ForbiddenPickle, e.to_string())
            }
            PickleError::Malformed(_) => {
                Rejection::new(RejectReason::MalformedPickle, e.to_string())
            }
        })?;
        return from_value(value, Encoding::Pickle);
    }
    let JsonValue(value) = serde_json::from_slice(payload)
        .map_err(|e| Rejection::new(RejectReason::MalformedJson, e.to_string()))?;
    from_value(value, Encoding::Json)
}

/// JSON into the same model as pickle, keeping the order of object keys
/// (Python dicts keep theirs; serde_json's own map would sort them).
/// serde_json bounds the nesting at 128 levels while parsing.
struct JsonValue(PyValue);

impl<'de> serde::Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor).map(JsonValue)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = PyValue;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<PyValue, E> {
        Ok(PyValue::None)
    }
    fn visit_bool<E>(self, b: bool) -> Result<PyValue, E> {
        Ok(PyValue::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<PyValue, E> {
        Ok(PyValue::Int(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<PyValue, E> {
        Ok(PyValue::Int(n.into()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<PyValue, E> {
        Ok(PyValue::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<PyValue, E> {
        Ok(PyValue::Str(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<PyValue, E> {
        Ok(PyValue::Str(s))
    }
    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<PyValue, S::Error> {
        let mut items = Vec::new();
        while let Some(JsonValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(PyValue::List(items))
    }
    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<PyValue, M::Error> {
        let mut pairs = Vec::new();
        while let Some((key, JsonValue(value))) = map.next_entry::<String, JsonValue>()? {
            pairs.push((PyValue::Str(key), value));
        }
        Ok(PyValue::Dict(pairs))
    }
}

/// The fields of the message dict, looked up by name.
struct Fields(Vec<(PyValue, PyValue)>);

impl Fields {
    fn get(&self, key: &str) -> Option<&PyValue> {
        self.0.iter().find_map(|(k, v)| match k {
            PyValue::Str(k) if k == key => Some(v),
            _ => None,
        })
    }

    fn take(&mut self, key: &str) -> Option<PyValue> {
        let index = self
            .0
            .iter()
            .position(|(k, _)| matches!(k, PyValue::Str(k) if k == key))?;
        Some(self.0.swap_remove(index).1)
    }

    fn string(&self, key: &str) -> Result<String, Rejection> {
        match self.get(key) {
            Some(PyValue::Str(s)) => Ok(s.clone()),
            Some(other) => Err(bad_shape(format!("{key} is {}, not a string", kind(other)))),
            None => Err(bad_shape(format!("{key} is missing"))),
        }
    }

    /// The namespace; python-socketio drops messages without one (writers always set it).
    fn namespace(&self) -> Result<String, Rejection> {
        self.string("namespace")
    }

    /// A string, a list (or tuple) of strings, or null/absent.
    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, Rejection> {
        let items = match self.get(key) {
            None | Some(PyValue::None) => return Ok(None),
            Some(PyValue::Str(s)) => return Ok(Some(vec![s.clone()])),
            Some(PyValue::List(items) | PyValue::Tuple(items)) => items,
            Some(other) => {
                return Err(bad_shape(format!(
                    "{key} is {}, not a string or a list of strings",
                    kind(other)
                )));
            }
        };
        items
            .iter()
            .map(|item| match item {
                PyValue::Str(s) => Ok(s.clone()),
                other => Err(bad_shape(format!(
                    "{key} holds {}, not a string",
                    kind(other)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

fn kind(value: &PyValue) -> &'static str {
    match value {
        PyValue::None => "null",
        PyValue::Bool(_) => "a bool",
        PyValue::Int(_) => "an int",
        PyValue::Float(_) => "a float",
        PyValue::Str(_) => "a string",
        PyValue::Bytes(_) => "bytes",
        PyValue::List(_) => "a list",
        PyValue::Tuple(_) => "a tuple",
        PyValue::Dict(_) => "a dict",
        PyValue::Set(_) => "a set",
    }
}

fn from_value(value: PyValue, encoding: Encoding) -> Result<QueueMessage, Rejection> {
    let PyValue::Dict(fields) = value else {
        return Err(bad_shape(format!(
            "the message is {}, not a dict",
            kind(&value)
        )));
    };
    let mut fields = Fields(fields);
    let method = fields.string("method")?;
    match method.as_str() {
        "emit" => emit(&mut fields, encoding).map(QueueMessage::Emit),
        "enter_room" => room_change(&fields).map(QueueMessage::EnterRoom),
        "leave_room" => room_change(&fields).map(QueueMessage::LeaveRoom),
        "close_room" => Ok(QueueMessage::CloseRoom {
            namespace: fields.namespace()?,
            room: fields.string("room")?,
        }),
        "disconnect" => Ok(QueueMessage::Disconnect {
            // python-socketio's server.disconnect falls back to "/" itself.
            namespace: match fields.get("namespace") {
                None | Some(PyValue::None) => "/".to_owned(),
                Some(_) => fields.namespace()?,
            },
            sid: fields.string("sid")?,
        }),
        "callback" => Ok(QueueMessage::Callback),
        other => Err(Rejection::new(
            RejectReason::UnknownMethod,
            format!("method {other:?}"),
        )),
    }
}

fn room_change(fields: &Fields) -> Result<RoomChange, Rejection> {
    Ok(RoomChange {
        namespace: fields.namespace()?,
        sid: fields.string("sid")?,
        room: fields.string("room")?,
    })
}

fn emit(fields: &mut Fields, encoding: Encoding) -> Result<Emit, Rejection> {
    let namespace = fields.namespace()?;
    let event = fields.string("event")?;
    let rooms = fields.strings("room")?;
    let skip_sids = fields.strings("skip_sid")?.unwrap_or_default();
    let wants_callback = !matches!(fields.get("callback"), None | Some(PyValue::None));
    let binary = match fields.get("binary") {
        None | Some(PyValue::None) => false,
        Some(PyValue::Bool(b)) => *b,
        Some(other) => return Err(bad_shape(format!("binary is {}, not a bool", kind(other)))),
    };
    let data = fields
        .take("data")
        .ok_or_else(|| bad_shape("data is missing"))?;
    let args = match encoding {
        Encoding::Json => json_args(data, binary)?,
        Encoding::Pickle => pickle_args(data),
    };
    let args = args
        .into_iter()
        .map(|arg| to_socket_value(arg, 0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Emit {
        namespace,
        event,
        args,
        rooms,
        skip_sids,
        wants_callback,
    })
}

/// The arguments of a JSON (python-socketio ≥ 5.14) emit.
fn json_args(data: PyValue, binary: bool) -> Result<Vec<PyValue>, Rejection> {
    let PyValue::List(mut data) = data else {
        return Err(bad_shape(format!("data is {}, not a list", kind(&data))));
    };
    if binary {
        if data.is_empty() {
            return Err(bad_shape("binary data without its arguments"));
        }
        let attachments = data
            .split_off(1)
            .into_iter()
            .enumerate()
            .map(|(n, a)| match a {
                PyValue::Str(text) => STANDARD
                    .decode(text.as_bytes())
                    .map_err(|e| bad_shape(format!("attachment {n} is not base64: {e}"))),
                other => Err(bad_shape(format!(
                    "attachment {n} is {}, not base64 text",
                    kind(&other)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let template = data.pop().unwrap_or(PyValue::None);
        let PyValue::List(args) = reconstruct(template, &attachments, 0)? else {
            return Err(bad_shape("binary data[0] is not the list of arguments"));
        };
        data = args;
    }
    // python-socketio unwraps a one-element list, and a lone None means no argument.
    Ok(match data.len() {
        1 if data[0] == PyValue::None => Vec::new(),
        _ => data,
    })
}

/// Puts the attachments back where their placeholders are.
fn reconstruct(
    value: PyValue,
    attachments: &[Vec<u8>],
    depth: usize,
) -> Result<PyValue, Rejection> {
    if depth > MAX_DEPTH {
        return Err(bad_shape(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    Ok(match value {
        PyValue::List(items) => PyValue::List(
            items
                .into_iter()
                .map(|item| reconstruct(item, attachments, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        PyValue::Dict(pairs) => {
            let fields = Fields(pairs);
            if fields.get("_placeholder").is_some() && fields.get("num").is_some() {
                let num = match fields.get("num") {
                    Some(PyValue::Int(n)) => usize::try_from(*n).ok(),
                    _ => None,
                };
                let bytes = num
                    .and_then(|n| attachments.get(n))
                    .ok_or_else(|| bad_shape("a placeholder names no attachment"))?;
                return Ok(PyValue::Bytes(bytes.clone()));
            }
            PyValue::Dict(
                fields
                    .0
                    .into_iter()
                    .map(|(k, v)| Ok((k, reconstruct(v, attachments, depth + 1)?)))
                    .collect::<Result<_, Rejection>>()?,
            )
        }
        other => other,
    })
}

/// The arguments of a pickled (python-socketio ≤ 5.13) emit.
fn pickle_args(data: PyValue) -> Vec<PyValue> {
    match data {
        PyValue::Tuple(items) => items,
        PyValue::None => Vec::new(),
        other => vec![other],
    }
}

/// A Python value as a Socket.IO argument, the way python-socketio's JSON encoder writes it.
fn to_socket_value(value: PyValue, depth: usize) -> Result<Value, Rejection> {
    if depth > MAX_DEPTH {
        return Err(bad_shape(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let array = |items: Vec<PyValue>| {
        items
            .into_iter()
            .map(|item| to_socket_value(item, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    };
    Ok(match value {
        PyValue::None => Value::Nil,
        PyValue::Bool(b) => Value::Boolean(b),
        PyValue::Int(n) => {
            if let Ok(n) = i64::try_from(n) {
                Value::from(n)
            } else if let Ok(n) = u64::try_from(n) {
                Value::from(n)
            } else {
                return Err(bad_shape("an integer does not fit 64 bits"));
            }
        }
        PyValue::Float(f) => Value::F64(f),
        PyValue::Str(s) => Value::String(s.into()),
        PyValue::Bytes(b) => Value::Binary(b),
        PyValue::List(items) | PyValue::Tuple(items) => array(items)?,
        PyValue::Dict(pairs) => Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    Ok((
                        Value::String(json_key(k)?.into()),
                        to_socket_value(v, depth + 1)?,
                    ))
                })
                .collect::<Result<_, Rejection>>()?,
        ),
        PyValue::Set(_) => return Err(bad_shape("a set cannot be sent as JSON")),
    })
}

/// A dict key as Python's `json.dumps` writes it.
fn json_key(key: PyValue) -> Result<String, Rejection> {
    match key {
        PyValue::Str(s) => Ok(s),
        PyValue::Int(n) => Ok(n.to_string()),
        PyValue::Bool(true) => Ok("true".to_owned()),
        PyValue::Bool(false) => Ok("false".to_owned()),
        PyValue::None => Ok("null".to_owned()),
        other => Err(bad_shape(format!("a dict key is {}", kind(&other)))),
    }
}

#[cfg(test)]
mod tests;
