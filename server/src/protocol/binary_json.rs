//! Binary inside JSON: `{"$binary": "<base64>"}`, the convention of every
//! JSON surface (publish API bodies and answers, forwarded events and their
//! replies), converted to and from Socket.IO values (bytes become attachments).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

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
