//! What `channels_redis` writes for a `group_send`, read back: bytes to an event.
//!
//! Both layers serialize the caller's dict with msgpack (`msgpack.packb`,
//! strings as str and bytes as bin), optionally encrypt it with Fernet
//! (`symmetric_encryption_keys`, each key stretched to a Fernet key as
//! `urlsafe_b64encode(sha256(key))`), and the core layer puts 12 random bytes
//! in front (`random_prefix_length`) so equal messages stay distinct members
//! of the channel's sorted set. The core layer also adds `__asgi_channel__`,
//! the list of member channels the copy is for, which is how a node learns the
//! group (see `groups`). Anything that does not decode into a dict with a
//! string `type` is a [`Rejection`]: counted and logged, never fatal.

use rmpv::Value;

/// Bytes the core layer puts in front of every message (`random_prefix_length`).
pub const CORE_RANDOM_PREFIX: usize = 12;

/// Deepest nesting of a message's msgpack the bridge reads.
const MAX_DEPTH: usize = 64;

/// The key `channels_redis` adds for the channels a group message is for.
const CHANNEL_KEY: &str = "__asgi_channel__";

/// Why a message was not applied; `as_str` is its metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Larger than `--django-max-message-bytes`.
    TooLarge,
    /// No key opens it (wrong key, or not encrypted while keys are set).
    BadEncryption,
    /// Not msgpack, truncated, too deep, or followed by bytes.
    MalformedMsgpack,
    /// Not a dict with a string `type`, or values no client can receive.
    BadShape,
    /// Not for a group this node knows (a channel name not of iorelay's).
    UnknownGroup,
    /// An event name Socket.IO reserves, or an empty or too long one.
    InvalidEvent,
    /// The namespace is not served.
    UnknownNamespace,
    /// The adapter could not deliver.
    DeliveryFailed,
    /// The bridge could not keep up and dropped the message.
    Overflow,
    /// The core inbox key held something other than a sorted set (it was deleted).
    WrongKeyType,
}

impl RejectReason {
    /// Stable snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "too_large",
            RejectReason::BadEncryption => "bad_encryption",
            RejectReason::MalformedMsgpack => "malformed_msgpack",
            RejectReason::BadShape => "bad_shape",
            RejectReason::UnknownGroup => "unknown_group",
            RejectReason::InvalidEvent => "invalid_event",
            RejectReason::UnknownNamespace => "unknown_namespace",
            RejectReason::DeliveryFailed => "delivery_failed",
            RejectReason::Overflow => "overflow",
            RejectReason::WrongKeyType => "wrong_key_type",
        }
    }
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

/// How one layer's messages are framed: its random prefix, keys and size bound.
pub struct Codec {
    prefix_len: usize,
    keys: Vec<fernet::Fernet>,
    max_bytes: usize,
}

impl Codec {
    /// A codec for a layer that prepends `prefix_len` random bytes and
    /// encrypts with `keys` (none: plain msgpack).
    pub fn new(prefix_len: usize, keys: &[String], max_bytes: usize) -> Self {
        Self {
            prefix_len,
            keys: keys.iter().map(|k| fernet_key(k)).collect(),
            max_bytes,
        }
    }

    /// Decodes one message as the layer stored it.
    pub fn decode(&self, raw: &[u8]) -> Result<GroupMessage, Rejection> {
        if raw.len() > self.max_bytes {
            return Err(Rejection::new(
                RejectReason::TooLarge,
                format!("{} bytes (at most {})", raw.len(), self.max_bytes),
            ));
        }
        let body = raw.get(self.prefix_len..).ok_or_else(|| {
            Rejection::new(
                RejectReason::MalformedMsgpack,
                format!("{} bytes, shorter than the random prefix", raw.len()),
            )
        })?;
        let opened;
        let packed = if self.keys.is_empty() {
            body
        } else {
            opened = self.open(body)?;
            &opened[..]
        };
        let value = read_msgpack(packed)?;
        GroupMessage::from_value(value)
    }

    /// Decrypts a Fernet token with the first key that opens it.
    fn open(&self, token: &[u8]) -> Result<Vec<u8>, Rejection> {
        let refused = || Rejection::new(RejectReason::BadEncryption, "no key opens this message");
        let token = std::str::from_utf8(token).map_err(|_| refused())?;
        self.keys
            .iter()
            .find_map(|key| key.decrypt(token).ok())
            .ok_or_else(refused)
    }
}

/// The Fernet key `channels_redis` makes of a configured key:
/// `urlsafe_b64encode(sha256(key))`, so any string is a valid key.
fn fernet_key(key: &str) -> fernet::Fernet {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(digest.as_ref());
    // 32 bytes always make a valid Fernet key; `Fernet::new` only checks the length.
    fernet::Fernet::new(&encoded).unwrap_or_else(|| unreachable!("a SHA-256 digest is 32 bytes"))
}

/// One msgpack value, the whole input, bounded in depth.
fn read_msgpack(packed: &[u8]) -> Result<Value, Rejection> {
    let mut rest = packed;
    let value = rmpv::decode::read_value_with_max_depth(&mut rest, MAX_DEPTH)
        .map_err(|e| Rejection::new(RejectReason::MalformedMsgpack, e.to_string()))?;
    if !rest.is_empty() {
        return Err(Rejection::new(
            RejectReason::MalformedMsgpack,
            format!("{} bytes after the message", rest.len()),
        ));
    }
    Ok(value)
}

/// A `group_send` message: its `type` and the rest of the dict.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMessage {
    /// The `type` (`order.update`): the event name.
    pub event: String,
    /// The other keys of the dict, in order: the payload.
    pub fields: Vec<(String, Value)>,
    /// `__asgi_channel__`: the channels this copy is for (core layer only).
    pub channels: Vec<String>,
}

impl GroupMessage {
    fn from_value(value: Value) -> Result<Self, Rejection> {
        let Value::Map(pairs) = value else {
            return Err(bad_shape("not a dict"));
        };
        let mut event = None;
        let mut channels = Vec::new();
        let mut fields = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let Value::String(key) = key else {
                return Err(bad_shape("a key that is not a string"));
            };
            let key = key
                .into_str()
                .ok_or_else(|| bad_shape("a key that is not UTF-8"))?;
            match key.as_str() {
                "type" => match value {
                    Value::String(s) => {
                        event = Some(
                            s.into_str()
                                .ok_or_else(|| bad_shape("`type` is not UTF-8"))?,
                        )
                    }
                    _ => return Err(bad_shape("`type` is not a string")),
                },
                CHANNEL_KEY => channels = channel_names(value)?,
                _ => {
                    check_payload(&value, 0)?;
                    fields.push((key, value));
                }
            }
        }
        let event = event.ok_or_else(|| bad_shape("no `type`"))?;
        Ok(Self {
            event,
            fields,
            channels,
        })
    }

    /// The payload clients receive: the dict without `type`.
    pub fn payload(&self) -> Value {
        Value::Map(
            self.fields
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), v.clone()))
                .collect(),
        )
    }
}

/// `__asgi_channel__`: one name (`send`) or a list of them (`group_send`).
fn channel_names(value: Value) -> Result<Vec<String>, Rejection> {
    let names = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    names
        .into_iter()
        .map(|name| match name {
            Value::String(s) => s
                .into_str()
                .ok_or_else(|| bad_shape("a channel name is not UTF-8")),
            _ => Err(bad_shape("a channel name is not a string")),
        })
        .collect()
}

/// Refuses what no Socket.IO client can be sent: msgpack extensions, dict keys
/// that are not strings, strings that are not UTF-8.
fn check_payload(value: &Value, depth: usize) -> Result<(), Rejection> {
    if depth > MAX_DEPTH {
        return Err(bad_shape("nested too deep"));
    }
    match value {
        Value::Ext(..) => Err(bad_shape("a msgpack extension value")),
        Value::String(s) if s.as_str().is_none() => Err(bad_shape("a string that is not UTF-8")),
        Value::Array(items) => items.iter().try_for_each(|v| check_payload(v, depth + 1)),
        Value::Map(pairs) => pairs.iter().try_for_each(|(k, v)| match k {
            Value::String(s) if s.as_str().is_some() => check_payload(v, depth + 1),
            _ => Err(bad_shape("a dict key that is not a string")),
        }),
        _ => Ok(()),
    }
}

/// The payload as JSON, for a notification's `data`; bytes have no JSON form.
pub fn to_json(value: &Value) -> Result<serde_json::Value, Rejection> {
    use serde_json::Value as Json;
    Ok(match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Json::from(i),
            (None, Some(u)) => Json::from(u),
            (None, None) => return Err(bad_shape("an integer out of range")),
        },
        Value::F32(f) => Json::from(f64::from(*f)),
        Value::F64(f) => Json::from(*f),
        Value::String(s) => Json::from(
            s.as_str()
                .ok_or_else(|| bad_shape("a string that is not UTF-8"))?,
        ),
        Value::Binary(_) => return Err(bad_shape("bytes in a notification (JSON has no bytes)")),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Value::Map(pairs) => {
            let mut object = serde_json::Map::with_capacity(pairs.len());
            for (k, v) in pairs {
                let k = k
                    .as_str()
                    .ok_or_else(|| bad_shape("a dict key that is not a string"))?;
                object.insert(k.to_owned(), to_json(v)?);
            }
            Json::Object(object)
        }
        Value::Ext(..) => return Err(bad_shape("a msgpack extension value")),
    })
}

#[cfg(test)]
mod tests;
