//! Engine.IO v4 over HTTP long-polling, as the official suite checks it:
//! handshake keys, 400s for bad requests, payload framing, heartbeat, close.

use std::time::{Duration, Instant};

use iorelay_tests::{Polling, Server, http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_has_exactly_the_expected_keys() {
    let server = Server::conformance();
    let session = Polling::open(&server).await;
    let mut keys: Vec<&str> = session
        .handshake
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ]
    );
    assert_eq!(
        session.handshake["upgrades"],
        serde_json::json!(["websocket"])
    );
    assert_eq!(session.handshake["pingInterval"], 300);
    assert_eq!(session.handshake["pingTimeout"], 200);
    assert_eq!(session.handshake["maxPayload"], 1_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400() {
    let server = Server::conformance();
    let base = server.engine_url();
    let client = http();
    let cases = [
        ("GET", format!("{base}?transport=polling")),
        ("GET", format!("{base}?EIO=abc&transport=polling")),
        ("GET", format!("{base}?EIO=2&transport=polling")),
        ("GET", format!("{base}?EIO=4&transport=carrier-pigeon")),
        (
            "GET",
            format!("{base}?EIO=4&transport=polling&sid=unknown-sid"),
        ),
        ("POST", format!("{base}?EIO=4&transport=polling")),
        (
            "POST",
            format!("{base}?EIO=4&transport=polling&sid=unknown-sid"),
        ),
    ];
    for (method, url) in cases {
        let request = match method {
            "GET" => client.get(&url),
            _ => client.post(&url).body("4hello"),
        };
        let status = request.send().await.expect("request").status().as_u16();
        assert_eq!(status, 400, "{method} {url}");
    }
    // EIO=3 is refused unless --allow-eio3, with Engine.IO's error body.
    let response = client
        .get(format!("{base}?EIO=3&transport=polling"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"code": 5, "message": "Unsupported protocol version"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_answers_ok_and_payloads_are_joined_by_record_separator() {
    let server = Server::conformance();
    let session = Polling::open(&server).await;
    assert_eq!(session.connect("40").await.get(..2), Some("40"));
    assert_eq!(session.next_non_ping().await, r#"42["auth",{}]"#);
    // Two events in one POST come back as two echoes.
    let (status, body) = session
        .post(&[r#"42["message","a"]"#, r#"42["message","b"]"#])
        .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    // Handlers run concurrently, so the echoes may come in either order.
    let mut echoes = [session.next_non_ping().await, session.next_non_ping().await];
    echoes.sort();
    assert_eq!(
        echoes,
        [r#"42["message-back","a"]"#, r#"42["message-back","b"]"#]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_ping_pong_and_timeout() {
    let server = Server::conformance();
    let session = Polling::open(&server).await;
    // The server pings within pingInterval; answering keeps the session.
    for _ in 0..2 {
        let (status, packets) = session.get().await;
        assert_eq!((status, packets), (200, vec!["2".to_owned()]));
        assert_eq!(session.post(&["3"]).await, (200, "ok".to_owned()));
    }
    // No pong: closed after pingInterval + pingTimeout.
    let started = Instant::now();
    let (status, packets) = session.get().await;
    assert_eq!((status, packets), (200, vec!["2".to_owned()]));
    let closed = loop {
        let (status, packets) = session.get().await;
        if status == 400 {
            break true;
        }
        assert!(
            packets.iter().all(|p| p == "6" || p == "1" || p == "2"),
            "{packets:?}"
        );
        if started.elapsed() > Duration::from_secs(3) {
            break false;
        }
    };
    assert!(closed, "session must close without pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_packet_ends_the_pending_poll_and_the_session() {
    let server = Server::conformance();
    // Nothing tells a client that its poll has reached the server, so the
    // close may overtake it (or the next ping answer it first); such a run
    // proves nothing and is done again.
    for _ in 0..10 {
        let session = Polling::open(&server).await;
        // engineioxide queues its first ping as the session opens: take it and answer,
        // so the next poll waits for data.
        let (status, packets) = session.get().await;
        assert_eq!((status, packets), (200, vec!["2".to_owned()]));
        assert_eq!(session.post(&["3"]).await, (200, "ok".to_owned()));
        let pending = {
            let http = session.http.clone();
            let url = session.url.clone();
            tokio::spawn(async move {
                let response = http.get(url).send().await.expect("poll");
                (
                    response.status().as_u16(),
                    response.text().await.unwrap_or_default(),
                )
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(session.post(&["1"]).await, (200, "ok".to_owned()));
        let (status, body) = pending.await.expect("join");
        let (status_after, _) = session.get().await;
        assert_eq!(status_after, 400, "session is closed");
        let packets: Vec<&str> = body.split('\u{1e}').collect();
        if status == 400 || packets == ["2"] {
            continue; // the poll arrived after the close, or a ping answered it first
        }
        assert!(
            packets.contains(&"6") || packets.contains(&"1"),
            "pending poll got {body:?}"
        );
        assert!(
            packets.iter().all(|p| matches!(*p, "6" | "1" | "2")),
            "pending poll got {body:?}"
        );
        return;
    }
    panic!("the pending poll never reached the server before the close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_polls_close_the_session() {
    let server = Server::conformance();
    let session = Polling::open(&server).await;
    // The first poll waits for data; a second one at the same time is a protocol error.
    let first = {
        let http = session.http.clone();
        let url = session.url.clone();
        tokio::spawn(async move { http.get(url).send().await.expect("poll").status().as_u16() })
    };
    // Let the first poll reach the server: it is answered only by the next ping (300 ms).
    let mut second_status = 0;
    for _ in 0..20 {
        second_status = session
            .http
            .get(&session.url)
            .send()
            .await
            .expect("poll")
            .status()
            .as_u16();
        if second_status != 200 {
            break;
        }
    }
    assert!(
        second_status == 400 || second_status == 500,
        "second concurrent poll: {second_status}"
    );
    let _ = first.await;
    let (status, _) = session.get().await;
    assert_eq!(status, 400, "the session is closed after a concurrent poll");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_post_is_refused_and_the_server_lives() {
    let server = Server::start(&["--max-payload", "2048"]);
    let session = Polling::open(&server).await;
    assert_eq!(session.handshake["maxPayload"], 2048);
    let big = format!(r#"42["x","{}"]"#, "a".repeat(5000));
    let (status, _) = session.post(&[&big]).await;
    assert!(
        status == 413 || status == 400,
        "oversized POST answered {status}"
    );
    // Another client is unaffected.
    let other = Polling::open(&server).await;
    assert!(other.connect("40").await.starts_with("40{"));
    assert!(server.is_alive());
}
