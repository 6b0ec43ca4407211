//! Engine.IO v4 over WebSocket: direct connection and upgrade from polling.

use iorelay_tests::{Polling, Server, Ws};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_handshake_has_no_upgrades() {
    let server = Server::conformance();
    let mut ws = Ws::open(&server, None).await;
    let open = ws.next_text().await;
    let handshake: serde_json::Value =
        serde_json::from_str(open.strip_prefix('0').expect("open packet")).expect("json");
    assert_eq!(handshake["upgrades"], serde_json::json!([]));
    assert_eq!(handshake["pingInterval"], 300);
    ws.send("40").await;
    assert!(ws.next_text().await.starts_with("40{\"sid\":"));
    assert_eq!(ws.next_text().await, r#"42["auth",{}]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_heartbeat() {
    let server = Server::conformance();
    let mut ws = Ws::open(&server, None).await;
    ws.next_text().await;
    // A ping arrives within pingInterval; without pong the server closes.
    match ws.next().await {
        Some(Message::Text(t)) => assert_eq!(t.as_str(), "2"),
        other => panic!("expected ping, got {other:?}"),
    }
    assert!(
        ws.closes().await,
        "no pong: the server closes the WebSocket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_polling() {
    let server = Server::conformance();
    let session = Polling::open(&server).await;
    assert!(session.connect("40").await.starts_with("40{"));
    assert_eq!(session.next_non_ping().await, r#"42["auth",{}]"#);
    let mut ws = Ws::open(&server, Some(&session.sid)).await;
    ws.send("2probe").await;
    assert_eq!(ws.next_text().await, "3probe");
    // A poll during the upgrade is answered with a noop.
    let (status, packets) = session.get().await;
    assert_eq!(status, 200);
    assert!(packets.iter().all(|p| p == "6" || p == "2"), "{packets:?}");
    ws.send("5").await;
    // The session now lives on the WebSocket.
    ws.send(r#"42["message","over ws"]"#).await;
    assert_eq!(ws.next_text().await, r#"42["message-back","over ws"]"#);
    // Polling with the upgraded sid is refused.
    let (status, _) = session.get().await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_with_unknown_sid_is_refused() {
    let server = Server::conformance();
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&sid=nope",
        server.addr
    );
    let result = tokio_tungstenite::connect_async(url).await;
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 400)
        }
        other => panic!("expected HTTP 400, got {:?}", other.map(|_| "connected")),
    }
}
