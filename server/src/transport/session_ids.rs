//! Engine.IO session ids that only the client that opened the session knows.
//!
//! socketioxide connects a client's namespaces with its Engine.IO session id,
//! so a socket's id *is* its session id, and iorelay tells apps to use socket
//! ids as addresses (sid rooms, relay targets, API listings, Flask `to=sid`).
//! Anyone who learned one could then continue that session: poll its traffic,
//! upgrade it to a WebSocket of their own, act as its user. Node socket.io
//! keeps the two apart since v3; here the same is done around socketioxide:
//! the handshake hands the client `sid + tag`, where `tag` is an HMAC of the
//! sid under a key that never leaves the process, and every later request must
//! present that whole id. The engine only ever sees the bare sid. The socket
//! id apps and other clients see is the bare sid, which opens nothing.
//!
//! Stateless: nothing is stored per session; a restarted process has a new key
//! (its sessions are gone anyway).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use subtle::ConstantTimeEq;

/// Length of an Engine.IO sid (socketioxide's).
pub const SID_LEN: usize = 16;
/// Bytes of the HMAC kept in the tag (128 bits).
const TAG_BYTES: usize = 16;
/// Length of the tag in base64url without padding.
const TAG_LEN: usize = 22;

/// The key that signs session ids of this process.
pub struct SessionKey(hmac::Key);

impl SessionKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let rng = ring::rand::SystemRandom::new();
        hmac::Key::generate(hmac::HMAC_SHA256, &rng).map(Self)
    }

    /// A key from fixed bytes (tests).
    #[cfg(test)]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    fn tag(&self, sid: &str) -> String {
        let tag = hmac::sign(&self.0, sid.as_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..TAG_BYTES])
    }

    /// The id the client gets for engine session `sid`.
    pub fn client_id(&self, sid: &str) -> String {
        format!("{sid}{}", self.tag(sid))
    }

    /// The engine sid behind a client-presented id, if the id is genuine.
    pub fn verify<'a>(&self, client_id: &'a str) -> Option<&'a str> {
        if client_id.len() != SID_LEN + TAG_LEN || !client_id.is_ascii() {
            return None;
        }
        let (sid, tag) = client_id.split_at(SID_LEN);
        let expected = self.tag(sid);
        bool::from(expected.as_bytes().ct_eq(tag.as_bytes())).then_some(sid)
    }
}

/// `query` with the value of its first `sid=` pair replaced by `sid`.
pub fn with_sid(query: &str, sid: &str) -> String {
    let mut replaced = false;
    query
        .split('&')
        .map(|pair| {
            if !replaced && pair.starts_with("sid=") {
                replaced = true;
                format!("sid={sid}")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The engine sid in a polling handshake body (`0{"sid":"…",…}`, with Engine.IO
/// v3's `len:` prefix or not).
pub fn handshake_sid(body: &str) -> Option<&str> {
    let open = body.find("0{")?;
    let rest = &body[open..];
    let start = rest.find(r#""sid":""#)? + r#""sid":""#.len();
    rest.get(start..start + SID_LEN)
}

/// Rewrites a polling handshake body: the sid becomes the client id, and with
/// `no_upgrades` the WebSocket upgrade offer is removed. Engine.IO v3's
/// `len:packet` framing is recomputed.
pub fn rewrite_handshake(body: &str, sid: &str, client_id: &str, no_upgrades: bool) -> String {
    let (v3_prefix, packet) = match body.split_once(':') {
        Some((len, packet)) if !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()) => {
            (true, packet)
        }
        _ => (false, body),
    };
    let mut packet = packet.replacen(
        &format!(r#""sid":"{sid}""#),
        &format!(r#""sid":"{client_id}""#),
        1,
    );
    if no_upgrades {
        packet = packet.replacen(r#""upgrades":["websocket"]"#, r#""upgrades":[]"#, 1);
    }
    if v3_prefix {
        format!("{}:{packet}", packet.chars().count())
    } else {
        packet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AbCdEfGhIjKlMn_-";

    #[test]
    fn client_ids_verify_and_forgeries_do_not() {
        let key = SessionKey::from_bytes(b"test key");
        let id = key.client_id(SID);
        assert_eq!(id.len(), SID_LEN + TAG_LEN);
        assert!(id.starts_with(SID));
        assert_eq!(key.verify(&id), Some(SID));
        // The bare sid, a truncated or altered tag, another key's tag: refused.
        assert_eq!(key.verify(SID), None);
        assert_eq!(key.verify(&id[..id.len() - 1]), None);
        let mut altered = id.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            key.verify(&String::from_utf8(altered).expect("ascii")),
            None
        );
        let other = SessionKey::from_bytes(b"other key").client_id(SID);
        assert_eq!(key.verify(&other), None);
        // Another sid with this sid's tag.
        let swapped = format!("{}{}", "ZZZZZZZZZZZZZZZZ", &id[SID_LEN..]);
        assert_eq!(key.verify(&swapped), None);
        assert_eq!(key.verify("é".repeat(19).as_str()), None);
    }

    #[test]
    fn generated_keys_differ() {
        let a = SessionKey::generate().expect("key");
        let b = SessionKey::generate().expect("key");
        assert_ne!(a.client_id(SID), b.client_id(SID));
    }

    #[test]
    fn the_sid_is_read_and_replaced_like_the_engine_reads_it() {
        let q = "EIO=4&transport=polling&sid=first&sid=second&t=x";
        assert_eq!(crate::protocol::engine_io::query_sid(q), Some("first"));
        assert_eq!(
            with_sid(q, "INNER"),
            "EIO=4&transport=polling&sid=INNER&sid=second&t=x"
        );
    }

    #[test]
    fn handshakes_are_rewritten() {
        let v4 = format!(
            r#"0{{"sid":"{SID}","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
        );
        assert_eq!(handshake_sid(&v4), Some(SID));
        let out = rewrite_handshake(&v4, SID, "CLIENTID", false);
        assert!(
            out.starts_with(r#"0{"sid":"CLIENTID","upgrades":["websocket"]"#),
            "{out}"
        );
        let out = rewrite_handshake(&v4, SID, "CLIENTID", true);
        assert!(out.contains(r#""upgrades":[]"#), "{out}");

        let packet = format!(r#"0{{"sid":"{SID}","upgrades":["websocket"],"pingInterval":25000}}"#);
        let v3 = format!("{}:{packet}", packet.chars().count());
        assert_eq!(handshake_sid(&v3), Some(SID));
        let out = rewrite_handshake(&v3, SID, "CLIENTID_LONGER_THAN_THE_SID", false);
        let (len, rest) = out.split_once(':').expect("framed");
        assert_eq!(len.parse::<usize>().expect("len"), rest.chars().count());
        assert!(rest.contains("CLIENTID_LONGER_THAN_THE_SID"));
    }
}
