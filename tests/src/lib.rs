//! Harness of the end-to-end tests: iorelay nodes on a free port, and raw
//! Engine.IO / Socket.IO clients over HTTP long-polling and WebSocket.
//!
//! [`Server`] runs a node in this process (`iorelay::node::run` on a runtime
//! of its own, bound to `127.0.0.1:0`, the port read from the listener), the
//! way the binary runs one. [`Process`] runs the real binary (`IORELAY_BIN` or
//! `target/debug/iorelay`) for what only a process shows: its exit code, its
//! log lines, signals; it binds port 0 too and its port comes from its
//! `listening on http(s)://ADDR` log line. Both stop when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use iorelay::config::{self, Command as Subcommand, Config};
use iorelay::node::{self, Apps};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The packet separator of a polling payload.
pub const SEPARATOR: char = '\u{1e}';

/// Path of the binary under test.
pub fn binary() -> PathBuf {
    std::env::var_os("IORELAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/iorelay")
        })
}

/// An iorelay node running in this process, on a runtime of its own.
pub struct Server {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The configuration and apps that `iorelay ARGS --listen 127.0.0.1:0` would run.
fn node_settings(args: &[&str]) -> (Config, Apps) {
    let argv = std::iter::once("iorelay")
        .chain(args.iter().copied())
        .chain(["--listen", "127.0.0.1:0"]);
    match config::parse_from(argv) {
        Ok((Some(Subcommand::Conformance(conformance)), base)) => (
            iorelay::apps::conformance::config(base, &conformance),
            Apps::Conformance,
        ),
        Ok((Some(Subcommand::CheckConfig(_)), _)) => panic!("check-config runs no node"),
        Ok((None, config)) => (config, Apps::Production),
        Err(e) => panic!("bad configuration {args:?}: {e}"),
    }
}

impl Server {
    /// Runs `iorelay ARGS --listen 127.0.0.1:0` in this process (ARGS may begin with a subcommand).
    pub fn start(args: &[&str]) -> Server {
        let (config, apps) = node_settings(args);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = Arc::new(AtomicBool::new(true));
        let alive = running.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = match node::bind(&config).await {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let addr = listener.local_addr().map_err(|e| e.to_string());
                let _ = addr_tx.send(addr);
                let stopped = async {
                    let _ = stopped.await;
                };
                if let Err(e) = node::run(config, listener, apps, stopped).await {
                    eprintln!("node stopped: {e}");
                }
            });
            alive.store(false, Ordering::Release);
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the node did not start"))
            .unwrap_or_else(|e| panic!("the node did not start: {e}"));
        Server {
            addr: addr.to_string(),
            stop: Some(stop),
            running,
            thread: Some(thread),
        }
    }

    /// Starts the conformance server.
    pub fn conformance() -> Server {
        Server::start(&["conformance"])
    }

    /// Base URL of the Engine.IO endpoint, `http://ADDR/socket.io/`.
    pub fn engine_url(&self) -> String {
        format!("http://{}/socket.io/", self.addr)
    }

    /// Whether the node is still running.
    pub fn is_alive(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running `iorelay` process.
pub struct Process {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: Arc<Mutex<String>>,
}

impl Process {
    /// Starts `iorelay ARGS --listen 127.0.0.1:0` (ARGS may begin with a subcommand).
    pub fn start(args: &[&str]) -> Process {
        let mut child = Command::new(binary())
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary().display()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let announced = ["listening on http://", "listening on https://"]
                    .iter()
                    .find_map(|prefix| line.split(prefix).nth(1));
                if let Some(addr) = announced {
                    let addr = addr
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!(
                    "server did not start; log:\n{}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                )
            });
        Process { child, addr, log }
    }

    /// Base URL of the Engine.IO endpoint, `http://ADDR/socket.io/`.
    pub fn engine_url(&self) -> String {
        format!("http://{}/socket.io/", self.addr)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits for the exit code (at most `limit`).
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for raw polling requests.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// A raw Engine.IO v4 session over HTTP long-polling.
pub struct Polling {
    /// The client.
    pub http: reqwest::Client,
    /// `http://ADDR/socket.io/?EIO=4&transport=polling&sid=SID`.
    pub url: String,
    /// Session id.
    pub sid: String,
    /// The handshake object.
    pub handshake: serde_json::Value,
    /// Packets received by a poll but not yet handed to the test.
    pending: Mutex<std::collections::VecDeque<String>>,
}

impl Polling {
    /// Opens a session with the `0{...}` handshake.
    pub async fn open(server: &Server) -> Polling {
        let http = http();
        let body = http
            .get(format!("{}?EIO=4&transport=polling", server.engine_url()))
            .send()
            .await
            .expect("handshake request")
            .text()
            .await
            .expect("handshake body");
        let json = body
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("not an open packet: {body}"));
        let handshake: serde_json::Value = serde_json::from_str(json).expect("handshake json");
        let sid = handshake["sid"].as_str().expect("sid").to_owned();
        Polling {
            url: format!("{}?EIO=4&transport=polling&sid={sid}", server.engine_url()),
            http,
            sid,
            handshake,
            pending: Mutex::default(),
        }
    }

    /// POSTs packets (joined by the separator); returns status and body.
    pub async fn post(&self, packets: &[&str]) -> (u16, String) {
        let body = packets.join(&SEPARATOR.to_string());
        let response = self
            .http
            .post(&self.url)
            .body(body)
            .send()
            .await
            .expect("post");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// One GET poll; returns status and the packets of the payload.
    pub async fn get(&self) -> (u16, Vec<String>) {
        let response = self.http.get(&self.url).send().await.expect("poll");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        (status, body.split(SEPARATOR).map(str::to_owned).collect())
    }

    /// Polls until a packet other than a ping arrives (answering pings), and returns it.
    pub async fn next_non_ping(&self) -> String {
        loop {
            let buffered = self.pending.lock().ok().and_then(|mut p| p.pop_front());
            match buffered {
                Some(packet) if packet == "2" => {
                    self.post(&["3"]).await;
                }
                Some(packet) => return packet,
                None => {
                    let (status, packets) = self.get().await;
                    assert_eq!(status, 200, "poll failed: {packets:?}");
                    if let Ok(mut pending) = self.pending.lock() {
                        pending.extend(packets);
                    }
                }
            }
        }
    }

    /// Connects to a namespace (`40` or `40/ns,`), returns the CONNECT answer.
    pub async fn connect(&self, packet: &str) -> String {
        let (status, body) = self.post(&[packet]).await;
        assert_eq!((status, body.as_str()), (200, "ok"));
        self.next_non_ping().await
    }
}

/// A raw Engine.IO v4 WebSocket.
pub struct Ws {
    /// The socket.
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Opens `ws://ADDR/socket.io/?EIO=4&transport=websocket[&sid=SID]`.
    pub async fn open(server: &Server, sid: Option<&str>) -> Ws {
        let mut url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
        if let Some(sid) = sid {
            url.push_str("&sid=");
            url.push_str(sid);
        }
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connect");
        Ws { stream }
    }

    /// Sends a text frame.
    pub async fn send(&mut self, text: &str) {
        self.stream
            .send(Message::text(text))
            .await
            .expect("ws send");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.stream
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("ws send");
    }

    /// The next data frame (text or binary), `None` once closed; waits at most 5 s.
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.stream.next())
                .await
                .expect("no websocket frame within 5 s");
            match frame {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(other)) => return Some(other),
            }
        }
    }

    /// The next text frame that is not an Engine.IO ping (pings are answered).
    pub async fn next_text(&mut self) -> String {
        loop {
            match self.next().await {
                Some(Message::Text(text)) if text.as_str() == "2" => self.send("3").await,
                Some(Message::Text(text)) => return text.to_string(),
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Whether the server closes the connection within 5 s (frames before the close are skipped).
    pub async fn closes(&mut self) -> bool {
        let wait = async {
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
                    Some(Ok(_)) => continue,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .unwrap_or(false)
    }
}
