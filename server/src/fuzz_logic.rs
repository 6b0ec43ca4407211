//! The decoders we own, as plain functions that fuzz targets and tests drive.
//!
//! `cargo fuzz` needs a nightly toolchain; these bodies do not. Each target in
//! `fuzz/fuzz_targets/` is one line calling a function here, and the unit
//! tests below run every function over a corpus of hostile inputs on stable,
//! so the decoders are exercised in every `cargo test` even where nightly is
//! missing. A function here must never panic, whatever the bytes: that is the
//! property the fuzzer checks.

use std::sync::OnceLock;

use crate::backends::api::payloads::{DisconnectRequest, EmitRequest, NotifyRequest, RoomsRequest};
use crate::config::AuthConfig;
use crate::protocol::binary_json::{to_json_value, to_socket_value};
use crate::protocol::{chat, notifications, relay, validate_room};
use crate::security::auth::{AuthGate, token_from_query};
use crate::security::identity::validate_name;

/// Publish API bodies: every request struct, then the argument conversion both ways.
pub fn api_bodies(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<EmitRequest>(data) {
        for arg in req.args {
            if let Ok(value) = to_socket_value(arg.clone()) {
                let back = to_json_value(value);
                // Whatever was not a binary marker comes back as it went in, numbers aside.
                if !contains_marker(&arg) && !contains_number(&arg) {
                    assert_eq!(back, arg, "argument did not round-trip");
                }
            }
        }
    }
    if let Ok(req) = serde_json::from_slice::<RoomsRequest>(data) {
        for room in req.rooms {
            let _ = validate_room(&room);
        }
    }
    let _ = serde_json::from_slice::<DisconnectRequest>(data);
    let _ = serde_json::from_slice::<NotifyRequest>(data);
}

/// An API argument converted to a Socket.IO value and back.
pub fn api_argument(data: &[u8]) {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(value) = to_socket_value(json)
    {
        let _ = to_json_value(value);
    }
}

fn contains_marker(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            map.contains_key("$binary") || map.values().any(contains_marker)
        }
        serde_json::Value::Array(items) => items.iter().any(contains_marker),
        _ => false,
    }
}

fn contains_number(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(_) => true,
        serde_json::Value::Object(map) => map.values().any(contains_number),
        serde_json::Value::Array(items) => items.iter().any(contains_number),
        _ => false,
    }
}

/// Client event payloads of every namespace, with the checks handlers apply.
pub fn event_payloads(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<chat::RoomRequest>(data) {
        let _ = validate_room(&req.room);
    }
    if let Ok(req) = serde_json::from_slice::<chat::SendRequest>(data) {
        let _ = validate_room(&req.room);
        let _ = crate::apps::chat::validate_text(&req.text, 2000);
    }
    let _ = serde_json::from_slice::<chat::TypingRequest>(data);
    let _ = serde_json::from_slice::<chat::HistoryRequest>(data);
    if let Ok(req) = serde_json::from_slice::<relay::RelayRequest>(data) {
        for room in req.to.clone().unwrap_or_default() {
            let _ = validate_room(&room);
        }
        let _ = req.emit_args();
    }
    let _ = serde_json::from_slice::<relay::RoomRequest>(data);
    let _ = serde_json::from_slice::<notifications::TopicRequest>(data);
    if let Ok(auth) = serde_json::from_slice::<crate::protocol::user::GuestAuth>(data) {
        let _ = validate_name(auth.name.as_deref().unwrap_or_default());
    }
    // Payloads also come as msgpack with the msgpack parser.
    if let Ok(value) = rmpv::decode::read_value(&mut &data[..]) {
        let _ = rmpv::ext::from_value::<relay::RelayRequest>(value);
    }
}

/// Handshake tokens: the query parameter decoder and the JWT verifier.
pub fn handshake_token(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = token_from_query(&text);
    static GATE: OnceLock<Option<AuthGate>> = OnceLock::new();
    let gate = GATE.get_or_init(|| {
        AuthGate::from_config(&AuthConfig {
            jwt_secret: Some("fuzzing-secret-fuzzing-secret-32b".to_owned()),
            jwt_public_key: None,
            jwt_audience: None,
            jwt_issuer: None,
            private_namespaces: vec!["/chat".to_owned()],
            dev_auth: false,
        })
        .ok()
    });
    if let Some(gate) = gate {
        let _ = gate.admit("/chat", Ok(Some(text.into_owned())));
    }
}

/// A Flask message-queue payload (JSON or pickle), as the bridge decodes it.
pub fn flask_message(data: &[u8]) {
    let _ = crate::backends::flask_bridge::message::decode(data);
}

/// A pickle stream, through the bridge's data-only unpickler.
pub fn pickle(data: &[u8]) {
    let _ = crate::backends::flask_bridge::pickle::decode(data);
}

/// A Django channel-layer message, as each layer kind frames it, with and
/// without encryption, then as an event payload and as a notification.
pub fn django_message(data: &[u8]) {
    use crate::backends::django_bridge::{apply, message};
    static CODECS: OnceLock<[message::Codec; 3]> = OnceLock::new();
    let codecs = CODECS.get_or_init(|| {
        let keys = ["fuzz-key".to_owned()];
        [
            message::Codec::new(message::CORE_RANDOM_PREFIX, &[], 1 << 20),
            message::Codec::new(0, &[], 1 << 20),
            message::Codec::new(0, &keys, 1 << 20),
        ]
    });
    for codec in codecs {
        if let Ok(decoded) = codec.decode(data) {
            let _ = decoded.payload();
            let _ = apply::draft(&decoded);
        }
    }
}

/// A namespace CONNECT as the vendored parser reads it (the namespace query of
/// socket.io-client 2.x, `vendor/VENDORED.md`), then the query as `auth`, and
/// the text as a namespace pattern.
pub fn namespace_connect(data: &[u8]) {
    use socketioxide_core::packet::PacketData;
    use socketioxide_core::parser::{Parse, ParseConfig, ParserState};
    let text = String::from_utf8_lossy(data).into_owned();
    let parsed = socketioxide_parser_common::CommonParser.decode_str(
        &ParseConfig::default(),
        &ParserState::default(),
        socketioxide_core::Str::from(text.clone()),
    );
    if let Ok(packet) = parsed
        && let PacketData::Connect(auth) = packet.inner
    {
        let auth = auth
            .as_ref()
            .and_then(|value| value.as_str())
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text.as_str()).ok());
        let _ = crate::socket::legacy_auth::from_queries(Some(&text), auth);
    }
    if let Ok(pattern) = crate::protocol::namespace_pattern::NamespacePattern::parse(&text) {
        let _ = pattern.matches(&text);
        let _ = pattern.route();
    }
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by name, as `fuzz/` and the corpus test know them.
pub const TARGETS: [(&str, Target); 8] = [
    ("api_bodies", api_bodies),
    ("api_argument", api_argument),
    ("event_payloads", event_payloads),
    ("handshake_token", handshake_token),
    ("flask_message", flask_message),
    ("pickle", pickle),
    ("django_message", django_message),
    ("namespace_connect", namespace_connect),
];

/// Hostile inputs every target gets in the tests (the seed corpus of `fuzz/`).
pub fn hostile_corpus() -> Vec<Vec<u8>> {
    let mut corpus: Vec<Vec<u8>> = [
        "",
        "{",
        "}",
        "null",
        "[]",
        "\"\"",
        "{\"event\":\"x\",\"args\":[{\"$binary\":\"***\"}]}",
        "{\"event\":\"x\",\"args\":[{\"$binary\":\"AAEC\"},{\"a\":[1,2.5,-3,1e308]}]}",
        "{\"event\":\"\",\"namespace\":\"\",\"rooms\":[\"\",\"a b\"],\"ack_timeout_ms\":18446744073709551615}",
        "{\"namespace\":\"/\",\"target\":\"x\",\"rooms\":\"\\u0000\"}",
        "{\"users\":[\"\"],\"title\":\"\",\"data\":{\"$binary\":1}}",
        "{\"room\":\"general\"}",
        "{\"room\":\"general\",\"text\":\"\\u0000\\u0007\"}",
        "{\"room\":1}",
        "{\"room\":\"x\",\"before\":-1,\"after\":1e99,\"limit\":18446744073709551616}",
        "{\"to\":[\"a\",\"b\"],\"event\":\"connect\",\"args\":[null,{\"_placeholder\":true,\"num\":99}]}",
        "{\"name\":\"\\ud800\"}",
        "token=%ZZ&token=%",
        "token=%e2%82",
        "eyJhbGciOiJub25lIn0.e30.",
        "a.b.c",
        "..",
        "{\"method\":\"emit\",\"event\":\"x\",\"namespace\":null,\"data\":[],\"room\":[[]],\"skip_sid\":{}}",
        "{\"method\":\"emit\",\"binary\":true,\"data\":[{\"_placeholder\":true,\"num\":-1}]}",
        "{\"method\":\"disconnect\"}",
        "0/chat?name=%ZZ&token=%e2%82&=&&name,",
        "0/?",
        "0/chat?name=x,{\"name\":1}",
        "2/tenant-*?x=1,[\"e\"]",
        "/tenant-*/*-x",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    corpus.push(vec![0xff, 0xfe, 0x00, 0x80]);
    corpus.push("[".repeat(10_000).into_bytes());
    corpus.push(format!("{{\"room\":\"{}\"}}", "x".repeat(100_000)).into_bytes());
    // Pickle: protocol 4 header then truncated, a GLOBAL opcode, deep nesting, huge lengths.
    corpus.push(vec![0x80, 0x04, 0x95]);
    corpus.push(b"\x80\x04cos\nsystem\n(S'id'\ntR.".to_vec());
    corpus.push([vec![0x80, 0x04], vec![b']'; 50_000], vec![b'.']].concat());
    corpus.push(vec![0x80, 0x04, b'B', 0xff, 0xff, 0xff, 0x7f]);
    corpus.push(vec![
        0x80, 0x05, b'\x8e', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ]);
    // msgpack: a map claiming 2^32-1 entries, a str claiming 4 GiB.
    corpus.push(vec![0xdf, 0xff, 0xff, 0xff, 0xff]);
    corpus.push(vec![0xdb, 0xff, 0xff, 0xff, 0xff, b'a']);
    corpus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_survives_the_hostile_corpus() {
        let corpus = hostile_corpus();
        for (name, target) in TARGETS {
            for input in &corpus {
                let outcome = std::panic::catch_unwind(|| target(input));
                assert!(
                    outcome.is_ok(),
                    "fuzz target {name} panicked on {:?}",
                    String::from_utf8_lossy(&input[..input.len().min(200)])
                );
            }
        }
    }

    #[test]
    fn every_target_survives_mutations_of_the_corpus() {
        // A tiny deterministic mutator (xorshift): flips, truncations, splices.
        let corpus = hostile_corpus();
        let mut next = crate::test_support::xorshift();
        for round in 0..3_000 {
            let base = &corpus[round % corpus.len()];
            let mut input = base.clone();
            if input.len() > 100_000 {
                input.truncate(4096);
            }
            for _ in 0..(next() % 4 + 1) {
                let r = next();
                match r % 3 {
                    0 if !input.is_empty() => {
                        let i = (r as usize / 3) % input.len();
                        input[i] ^= (r >> 32) as u8;
                    }
                    1 if !input.is_empty() => {
                        input.truncate((r as usize / 3) % input.len());
                    }
                    _ => {
                        let other = &corpus[(r as usize / 3) % corpus.len()];
                        input.extend_from_slice(&other[..other.len().min(64)]);
                    }
                }
            }
            for (name, target) in TARGETS {
                let outcome = std::panic::catch_unwind(|| target(&input));
                assert!(outcome.is_ok(), "fuzz target {name} panicked on {input:?}");
            }
        }
    }
}
