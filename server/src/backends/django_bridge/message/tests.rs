//! Decoding messages written by the real `channels_redis` 4.3.0
//! (`fixtures/`, made by `tests/python/django_layer.py`'s `dump` op), and
//! mutations of them.

use super::*;

const CORE_PLAIN: &[u8] = include_bytes!("../fixtures/core-plain.bin");
const CORE_ENCRYPTED: &[u8] = include_bytes!("../fixtures/core-encrypted.bin");
const PUBSUB_PLAIN: &[u8] = include_bytes!("../fixtures/pubsub-plain.bin");
const PUBSUB_ENCRYPTED: &[u8] = include_bytes!("../fixtures/pubsub-encrypted.bin");

/// The keys the encrypted fixtures were made with, newest first.
fn keys() -> Vec<String> {
    vec!["new-key".to_owned(), "secret-one".to_owned()]
}

fn core(keys: &[String]) -> Codec {
    Codec::new(CORE_RANDOM_PREFIX, keys, 1 << 20)
}

fn pubsub(keys: &[String]) -> Codec {
    Codec::new(0, keys, 1 << 20)
}

/// `{"type": "order.update", "id": 7, "items": ["a", "b"], "nested": {"ok": True, "price": 1.5}}`
fn expected(channels: &[&str]) -> GroupMessage {
    GroupMessage {
        event: "order.update".to_owned(),
        fields: vec![
            ("id".to_owned(), Value::from(7)),
            (
                "items".to_owned(),
                Value::Array(vec![Value::from("a"), Value::from("b")]),
            ),
            (
                "nested".to_owned(),
                Value::Map(vec![
                    (Value::from("ok"), Value::from(true)),
                    (Value::from("price"), Value::F64(1.5)),
                ]),
            ),
        ],
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
    }
}

fn reason(result: Result<GroupMessage, Rejection>) -> RejectReason {
    match result {
        Ok(m) => panic!("decoded {m:?}"),
        Err(r) => r.reason,
    }
}

#[test]
fn real_messages_of_both_layers_decode() {
    assert_eq!(
        core(&[]).decode(CORE_PLAIN),
        Ok(expected(&["iorelay.n1!orders"]))
    );
    assert_eq!(pubsub(&[]).decode(PUBSUB_PLAIN), Ok(expected(&[])));
    assert_eq!(
        core(&keys()).decode(CORE_ENCRYPTED),
        Ok(expected(&["iorelay.n1!orders"]))
    );
    assert_eq!(pubsub(&keys()).decode(PUBSUB_ENCRYPTED), Ok(expected(&[])));
    // Only one of the keys opens them (the layer encrypts with its first key,
    // "new-key"); an older key listed alone does not.
    assert_eq!(
        pubsub(&["new-key".to_owned()]).decode(PUBSUB_ENCRYPTED),
        Ok(expected(&[]))
    );
    let payload = expected(&[]).payload();
    assert_eq!(payload.as_map().map(Vec::len), Some(3));
}

#[test]
fn a_wrong_key_or_a_missing_one_is_refused() {
    let wrong = vec!["not-the-key".to_owned()];
    assert_eq!(
        reason(pubsub(&wrong).decode(PUBSUB_ENCRYPTED)),
        RejectReason::BadEncryption
    );
    assert_eq!(
        reason(core(&wrong).decode(CORE_ENCRYPTED)),
        RejectReason::BadEncryption
    );
    assert_eq!(
        reason(pubsub(&keys()).decode(PUBSUB_PLAIN)),
        RejectReason::BadEncryption
    );
    assert_eq!(
        reason(pubsub(&[]).decode(PUBSUB_ENCRYPTED)),
        RejectReason::MalformedMsgpack
    );
}

#[test]
fn mutations_are_refused_never_panic() {
    for codec in [core(&[]), pubsub(&[]), core(&keys()), pubsub(&keys())] {
        for fixture in [CORE_PLAIN, CORE_ENCRYPTED, PUBSUB_PLAIN, PUBSUB_ENCRYPTED] {
            for cut in 0..fixture.len() {
                let _ = codec.decode(&fixture[..cut]);
            }
            for i in 0..fixture.len() {
                for bit in [0x01, 0x80, 0xFF] {
                    let mut flipped = fixture.to_vec();
                    flipped[i] ^= bit;
                    let _ = codec.decode(&flipped);
                }
            }
        }
    }
    let plain = pubsub(&[]);
    assert_eq!(
        reason(plain.decode(&PUBSUB_PLAIN[..20])),
        RejectReason::MalformedMsgpack
    );
    let mut trailing = PUBSUB_PLAIN.to_vec();
    trailing.push(0xC0);
    assert_eq!(
        reason(plain.decode(&trailing)),
        RejectReason::MalformedMsgpack
    );
    assert_eq!(
        reason(core(&[]).decode(&[1, 2, 3])),
        RejectReason::MalformedMsgpack
    );
    let small = Codec::new(0, &[], 60);
    assert_eq!(reason(small.decode(PUBSUB_PLAIN)), RejectReason::TooLarge);
}

fn pack(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).expect("in memory");
    out
}

fn dict(pairs: Vec<(Value, Value)>) -> Value {
    Value::Map(pairs)
}

#[test]
fn shapes_no_client_can_receive_are_refused() {
    let plain = pubsub(&[]);
    let typed = |extra: (Value, Value)| dict(vec![(Value::from("type"), Value::from("x")), extra]);
    let cases = [
        Value::Array(vec![Value::from(1)]),
        dict(vec![(Value::from("id"), Value::from(1))]),
        dict(vec![(Value::from("type"), Value::from(5))]),
        typed((Value::from(1), Value::from(2))),
        typed((Value::from("odd"), Value::Ext(5, vec![1]))),
        typed((
            Value::from("deep"),
            dict(vec![(Value::from(1), Value::Nil)]),
        )),
        dict(vec![
            (Value::from("type"), Value::from("x")),
            (Value::from("__asgi_channel__"), Value::from(3)),
        ]),
    ];
    for case in cases {
        assert_eq!(
            reason(plain.decode(&pack(&case))),
            RejectReason::BadShape,
            "{case:?}"
        );
    }
    let mut deep = Value::from(1);
    for _ in 0..200 {
        deep = Value::Array(vec![deep]);
    }
    let deep = pack(&typed((Value::from("d"), deep)));
    assert_eq!(reason(plain.decode(&deep)), RejectReason::MalformedMsgpack);
    // An array header claiming 4 billion items, and nothing after it.
    let mut lying = pack(&dict(vec![(Value::from("type"), Value::from("x"))]));
    lying[0] = 0x82;
    lying.extend([0xA1, b'a', 0xDD, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(reason(plain.decode(&lying)), RejectReason::MalformedMsgpack);
    let bytes = typed((Value::from("raw"), Value::Binary(vec![0, 255])));
    let decoded = plain
        .decode(&pack(&bytes))
        .expect("bytes are fine for an event");
    assert_eq!(decoded.fields[0].1, Value::Binary(vec![0, 255]));
    assert!(
        to_json(&decoded.fields[0].1).is_err(),
        "but have no JSON form"
    );
}

#[test]
fn one_channel_name_or_a_list() {
    let single = dict(vec![
        (Value::from("type"), Value::from("x")),
        (Value::from("__asgi_channel__"), Value::from("a!b")),
    ]);
    let decoded = pubsub(&[]).decode(&pack(&single)).expect("valid");
    assert_eq!(decoded.channels, ["a!b"]);
    assert!(decoded.fields.is_empty());
}
