//! Engine.IO v4 / Socket.IO v5 text framing, just what the load tool needs.
//!
//! Engine.IO packets are one type digit and a payload (`0{handshake}`, `2`
//! ping, `3` pong, `4<socket.io packet>`); long-polling bodies join several of
//! them with the record separator `0x1e`. Socket.IO packets are one type digit,
//! an optional namespace (`/chat,`), an optional ack id and JSON data:
//! `40`, `42["event",...]`, `43<id>[...]`, `44{...}`.

use std::fmt::Write as _;

/// Separator of Engine.IO packets in a long-polling body.
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// Engine.IO packet types (the first character of a packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EioType {
    /// `0` handshake.
    Open,
    /// `1` close.
    Close,
    /// `2` ping.
    Ping,
    /// `3` pong.
    Pong,
    /// `4` a Socket.IO packet follows.
    Message,
    /// `5` upgrade.
    Upgrade,
    /// `6` no-op.
    Noop,
}

impl EioType {
    /// The type of an Engine.IO text packet, `None` when it is empty or unknown.
    pub fn of(packet: &[u8]) -> Option<EioType> {
        match packet.first()? {
            b'0' => Some(EioType::Open),
            b'1' => Some(EioType::Close),
            b'2' => Some(EioType::Ping),
            b'3' => Some(EioType::Pong),
            b'4' => Some(EioType::Message),
            b'5' => Some(EioType::Upgrade),
            b'6' => Some(EioType::Noop),
            _ => None,
        }
    }
}

/// Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SioType {
    /// `0` namespace connect (and its answer).
    Connect,
    /// `1` namespace disconnect.
    Disconnect,
    /// `2` event.
    Event,
    /// `3` acknowledgement.
    Ack,
    /// `4` refused connection.
    ConnectError,
    /// `5` event with binary attachments.
    BinaryEvent,
    /// `6` ack with binary attachments.
    BinaryAck,
}

/// A Socket.IO packet borrowed from an Engine.IO message packet (without its leading `4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SioPacket<'a> {
    /// Packet type.
    pub kind: SioType,
    /// Namespace, `/` when the packet names none.
    pub nsp: &'a str,
    /// Ack id, if any.
    pub ack_id: Option<u64>,
    /// The JSON data, possibly empty.
    pub data: &'a str,
}

/// Why a packet could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parses a Socket.IO packet (the text after the Engine.IO `4`).
pub fn parse_sio(s: &str) -> Result<SioPacket<'_>, ParseError> {
    let bytes = s.as_bytes();
    let kind = match bytes.first() {
        Some(b'0') => SioType::Connect,
        Some(b'1') => SioType::Disconnect,
        Some(b'2') => SioType::Event,
        Some(b'3') => SioType::Ack,
        Some(b'4') => SioType::ConnectError,
        Some(b'5') => SioType::BinaryEvent,
        Some(b'6') => SioType::BinaryAck,
        Some(_) => return Err(ParseError("unknown socket.io packet type")),
        None => return Err(ParseError("empty socket.io packet")),
    };
    let mut i = 1;
    if matches!(kind, SioType::BinaryEvent | SioType::BinaryAck) {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || bytes.get(i) != Some(&b'-') {
            return Err(ParseError("binary packet without attachment count"));
        }
        i += 1;
    }
    let mut nsp = "/";
    if bytes.get(i) == Some(&b'/') {
        let start = i;
        while i < bytes.len() && bytes[i] != b',' {
            i += 1;
        }
        nsp = &s[start..i];
        if i < bytes.len() {
            i += 1; // the comma
        }
    }
    let start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let ack_id = if i > start {
        Some(
            s[start..i]
                .parse::<u64>()
                .map_err(|_| ParseError("ack id out of range"))?,
        )
    } else {
        None
    };
    Ok(SioPacket {
        kind,
        nsp,
        ack_id,
        data: &s[i..],
    })
}

/// Appends the namespace prefix (`/chat,`) unless it is the main namespace.
fn push_nsp(out: &mut String, nsp: &str) {
    if nsp != "/" && !nsp.is_empty() {
        out.push_str(nsp);
        out.push(',');
    }
}

/// Engine.IO message carrying a Socket.IO CONNECT to `nsp`, with optional auth JSON.
pub fn encode_connect(nsp: &str, auth: Option<&str>) -> String {
    let mut out = String::with_capacity(8 + nsp.len() + auth.map_or(0, str::len));
    out.push_str("40");
    push_nsp(&mut out, nsp);
    if let Some(auth) = auth {
        out.push_str(auth);
    }
    out
}

/// Engine.IO message carrying a Socket.IO EVENT; `array` is the JSON array `["event", args...]`.
pub fn encode_event(nsp: &str, ack_id: Option<u64>, array: &str) -> String {
    let mut out = String::with_capacity(24 + nsp.len() + array.len());
    out.push_str("42");
    push_nsp(&mut out, nsp);
    if let Some(id) = ack_id {
        let _ = write!(out, "{id}");
    }
    out.push_str(array);
    out
}

/// Engine.IO message carrying a Socket.IO ACK; `array` is the JSON array of ack arguments.
pub fn encode_ack(nsp: &str, ack_id: u64, array: &str) -> String {
    let mut out = String::with_capacity(24 + nsp.len() + array.len());
    out.push_str("43");
    push_nsp(&mut out, nsp);
    let _ = write!(out, "{ack_id}");
    out.push_str(array);
    out
}

/// The event name of an EVENT packet's data (`["name", ...]`), if it is a plain string.
pub fn event_name(data: &str) -> Option<&str> {
    let rest = data.strip_prefix('[')?.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    let name = &rest[..end];
    if name.contains('\\') {
        return None;
    }
    Some(name)
}

/// Finds `"key": <unsigned integer>` in JSON text without parsing the whole document.
///
/// Good enough for payloads the load tool writes itself (unique keys, integers);
/// tolerates the spaces that Python's `json.dumps` puts after colons.
pub fn json_u64_field(json: &str, key: &str) -> Option<u64> {
    leading_u64(&json[value_start(json, key)?..])
}

/// The start of the string value of `"key"` (up to its closing quote, escapes
/// not decoded): `{"text":"123 hi"}` gives `123 hi`.
pub fn json_str_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let rest = json[value_start(json, key)?..].strip_prefix('"')?;
    let end = rest.find('"').unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Byte offset of the value that follows the first `"key":` (spaces skipped).
fn value_start(json: &str, key: &str) -> Option<usize> {
    let bytes = json.as_bytes();
    let skip_spaces = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut from = 0;
    while let Some(pos) = find_quoted(&json[from..], key) {
        let after_key = skip_spaces(from + pos + key.len() + 2);
        if bytes.get(after_key) == Some(&b':') {
            return Some(skip_spaces(after_key + 1));
        }
        from = from + pos + 1;
    }
    None
}

/// The unsigned integer at the start of `s`, if any.
pub fn leading_u64(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    s[..digits].parse().ok()
}

/// Position of `"key"` in `haystack`.
fn find_quoted(haystack: &str, key: &str) -> Option<usize> {
    let hb = haystack.as_bytes();
    let kb = key.as_bytes();
    let mut from = 0;
    while let Some(pos) = haystack[from..].find(key) {
        let at = from + pos;
        if at >= 1 && hb[at - 1] == b'"' && hb.get(at + kb.len()) == Some(&b'"') {
            return Some(at - 1);
        }
        from = at + 1;
    }
    None
}

/// The text of a message in the join-storm and slow-consumer cases: send time
/// (µs on the sender's clock), sequence number from 0, padding.
pub fn seq_text(ts_us: u64, seq: u64, pad: &str) -> String {
    format!("{ts_us} {seq} {pad}")
}

/// `(send time µs, sequence number)` of a [`seq_text`] (the real-client worker writes the same).
pub fn parse_seq_text(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.splitn(3, ' ');
    let ts = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    Some((ts, seq))
}

/// Whether an ACK's data reports success (`[{"ok":true,...}]`).
pub fn ack_is_ok(data: &str) -> bool {
    let Some(rest) = data.find("\"ok\"").map(|p| &data[p + 4..]) else {
        return false;
    };
    rest.trim_start()
        .strip_prefix(':')
        .is_some_and(|r| r.trim_start().starts_with("true"))
}

/// Splits a long-polling body into Engine.IO packets.
pub fn split_payload(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|b| *b == RECORD_SEPARATOR)
        .filter(|packet| !packet.is_empty())
}

/// Joins Engine.IO packets into one long-polling body.
pub fn join_payload<S: AsRef<str>>(packets: &[S]) -> String {
    let mut out = String::with_capacity(packets.iter().map(|p| p.as_ref().len() + 1).sum());
    for (i, packet) in packets.iter().enumerate() {
        if i > 0 {
            out.push(char::from(RECORD_SEPARATOR));
        }
        out.push_str(packet.as_ref());
    }
    out
}

/// What the load tool needs from the Engine.IO handshake (`0{...}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// Session id.
    pub sid: String,
    /// Heartbeat interval, ms.
    #[serde(default)]
    pub ping_interval: u64,
    /// Upgrades the server offers.
    #[serde(default)]
    pub upgrades: Vec<String>,
}

/// Parses an Engine.IO open packet (`0{...}`).
pub fn parse_open(packet: &[u8]) -> Result<Handshake, ParseError> {
    match packet.split_first() {
        Some((b'0', json)) => {
            serde_json::from_slice(json).map_err(|_| ParseError("bad handshake JSON"))
        }
        _ => Err(ParseError("expected an Engine.IO open packet")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eio_types() {
        assert_eq!(EioType::of(b"2"), Some(EioType::Ping));
        assert_eq!(EioType::of(b"3probe"), Some(EioType::Pong));
        assert_eq!(EioType::of(b"42[\"a\"]"), Some(EioType::Message));
        assert_eq!(EioType::of(b"0{}"), Some(EioType::Open));
        assert_eq!(EioType::of(b"6"), Some(EioType::Noop));
        assert_eq!(EioType::of(b""), None);
        assert_eq!(EioType::of(b"x"), None);
    }

    #[test]
    fn parses_event_on_main_namespace() {
        let p = parse_sio(r#"2["tick",{"seq":1}]"#).expect("parse");
        assert_eq!(p.kind, SioType::Event);
        assert_eq!(p.nsp, "/");
        assert_eq!(p.ack_id, None);
        assert_eq!(p.data, r#"["tick",{"seq":1}]"#);
        assert_eq!(event_name(p.data), Some("tick"));
    }

    #[test]
    fn parses_ack_with_namespace_and_id() {
        let p = parse_sio(r#"3/chat,17[{"ok":true,"id":3}]"#).expect("parse");
        assert_eq!(p.kind, SioType::Ack);
        assert_eq!(p.nsp, "/chat");
        assert_eq!(p.ack_id, Some(17));
        assert_eq!(p.data, r#"[{"ok":true,"id":3}]"#);
        assert!(ack_is_ok(p.data));
    }

    #[test]
    fn parses_connect_answers() {
        let p = parse_sio(r#"0{"sid":"abc"}"#).expect("parse");
        assert_eq!((p.kind, p.nsp, p.ack_id), (SioType::Connect, "/", None));
        let p = parse_sio(r#"0/chat,{"sid":"abc"}"#).expect("parse");
        assert_eq!((p.kind, p.nsp), (SioType::Connect, "/chat"));
        let p = parse_sio(r#"4/chat,{"message":"invalid_name: x"}"#).expect("parse");
        assert_eq!(p.kind, SioType::ConnectError);
        let p = parse_sio("1/chat,").expect("parse");
        assert_eq!((p.kind, p.nsp, p.data), (SioType::Disconnect, "/chat", ""));
        let p = parse_sio("0").expect("parse");
        assert_eq!((p.nsp, p.data), ("/", ""));
    }

    #[test]
    fn parses_binary_headers_and_rejects_garbage() {
        let p = parse_sio(r#"51-/x,9["a",{"_placeholder":true,"num":0}]"#).expect("parse");
        assert_eq!(
            (p.kind, p.nsp, p.ack_id),
            (SioType::BinaryEvent, "/x", Some(9))
        );
        assert!(parse_sio("").is_err());
        assert!(parse_sio("9[]").is_err());
        assert!(parse_sio("5[]").is_err());
        assert!(parse_sio("399999999999999999999999[]").is_err());
    }

    #[test]
    fn encodes_packets() {
        assert_eq!(encode_connect("/", None), "40");
        assert_eq!(
            encode_connect("/chat", Some(r#"{"name":"a"}"#)),
            r#"40/chat,{"name":"a"}"#
        );
        assert_eq!(encode_event("/", None, r#"["a",1]"#), r#"42["a",1]"#);
        assert_eq!(
            encode_event("/chat", Some(5), r#"["join",{"room":"r"}]"#),
            r#"42/chat,5["join",{"room":"r"}]"#
        );
        assert_eq!(encode_ack("/", 3, "[1]"), "433[1]");
        assert_eq!(encode_ack("/x", 3, "[]"), "43/x,3[]");
    }

    #[test]
    fn encoded_packets_parse_back() {
        let text = encode_event("/chat", Some(42), r#"["message",{"room":"r","text":"hi"}]"#);
        let p = parse_sio(&text[1..]).expect("parse");
        assert_eq!(p.kind, SioType::Event);
        assert_eq!(p.nsp, "/chat");
        assert_eq!(p.ack_id, Some(42));
        assert_eq!(event_name(p.data), Some("message"));
    }

    #[test]
    fn event_names() {
        assert_eq!(event_name(r#"[ "tick" ,1]"#), Some("tick"));
        assert_eq!(event_name(r#"["a\"b",1]"#), None);
        assert_eq!(event_name(r#"{"a":1}"#), None);
        assert_eq!(event_name(""), None);
    }

    #[test]
    fn finds_integer_fields() {
        let js = r#"["tick",{"seq":12,"ts":1700000000123456,"pad":"xx"}]"#;
        assert_eq!(json_u64_field(js, "ts"), Some(1_700_000_000_123_456));
        assert_eq!(json_u64_field(js, "seq"), Some(12));
        assert_eq!(json_u64_field(js, "pad"), None);
        assert_eq!(json_u64_field(js, "missing"), None);
        // Python's json.dumps writes ", " and ": ".
        assert_eq!(json_u64_field(r#"{"seq": 3, "ts": 99}"#, "ts"), Some(99));
        // A key that appears as a value first, then as a key.
        assert_eq!(json_u64_field(r#"{"a":"ts","ts":5}"#, "ts"), Some(5));
        // Keys that merely contain the name do not match.
        assert_eq!(json_u64_field(r#"{"tss":1,"xts":2}"#, "ts"), None);
    }

    #[test]
    fn finds_string_fields() {
        let js =
            r#"["message",{"id":3,"room":"r1","from":{"id":"guest:u1"},"text":"1700 hi","ts":5}]"#;
        assert_eq!(json_str_field(js, "text"), Some("1700 hi"));
        assert_eq!(json_str_field(js, "room"), Some("r1"));
        assert_eq!(json_str_field(js, "id"), None, "the first id is a number");
        assert_eq!(json_str_field(r#"{"text": "9 x"}"#, "text"), Some("9 x"));
        assert_eq!(leading_u64("1700 hi"), Some(1700));
        assert_eq!(leading_u64("hi"), None);
    }

    #[test]
    fn sequenced_texts_round_trip() {
        let text = seq_text(1_700_000_000_123_456, 42, "xxxx");
        assert_eq!(text, "1700000000123456 42 xxxx");
        assert_eq!(parse_seq_text(&text), Some((1_700_000_000_123_456, 42)));
        assert_eq!(parse_seq_text("5 7"), Some((5, 7)), "no padding");
        assert_eq!(parse_seq_text("5"), None);
        assert_eq!(parse_seq_text("hello 7 x"), None);
        assert_eq!(parse_seq_text("5 -1 x"), None);
        // Inside a chat message event, as the server sends it.
        let event = r#"["message",{"id":43,"room":"storm","from":{"id":"guest:u0","name":"u0"},"text":"99 42 xx","ts":1}]"#;
        let text = json_str_field(event, "text").expect("text");
        assert_eq!(parse_seq_text(text), Some((99, 42)));
    }

    #[test]
    fn ack_success() {
        assert!(ack_is_ok(r#"[{"ok":true,"rooms":["r"]}]"#));
        assert!(ack_is_ok(r#"[{"ok": true}]"#));
        assert!(!ack_is_ok(r#"[{"ok":false,"error":{"code":"x"}}]"#));
        assert!(!ack_is_ok("[]"));
    }

    #[test]
    fn polling_payloads_round_trip() {
        let body = join_payload(&["40", "2", r#"42["a"]"#]);
        assert_eq!(body.as_bytes(), b"40\x1e2\x1e42[\"a\"]");
        let parts: Vec<&[u8]> = split_payload(body.as_bytes()).collect();
        assert_eq!(parts, vec![&b"40"[..], b"2", b"42[\"a\"]"]);
        assert_eq!(split_payload(b"").count(), 0);
        assert_eq!(join_payload::<&str>(&[]), "");
    }

    #[test]
    fn parses_handshake() {
        let hs = parse_open(
            br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        )
        .expect("open");
        assert_eq!(hs.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!(hs.ping_interval, 25000);
        assert_eq!(hs.upgrades, vec!["websocket".to_owned()]);
        assert!(parse_open(b"40").is_err());
        assert!(parse_open(b"0{").is_err());
    }
}
