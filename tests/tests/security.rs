//! TLS (`--tls-cert`, `--tls-key`) with a self-signed certificate made by
//! `rcgen` for the test, `/metrics` on its own listener, and the
//! settings that go with them refused cleanly when they are incomplete.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use iorelay_tests::{Process, Server, binary, http};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message;

/// A fresh self-signed EC P-256 certificate for 127.0.0.1 and localhost: (dir, cert, key).
fn self_signed(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("iorelay-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let names = ["127.0.0.1".to_owned(), "localhost".to_owned()];
    let pair = rcgen::generate_simple_self_signed(names).expect("certificate");
    std::fs::write(&cert, pair.cert.pem()).expect("write cert");
    std::fs::write(&key, pair.signing_key.serialize_pem()).expect("write key");
    (dir, cert, key)
}

fn connector(cert: &Path) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(cert).expect("cert file") {
        roots.add(der.expect("cert")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tls_stream(server: &Server, cert: &Path) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(&server.addr).await.expect("tcp");
    let name = ServerName::try_from("127.0.0.1").expect("ip name");
    connector(cert)
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the test certificate")
}

#[tokio::test]
async fn tls_serves_polling_and_websocket_and_slow_handshakes_stall_nobody() {
    let (_dir, cert, key) = self_signed("serve");
    let server = Server::start(&[
        "--tls-cert",
        cert.to_str().expect("utf-8 path"),
        "--tls-key",
        key.to_str().expect("utf-8 path"),
    ]);

    // A client that opens TCP and never says a word: others must not wait for it.
    let _silent = TcpStream::connect(&server.addr).await.expect("tcp");

    let mut stream = tls_stream(&server, &cert).await;
    stream
        .write_all(
            b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("answer within 10 s")
        .ok();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("0{\"sid\":"), "{answer}");

    let stream = tls_stream(&server, &cert).await;
    let url = format!("wss://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("WebSocket over TLS");
    assert!(next_text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text("40")).await.expect("send");
    assert!(next_text(&mut ws).await.starts_with("40{\"sid\":"));

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = http()
        .get(format!("http://{}/healthz", server.addr))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP must not be served: {plain:?}");
}

/// The next text frame that is not a ping.
async fn next_text<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("frame within 5 s");
        match frame {
            Some(Ok(Message::Text(t))) if t.as_str() != "2" => return t.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("websocket ended: {other:?}"),
        }
    }
}

#[test]
fn tls_settings_must_come_in_pairs_and_be_usable() {
    let (dir, cert, _key) = self_signed("bad");
    let run = |args: &[&str]| {
        let out = Command::new(binary())
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .output()
            .expect("run iorelay");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let cert = cert.to_str().expect("utf-8 path");
    let (code, stderr) = run(&["--tls-cert", cert]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("tls.tls_cert"), "{stderr}");
    // A certificate is not a private key: refused at start with the file named.
    let (code, stderr) = run(&["--tls-cert", cert, "--tls-key", cert]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot serve TLS"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let missing = dir.join("missing.pem");
    let (code, stderr) = run(&["--jwt-public-key", missing.to_str().expect("utf-8")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot verify tokens"), "{stderr}");
    let (code, stderr) = run(&["--dev-auth"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("auth.dev_auth"), "{stderr}");
    let (code, stderr) = run(&["--private-namespaces", "/chat"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("auth.private_namespaces"), "{stderr}");
}

#[tokio::test]
async fn metrics_can_live_on_their_own_listener() {
    let server = Process::start(&["--metrics-listen", "127.0.0.1:0"]);
    let log = server.log();
    let addr = log
        .split("metrics on http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"))
        .to_owned();
    let client = http();
    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics listener");
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain")),
        "Prometheus text content type"
    );
    let text = metrics.text().await.expect("body");
    assert!(text.contains("iorelay_connected_sockets"), "{text}");
    let public = client
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await
        .expect("main listener");
    assert_ne!(public.status(), 200, "not on the public listener");
    let body = public.text().await.unwrap_or_default();
    assert!(!body.contains("iorelay_"), "{body}");
}

#[tokio::test]
async fn dev_tokens_are_off_by_default_and_loud_when_on() {
    let server = Server::start(&[]);
    let response = http()
        .post(format!("http://{}/auth/dev-token", server.addr))
        .json(&serde_json::json!({"name": "Ada"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);

    let server = Process::start(&[
        "--dev-auth",
        "--jwt-secret",
        "0123456789abcdef0123456789abcdef",
    ]);
    assert!(
        server.log().contains("WARN") && server.log().contains("--dev-auth is ON"),
        "{}",
        server.log()
    );
    let response = http()
        .post(format!("http://{}/auth/dev-token", server.addr))
        .json(&serde_json::json!({"name": "Ada"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(
        body["token"].as_str().map(|t| t.split('.').count()),
        Some(3)
    );
    assert_eq!(body["expires_in"], 900);
}
