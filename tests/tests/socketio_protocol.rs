//! Socket.IO v5 packets against the conformance server: namespaces, events,
//! acknowledgements, binary attachments and invalid packets.

use iorelay_tests::{Polling, Server, Ws};
use tokio_tungstenite::tungstenite::Message;

async fn connected_ws(server: &Server) -> Ws {
    let mut ws = Ws::open(server, None).await;
    ws.next_text().await;
    ws.send("40").await;
    assert!(ws.next_text().await.starts_with("40{"));
    assert_eq!(ws.next_text().await, r#"42["auth",{}]"#);
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_reply_carries_only_the_sid_and_auth_is_echoed() {
    let server = Server::conformance();
    let mut ws = Ws::open(&server, None).await;
    ws.next_text().await;
    ws.send(r#"40/custom,{"token":"abc"}"#).await;
    let connect = ws.next_text().await;
    let body: serde_json::Value = serde_json::from_str(
        connect
            .strip_prefix("40/custom,")
            .expect("connect to /custom"),
    )
    .expect("json");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1));
    assert!(body["sid"].is_string());
    assert_eq!(
        ws.next_text().await,
        r#"42/custom,["auth",{"token":"abc"}]"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_namespace_is_refused() {
    let server = Server::conformance();
    let session = Polling::open(&server).await;
    assert_eq!(
        session.connect("40/random").await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_disconnect_keeps_the_transport() {
    let server = Server::conformance();
    let mut ws = connected_ws(&server).await;
    ws.send("40/custom").await;
    assert!(ws.next_text().await.starts_with("40/custom,{"));
    assert_eq!(ws.next_text().await, r#"42/custom,["auth",{}]"#);
    ws.send("41/custom").await;
    ws.send(r#"42["message","still here"]"#).await;
    assert_eq!(ws.next_text().await, r#"42["message-back","still here"]"#);
    ws.send("41").await;
    // The transport stays open: the next frame is a heartbeat.
    match ws.next().await {
        Some(Message::Text(t)) => assert_eq!(t.as_str(), "2"),
        other => panic!("expected a ping after 41, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_acks_keep_every_argument() {
    let server = Server::conformance();
    let mut ws = connected_ws(&server).await;
    ws.send(r#"42["message",1,"2",{"3":[true,null]}]"#).await;
    assert_eq!(
        ws.next_text().await,
        r#"42["message-back",1,"2",{"3":[true,null]}]"#
    );
    ws.send(r#"42456["message-with-ack",1,"2",{"3":[true]}]"#)
        .await;
    assert_eq!(ws.next_text().await, r#"43456[1,"2",{"3":[true]}]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_to_client_ack() {
    let server = Server::conformance();
    let mut ws = connected_ws(&server).await;
    ws.send(r#"42["emit-with-ack","ping"]"#).await;
    let ask = ws.next_text().await;
    let rest = ask.strip_prefix("42").expect("event");
    let id_len = rest.find('[').expect("array");
    let id = &rest[..id_len];
    assert!(!id.is_empty(), "server asks for an ack: {ask}");
    assert_eq!(&rest[id_len..], r#"["emit-with-ack","ping"]"#);
    ws.send(&format!(r#"43{id}["pong",7]"#)).await;
    assert_eq!(ws.next_text().await, r#"42["emit-with-ack","pong",7]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_attachments_round_trip() {
    let server = Server::conformance();
    let mut ws = connected_ws(&server).await;
    ws.send(r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    ws.send_binary(&[1, 2, 3]).await;
    ws.send_binary(&[4, 5, 6]).await;
    assert_eq!(
        ws.next_text().await,
        r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(ws.next().await, Some(Message::binary(vec![1, 2, 3])));
    assert_eq!(ws.next().await, Some(Message::binary(vec![4, 5, 6])));

    ws.send(r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    ws.send_binary(&[7]).await;
    ws.send_binary(&[8, 9]).await;
    assert_eq!(
        ws.next_text().await,
        r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(ws.next().await, Some(Message::binary(vec![7])));
    assert_eq!(ws.next().await, Some(Message::binary(vec![8, 9])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_over_polling_is_base64() {
    let server = Server::conformance();
    let session = Polling::open(&server).await;
    assert!(session.connect("40").await.starts_with("40{"));
    assert_eq!(session.next_non_ping().await, r#"42["auth",{}]"#);
    session
        .post(&[r#"451-["message",{"_placeholder":true,"num":0}]"#, "bAQID"])
        .await;
    assert_eq!(
        session.next_non_ping().await,
        r#"451-["message-back",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(session.next_non_ping().await, "bAQID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_packets_close_the_connection() {
    let server = Server::conformance();
    for bad in ["4abc", "42{}", r#"42abc["message"]"#] {
        let mut ws = connected_ws(&server).await;
        ws.send(bad).await;
        assert!(ws.closes().await, "{bad} must close the connection");
    }
    assert!(server.is_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connect_within_the_timeout_closes() {
    let server = Server::conformance();
    let mut ws = Ws::open(&server, None).await;
    ws.next_text().await;
    // Answer pings but never CONNECT: closed after the 1 s connect timeout.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(4), async {
        loop {
            match ws.next().await {
                Some(Message::Text(t)) if t.as_str() == "2" => ws.send("3").await,
                Some(_) => continue,
                None => return true,
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true));
}
