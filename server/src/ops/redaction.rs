//! What the Admin UI must never be shown: credentials in handshake headers and
//! queries, and in the events development mode mirrors.
//!
//! A client's token reaches the node in many places (`auth:refresh {token}`, a
//! `?token=` or `?access_token=` query, an `X-Api-Key` header, an app's own
//! `login {password}` event), and the mirror shows whatever a socket sends to
//! every admin. So values are masked by the name they are filed under, not by
//! a list of the places iorelay itself reads.

use serde_json::Value;

/// What a masked value is replaced with.
pub const MASK: &str = "<redacted>";

/// Parts of a name (compared lowercase) that mark its value as a credential.
const SECRET_WORDS: [&str; 11] = [
    "token",
    "password",
    "passwd",
    "secret",
    "authoriz",
    "credential",
    "cookie",
    "session",
    "api-key",
    "api_key",
    "apikey",
];

/// Names masked only when whole (as a part, `auth` would mask `author`).
const SECRET_NAMES: [&str; 4] = ["sid", "jwt", "auth", "key"];

/// Whether a header, query key or object key named `name` holds a credential.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.contains(&name.as_str()) || SECRET_WORDS.iter().any(|w| name.contains(w))
}

/// Masks, in place, the value of every object key of `value` that
/// [`is_secret_name`], at any depth.
pub fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if is_secret_name(key) {
                    *field = Value::String(MASK.to_owned());
                } else {
                    mask_secrets(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_are_masked_by_name_at_any_depth() {
        for name in [
            "token",
            "access_token",
            "Authorization",
            "proxy-authorization",
            "cookie",
            "x-api-key",
            "sessionId",
            "password",
            "sid",
            "x-iorelay-secret",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "name",
            "room",
            "since",
            "topics",
            "user-agent",
            "origin",
            "EIO",
            "author",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
        let mut args = json!(["auth:refresh", {"token": "eyJ.x.y", "nested": [{"password": 1, "keep": "me"}]}]);
        mask_secrets(&mut args);
        assert_eq!(
            args,
            json!(["auth:refresh", {"token": MASK, "nested": [{"password": MASK, "keep": "me"}]}])
        );
    }
}
