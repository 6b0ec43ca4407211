//! Decoder tests on what real Python writes (fixtures made by
//! tests/python/make_fixtures.py: `json-*` from Flask-SocketIO 5.7 on
//! python-socketio 5.18, `pickle-*` from python-socketio 5.13) and on hostile input.

use rmpv::Value;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/src/backends/flask_bridge/fixtures/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn emit_of(name: &str) -> Emit {
    match decode(&fixture(name)) {
        Ok(QueueMessage::Emit(emit)) => emit,
        other => panic!("{name}: {other:?}"),
    }
}

fn reason_of(bytes: &[u8]) -> RejectReason {
    match decode(bytes) {
        Err(rejection) => rejection.reason,
        Ok(message) => panic!("{bytes:?} decoded to {message:?}"),
    }
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

#[test]
fn both_encodings_mean_the_same() {
    for encoding in ["json", "pickle"] {
        let room = emit_of(&format!("{encoding}-emit_room"));
        assert_eq!(room.namespace, "/");
        assert_eq!(room.event, "greet");
        assert_eq!(room.rooms, Some(vec!["room1".to_owned()]));
        assert!(room.skip_sids.is_empty());
        assert!(!room.wants_callback);
        assert_eq!(
            room.args,
            vec![map(&[("text", Value::from("hi")), ("n", Value::from(1))])]
        );

        let skip = emit_of(&format!("{encoding}-emit_rooms_skip"));
        assert_eq!(skip.namespace, "/admin");
        assert_eq!(skip.rooms, Some(vec!["r1".to_owned(), "r2".to_owned()]));
        assert_eq!(skip.skip_sids, vec!["s1".to_owned(), "s2".to_owned()]);
        assert_eq!(skip.args, vec![Value::from("x")]);

        let multi = emit_of(&format!("{encoding}-emit_multi"));
        assert_eq!(multi.rooms, None, "room null = the whole namespace");
        assert_eq!(
            multi.args,
            vec![
                Value::from("a"),
                Value::from(2),
                Value::Nil,
                Value::Array(vec![Value::from(1), Value::from(2)]),
                map(&[("k", Value::Boolean(true))]),
                Value::F64(1.5),
            ],
            "{encoding}: a tuple is several arguments"
        );

        let bytes = emit_of(&format!("{encoding}-emit_bytes"));
        assert_eq!(
            bytes.args,
            vec![
                Value::Binary(vec![0, 1, 255]),
                map(&[
                    ("nested", Value::Binary(b"abc".to_vec())),
                    ("n", Value::from(1))
                ]),
            ],
            "{encoding}: attachments back in place"
        );

        let none = emit_of(&format!("{encoding}-emit_no_args"));
        assert_eq!(none.event, "ping");
        assert!(
            none.args.is_empty(),
            "{encoding}: emit('ping') has no argument"
        );

        let list = emit_of(&format!("{encoding}-emit_list"));
        assert_eq!(
            list.args,
            vec![Value::Array(vec![
                Value::from(1),
                Value::from(2),
                Value::from(3)
            ])],
            "{encoding}: a list is one argument"
        );

        let change = RoomChange {
            namespace: "/".into(),
            sid: "s1".into(),
            room: "r9".into(),
        };
        assert_eq!(
            decode(&fixture(&format!("{encoding}-enter_room"))),
            Ok(QueueMessage::EnterRoom(change.clone()))
        );
        assert_eq!(
            decode(&fixture(&format!("{encoding}-leave_room"))),
            Ok(QueueMessage::LeaveRoom(change))
        );
        assert_eq!(
            decode(&fixture(&format!("{encoding}-close_room"))),
            Ok(QueueMessage::CloseRoom {
                namespace: "/admin".into(),
                room: "r9".into()
            })
        );
        assert_eq!(
            decode(&fixture(&format!("{encoding}-disconnect"))),
            Ok(QueueMessage::Disconnect {
                namespace: "/".into(),
                sid: "s1".into()
            })
        );
    }
}

#[test]
fn pickles_that_would_run_code_are_refused() {
    // Written by Python: an object whose __reduce__ is os.system("touch ...").
    assert_eq!(
        reason_of(&fixture("pickle-evil_global")),
        RejectReason::ForbiddenPickle
    );
    assert_eq!(
        reason_of(&fixture("pickle-evil_stack_global")),
        RejectReason::ForbiddenPickle
    );
}

#[test]
fn garbage_is_refused_with_a_reason() {
    assert_eq!(
        reason_of(b"\x00\x9f\x13garbage\xff"),
        RejectReason::MalformedJson
    );
    assert_eq!(
        reason_of(b"{\"method\": \"emit\""),
        RejectReason::MalformedJson
    );
    assert_eq!(reason_of(b""), RejectReason::MalformedJson);
    assert_eq!(reason_of(b"\x80\x04\x95"), RejectReason::MalformedPickle);
    assert_eq!(reason_of(b"[1, 2]"), RejectReason::BadShape);
    assert_eq!(reason_of(b"{}"), RejectReason::BadShape);
    assert_eq!(
        reason_of(br#"{"method": "shutdown"}"#),
        RejectReason::UnknownMethod
    );
    let too_large = vec![b' '; FLASK_MAX_MESSAGE_BYTES + 1];
    assert_eq!(reason_of(&too_large), RejectReason::TooLarge);
}

#[test]
fn wrong_shapes_are_refused() {
    let cases = [
        // data must be the list of arguments
        r#"{"method":"emit","event":"e","data":"x","namespace":"/"}"#,
        r#"{"method":"emit","event":"e","namespace":"/"}"#,
        r#"{"method":"emit","event":5,"data":[1],"namespace":"/"}"#,
        r#"{"method":"emit","event":"e","data":[1],"namespace":null}"#,
        r#"{"method":"emit","event":"e","data":[1],"namespace":"/","room":7}"#,
        r#"{"method":"emit","event":"e","data":[1],"namespace":"/","room":["a",1]}"#,
        r#"{"method":"emit","event":"e","data":[1],"namespace":"/","skip_sid":{}}"#,
        r#"{"method":"emit","event":"e","data":[1],"namespace":"/","binary":"yes"}"#,
        // binary: attachments must be base64 and placeholders must point at one
        r#"{"method":"emit","event":"e","data":[[{"_placeholder":true,"num":0}],"!!"],"binary":true,"namespace":"/"}"#,
        r#"{"method":"emit","event":"e","data":[[{"_placeholder":true,"num":3}],"AA=="],"binary":true,"namespace":"/"}"#,
        r#"{"method":"emit","event":"e","data":[],"binary":true,"namespace":"/"}"#,
        r#"{"method":"emit","event":"e","data":["not a list"],"binary":true,"namespace":"/"}"#,
        r#"{"method":"enter_room","sid":"s","namespace":"/"}"#,
        r#"{"method":"leave_room","sid":["s"],"room":"r","namespace":"/"}"#,
        r#"{"method":"close_room","namespace":"/"}"#,
        r#"{"method":"disconnect","namespace":"/"}"#,
    ];
    for case in cases {
        assert_eq!(reason_of(case.as_bytes()), RejectReason::BadShape, "{case}");
    }
}

#[test]
fn python_conventions() {
    // emit('e', None, 'x') keeps its None: only a lone None means "no argument".
    let json = br#"{"method":"emit","event":"e","data":[null,"x"],"namespace":"/"}"#;
    let Ok(QueueMessage::Emit(emit)) = decode(json) else {
        panic!("valid");
    };
    assert_eq!(emit.args, vec![Value::Nil, Value::from("x")]);
    // An empty tuple is no argument; callbacks are noted; integer dict keys become strings.
    let json = br#"{"method":"emit","event":"e","data":[],"namespace":"/","callback":["s","/",1]}"#;
    let Ok(QueueMessage::Emit(emit)) = decode(json) else {
        panic!("valid");
    };
    assert!(emit.args.is_empty());
    assert!(emit.wants_callback);
    // pickle.dumps({'method': 'emit', 'event': 'e', 'namespace': '/', 'data': {1: 'a'}}, 4)
    let pickled = b"\x80\x04\x95\x41\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x06method\x94\x8c\x04emit\x94\x8c\x05event\x94\x8c\x01e\x94\x8c\tnamespace\x94\x8c\x01/\x94\x8c\x04data\x94}\x94K\x01\x8c\x01a\x94su.";
    let Ok(QueueMessage::Emit(emit)) = decode(pickled) else {
        panic!("valid");
    };
    assert_eq!(emit.args, vec![map(&[("1", Value::from("a"))])]);
    // A disconnect without namespace is for "/", as python-socketio's server.disconnect does.
    assert_eq!(
        decode(br#"{"method":"disconnect","sid":"s"}"#),
        Ok(QueueMessage::Disconnect {
            namespace: "/".into(),
            sid: "s".into()
        })
    );
    assert_eq!(
        decode(br#"{"method":"callback","sid":"s","namespace":"/","id":1,"args":[]}"#),
        Ok(QueueMessage::Callback)
    );
}

#[test]
fn mutated_fixtures_never_panic() {
    // Deterministic: the same mutations on every run.
    let mut next = crate::test_support::xorshift();
    let dir = format!(
        "{}/src/backends/flask_bridge/fixtures",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut decoded = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let original = std::fs::read(entry.expect("entry").path()).expect("read");
        for _ in 0..1500 {
            let mut bytes = original.clone();
            for _ in 0..=(next() % 4) {
                let at = (next() as usize) % bytes.len().max(1);
                match next() % 4 {
                    0 if !bytes.is_empty() => bytes[at] = next() as u8,
                    1 => bytes.insert(at.min(bytes.len()), next() as u8),
                    2 if !bytes.is_empty() => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at),
                }
            }
            if decode(&bytes).is_ok() {
                decoded += 1;
            }
        }
    }
    assert!(decoded > 0, "some mutations still decode");
}
