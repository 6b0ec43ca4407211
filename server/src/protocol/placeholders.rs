//! Binary placeholders: nobody may forge one.
//!
//! The default parser sends binary arguments as attachments and leaves
//! `{"_placeholder": true, "num": N}` where each one was. A receiving
//! socket.io-client puts attachment N back in its place, and drops its whole
//! connection ("illegal attachments") when N names no attachment. socketioxide
//! fills placeholders in document order whatever their `num`, and keeps an
//! object with a `_placeholder` key as a plain object once the attachments run
//! out. Relayed unchecked, one such object inside a binary packet disconnects
//! every receiver. So:
//! - what a client sends is checked against its attachments before a handler
//!   that passes it on sees it ([`Checked`], [`check_packet`]): every object
//!   with a `_placeholder` key must be exactly `{"_placeholder": true, "num": N}`
//!   with N counting 0, 1, 2… in document order, one per attachment;
//! - no value on its way out to clients may hold an object with a
//!   `_placeholder` key ([`forged_in`]), whoever wrote it: backend answers,
//!   the publish API, the Flask queue, receivers' acknowledgements. Socket.IO
//!   has no way to escape that key, so such values are refused, not re-encoded.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use socketioxide::adapter::Adapter;
use socketioxide::extract::TryData;
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use socketioxide_core::Value;

use crate::protocol::{ErrorCode, Refusal};

/// The key Socket.IO reserves for binary placeholders.
pub const PLACEHOLDER_KEY: &str = "_placeholder";

/// The explanation clients get with `invalid_binary`.
const MISMATCH: &str = "binary placeholders must be {\"_placeholder\": true, \"num\": N} with N = 0, 1, 2… in order, one per attachment sent";

/// Checks a client packet's placeholders against its attachments.
///
/// Only the default parser writes placeholders; msgpack packets carry binary
/// natively and pass (their values still go through [`forged_in`]).
pub fn check_packet(value: &Value) -> Result<(), Refusal> {
    let Value::Str(text, attachments) = value else {
        return Ok(());
    };
    let sent = attachments.as_ref().map_or(0, |a| a.len());
    let mut found = 0;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let walked = Walk { found: &mut found }.deserialize(&mut deserializer);
    let mismatch = || Err(Refusal::new(ErrorCode::InvalidBinary, MISMATCH));
    match walked {
        Ok(_) if usize::try_from(found).is_ok_and(|found| found == sent) => Ok(()),
        Ok(_) => mismatch(),
        Err(e) if e.is_data() => mismatch(),
        // Not JSON: the parser refuses it; it holds no placeholder to check.
        Err(_) => Ok(()),
    }
}

/// The shape of a value, as much as placeholder checks need.
enum Shape {
    True,
    Index(u64),
    Other,
}

/// Walks a JSON value in document order, counting well-formed placeholders.
struct Walk<'a> {
    found: &'a mut u64,
}

impl Walk<'_> {
    fn again(&mut self) -> Walk<'_> {
        Walk { found: self.found }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Shape, E> {
        Ok(if b { Shape::True } else { Shape::Other })
    }
    fn visit_u64<E>(self, n: u64) -> Result<Shape, E> {
        Ok(Shape::Index(n))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_seq<S: SeqAccess<'de>>(mut self, mut seq: S) -> Result<Shape, S::Error> {
        while seq.next_element_seed(self.again())?.is_some() {}
        Ok(Shape::Other)
    }
    fn visit_map<M: MapAccess<'de>>(mut self, mut map: M) -> Result<Shape, M::Error> {
        // Keys in order, with the shape of the two a placeholder has.
        let mut keys: Vec<(String, Option<Shape>)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let shape = map.next_value_seed(self.again())?;
            let relevant = key == PLACEHOLDER_KEY || key == "num";
            keys.push((key, relevant.then_some(shape)));
        }
        if !keys.iter().any(|(k, _)| k == PLACEHOLDER_KEY) {
            return Ok(Shape::Other);
        }
        match keys.as_slice() {
            [(first, Some(Shape::True)), (second, Some(Shape::Index(n)))]
                if first == PLACEHOLDER_KEY && second == "num" && *n == *self.found =>
            {
                *self.found += 1;
                Ok(Shape::Other)
            }
            _ => Err(de::Error::custom(MISMATCH)),
        }
    }
}

/// Whether a value holds an object with a `_placeholder` key, at any depth:
/// such a value must not reach clients.
pub fn forged_in(value: &rmpv::Value) -> bool {
    match value {
        rmpv::Value::Array(items) => items.iter().any(forged_in),
        rmpv::Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| k.as_str() == Some(PLACEHOLDER_KEY) || forged_in(v)),
        _ => false,
    }
}

/// The refusal of arguments that hold a forged placeholder.
fn forged_error() -> Refusal {
    Refusal::new(
        ErrorCode::InvalidBinary,
        "arguments may not hold an object with a \"_placeholder\" key (Socket.IO reserves it for binary attachments)",
    )
}

/// Checks every argument with [`forged_in`].
pub fn refuse_forged(args: &[rmpv::Value]) -> Result<(), Refusal> {
    if args.iter().any(forged_in) {
        return Err(forged_error());
    }
    Ok(())
}

/// Like socketioxide's `TryData<T>`, once the packet's placeholders matched
/// its attachments ([`check_packet`]); a mismatch is `invalid_binary`, a
/// payload of the wrong shape `bad_request`.
pub struct Checked<T>(pub Result<T, Refusal>);

impl<A: Adapter, T: serde::de::DeserializeOwned> FromMessageParts<A> for Checked<T> {
    type Error = std::convert::Infallible;

    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        if let Err(e) = check_packet(v) {
            return Ok(Checked(Err(e)));
        }
        let TryData(data) = TryData::<T>::from_message_parts(s, v, ack_id)?;
        Ok(Checked(crate::protocol::parse_payload(data)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use bytes::Bytes;
    use serde_json::json;

    use super::*;

    fn packet(json: serde_json::Value, attachments: usize) -> Value {
        let bins = (attachments > 0).then(|| {
            (0..attachments)
                .map(|_| Bytes::from_static(b"x"))
                .collect::<VecDeque<_>>()
        });
        Value::Str(json.to_string().into(), bins)
    }

    fn code(json: serde_json::Value, attachments: usize) -> Option<ErrorCode> {
        check_packet(&packet(json, attachments))
            .err()
            .map(|e| e.code)
    }

    #[test]
    fn placeholders_must_match_the_attachments() {
        let p = |n: u64| json!({"_placeholder": true, "num": n});
        assert_eq!(code(json!(["relay", {"args": [p(0)]}]), 1), None);
        assert_eq!(
            code(json!(["relay", {"args": [p(0), {"deep": [p(1)]}]}]), 2),
            None
        );
        assert_eq!(code(json!(["relay", {"args": [1, "two"]}]), 0), None);
        let bad = Some(ErrorCode::InvalidBinary);
        // The issue's attack: a forged placeholder beside one real attachment.
        assert_eq!(code(json!(["relay", {"args": [p(0), p(7)]}]), 1), bad);
        assert_eq!(code(json!(["relay", {"args": [p(7), p(0)]}]), 1), bad);
        // A number beyond the attachments, out of order, or a count that differs.
        assert_eq!(code(json!(["relay", {"args": [p(7)]}]), 1), bad);
        assert_eq!(code(json!(["relay", {"args": [p(1), p(0)]}]), 2), bad);
        assert_eq!(code(json!(["relay", {"args": [p(0)]}]), 2), bad);
        assert_eq!(code(json!(["relay", {"args": [p(0)]}]), 0), bad);
        // Objects that socketioxide would not fill but a client would.
        assert_eq!(code(json!(["e", {"_placeholder": true}]), 0), bad);
        assert_eq!(
            code(json!(["e", {"_placeholder": false, "num": 0}]), 1),
            bad
        );
        assert_eq!(
            code(json!(["e", {"_placeholder": true, "num": 0, "x": 1}]), 1),
            bad
        );
        assert_eq!(
            code(json!(["e", {"_placeholder": true, "num": -1}]), 1),
            bad
        );
        assert_eq!(
            code(json!(["e", {"_placeholder": true, "num": "0"}]), 1),
            bad
        );
    }

    #[test]
    fn key_order_counts_as_socketioxide_reads_it() {
        // socketioxide fills only `_placeholder` first, then `num`.
        let reversed = Value::Str(r#"["e",{"num":0,"_placeholder":true}]"#.into(), None);
        assert!(check_packet(&reversed).is_err());
        let reversed_with_bin = Value::Str(
            r#"["e",{"num":0,"_placeholder":true}]"#.into(),
            Some(VecDeque::from([Bytes::from_static(b"x")])),
        );
        assert!(check_packet(&reversed_with_bin).is_err());
        // Document order, not sorted order, numbers the placeholders.
        let ordered = Value::Str(
            r#"["e",{"b":{"_placeholder":true,"num":0},"a":{"_placeholder":true,"num":1}}]"#.into(),
            Some(VecDeque::from([
                Bytes::from_static(b"1"),
                Bytes::from_static(b"2"),
            ])),
        );
        assert!(check_packet(&ordered).is_ok());
        // Duplicate keys are not a placeholder.
        let duplicate = Value::Str(
            r#"["e",{"_placeholder":true,"num":0,"num":0}]"#.into(),
            Some(VecDeque::from([Bytes::from_static(b"1")])),
        );
        assert!(check_packet(&duplicate).is_err());
    }

    #[test]
    fn msgpack_and_garbage_are_left_to_the_parser() {
        assert!(check_packet(&Value::Bytes(Bytes::from_static(b"\x93"))).is_ok());
        assert!(check_packet(&Value::Str("[\"e\",{".into(), None)).is_ok());
    }

    #[test]
    fn forged_objects_are_found_at_any_depth() {
        let forged = rmpv::Value::Map(vec![(
            rmpv::Value::from(PLACEHOLDER_KEY),
            rmpv::Value::from(true),
        )]);
        assert!(forged_in(&forged));
        let nested = rmpv::Value::Array(vec![rmpv::Value::Map(vec![(
            rmpv::Value::from("a"),
            rmpv::Value::Array(vec![forged.clone()]),
        )])]);
        assert!(forged_in(&nested));
        assert!(refuse_forged(&[rmpv::Value::from(1), nested]).is_err());
        let fine = rmpv::Value::Map(vec![
            (rmpv::Value::from("placeholder"), rmpv::Value::from(true)),
            (rmpv::Value::from("bin"), rmpv::Value::Binary(vec![1, 2])),
        ]);
        assert!(!forged_in(&fine));
        assert!(refuse_forged(&[fine]).is_ok());
    }
}
