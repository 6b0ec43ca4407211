//! A lean Socket.IO v5 client over WebSocket or HTTP long-polling, and the
//! raw WebSocket mode used against the ceiling broadcaster.

use std::net::IpAddr;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::http::HttpConn;
use crate::net::{self, Target};
use crate::proto::{self, SioType};
use crate::ws::{Message, WsConn};

/// What the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Socket.IO v5 over Engine.IO v4.
    Socketio,
    /// Plain WebSocket text messages (the ceiling broadcaster).
    Raw,
}

/// How a Socket.IO client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    /// WebSocket from the first request.
    WebSocket,
    /// HTTP long-polling, never upgraded.
    Polling,
}

/// Whether client `index` uses long-polling when a `share` (0–1) of clients does.
/// Spreads polling clients evenly over the indexes.
pub fn is_polling(index: usize, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    if share >= 1.0 {
        return true;
    }
    let a = (index as f64 * share).floor();
    let b = ((index + 1) as f64 * share).floor();
    a != b
}

/// A connected client (Engine.IO handshake done, or raw WebSocket open).
pub struct Client {
    inner: Inner,
}

enum Inner {
    Ws(Box<WsConn>),
    Polling(Box<Polling>),
}

struct Polling {
    post: HttpConn,
    path: String,
    rx: mpsc::Receiver<Result<Bytes, String>>,
    getter: JoinHandle<()>,
}

impl Drop for Polling {
    fn drop(&mut self) {
        self.getter.abort();
    }
}

impl Client {
    /// Connects from `src` and completes the Engine.IO handshake (or the raw WebSocket upgrade).
    pub async fn connect(
        target: &Target,
        protocol: Protocol,
        transport: Transport,
        src: IpAddr,
        seed: u32,
    ) -> Result<Client> {
        match (protocol, transport) {
            (Protocol::Raw, _) => {
                let stream = net::connect_from(src, target.addr).await?;
                let ws = WsConn::handshake(stream, &target.host, "/", seed).await?;
                Ok(Client {
                    inner: Inner::Ws(Box::new(ws)),
                })
            }
            (Protocol::Socketio, Transport::WebSocket) => {
                let stream = net::connect_from(src, target.addr).await?;
                let path = format!("{}?EIO=4&transport=websocket", target.path);
                let mut ws = WsConn::handshake(stream, &target.host, &path, seed).await?;
                match ws.recv().await? {
                    Message::Text(open) => {
                        proto::parse_open(&open)?;
                    }
                    Message::Binary(_) => {
                        bail!("binary message instead of the Engine.IO handshake")
                    }
                }
                Ok(Client {
                    inner: Inner::Ws(Box::new(ws)),
                })
            }
            (Protocol::Socketio, Transport::Polling) => {
                let mut get = HttpConn::new(src, target.addr, target.host.clone());
                let first = format!("{}?EIO=4&transport=polling", target.path);
                let (status, body) = get.request(&first, None).await?;
                if status != 200 {
                    bail!("polling handshake answered {status}");
                }
                let open = proto::split_payload(&body)
                    .next()
                    .context("empty polling handshake")?;
                let hs = proto::parse_open(open)?;
                let path = format!("{}?EIO=4&transport=polling&sid={}", target.path, hs.sid);
                let post = HttpConn::new(src, target.addr, target.host.clone());
                let (tx, rx) = mpsc::channel(256);
                let getter = tokio::spawn(poll_loop(get, path.clone(), tx));
                Ok(Client {
                    inner: Inner::Polling(Box::new(Polling {
                        post,
                        path,
                        rx,
                        getter,
                    })),
                })
            }
        }
    }

    /// Sends one Engine.IO packet (or raw text message).
    pub async fn send(&mut self, packet: &str) -> Result<()> {
        match &mut self.inner {
            Inner::Ws(ws) => ws.send_text(packet).await,
            Inner::Polling(p) => {
                let (status, _) = p.post.request(&p.path, Some(packet.as_bytes())).await?;
                if status != 200 {
                    bail!("polling POST answered {status}");
                }
                Ok(())
            }
        }
    }

    /// The next Engine.IO packet (or raw text message). Cancel-safe.
    pub async fn recv(&mut self) -> Result<Bytes> {
        match &mut self.inner {
            Inner::Ws(ws) => loop {
                if let Message::Text(text) = ws.recv().await? {
                    return Ok(text);
                }
            },
            Inner::Polling(p) => match p.rx.recv().await {
                Some(Ok(packet)) => Ok(packet),
                Some(Err(e)) => bail!("{e}"),
                None => bail!("polling loop ended"),
            },
        }
    }

    /// Answers an Engine.IO ping; `true` when `packet` was one.
    pub async fn answer_ping(&mut self, packet: &[u8]) -> Result<bool> {
        if packet == b"2" {
            self.send("3").await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Connects to a namespace and waits for the server's CONNECT answer.
    pub async fn connect_nsp(&mut self, nsp: &str, auth: Option<&str>) -> Result<()> {
        self.send(&proto::encode_connect(nsp, auth)).await?;
        loop {
            let packet = self.recv().await?;
            if self.answer_ping(&packet).await? {
                continue;
            }
            let Some(text) = sio_text(&packet) else {
                continue;
            };
            let p = proto::parse_sio(text)?;
            if p.nsp != nsp {
                continue;
            }
            match p.kind {
                SioType::Connect => return Ok(()),
                SioType::ConnectError => bail!("connect_error on {nsp}: {}", p.data),
                _ => {}
            }
        }
    }

    /// Emits `array` (`["event", args...]`) with ack id `id` and waits for the ack's data.
    pub async fn call(&mut self, nsp: &str, id: u64, array: &str) -> Result<String> {
        self.send(&proto::encode_event(nsp, Some(id), array))
            .await?;
        self.wait_ack(nsp, id, id, &mut |_| {}).await
    }

    /// Like [`Client::call`], but sends the event again (with the next ack id)
    /// when no ack came within `per_try`, up to `tries` times in all; returns
    /// the ack's data and how many times it had to resend.
    ///
    /// Servers that register event handlers after answering the namespace
    /// CONNECT (socketioxide spawns the connect handler) can drop an event
    /// sent right after connecting; this counts such losses instead of hanging.
    pub async fn call_retry(
        &mut self,
        nsp: &str,
        first_id: u64,
        array: &str,
        per_try: std::time::Duration,
        tries: u32,
    ) -> Result<(String, u32)> {
        self.call_retry_observing(nsp, first_id, array, per_try, tries, &mut |_| {})
            .await
    }

    /// [`Client::call_retry`] that shows every other Engine.IO packet received
    /// meanwhile to `observe` (a join storm's `presence` events arrive then).
    pub async fn call_retry_observing(
        &mut self,
        nsp: &str,
        first_id: u64,
        array: &str,
        per_try: std::time::Duration,
        tries: u32,
        observe: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<(String, u32)> {
        let mut id = first_id;
        for attempt in 0..tries.max(1) {
            self.send(&proto::encode_event(nsp, Some(id), array))
                .await?;
            match tokio::time::timeout(per_try, self.wait_ack(nsp, first_id, id, observe)).await {
                Ok(result) => return result.map(|data| (data, attempt)),
                Err(_) => id += 1,
            }
        }
        bail!("no ack after {} tries", tries.max(1))
    }

    /// Waits for an ack on `nsp` with an id in `lo..=hi`, answering pings;
    /// other packets go to `observe`.
    async fn wait_ack(
        &mut self,
        nsp: &str,
        lo: u64,
        hi: u64,
        observe: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<String> {
        loop {
            let packet = self.recv().await?;
            if self.answer_ping(&packet).await? {
                continue;
            }
            let Some(text) = sio_text(&packet) else {
                continue;
            };
            let p = proto::parse_sio(text)?;
            if p.kind == SioType::Ack
                && p.nsp == nsp
                && p.ack_id.is_some_and(|i| (lo..=hi).contains(&i))
            {
                return Ok(p.data.to_owned());
            }
            if p.kind == SioType::Disconnect && p.nsp == nsp {
                bail!("disconnected from {nsp} while waiting for an ack");
            }
            observe(&packet);
        }
    }
}

/// The Socket.IO packet inside an Engine.IO message packet (`4...`), as text.
pub fn sio_text(packet: &[u8]) -> Option<&str> {
    match packet.split_first() {
        Some((b'4', rest)) => std::str::from_utf8(rest).ok(),
        _ => None,
    }
}

async fn poll_loop(mut conn: HttpConn, path: String, tx: mpsc::Sender<Result<Bytes, String>>) {
    loop {
        match conn.request(&path, None).await {
            Ok((200, body)) => {
                for packet in proto::split_payload(&body) {
                    if packet == b"1" {
                        let _ = tx.send(Err("server closed the session".into())).await;
                        return;
                    }
                    if tx.send(Ok(body.slice_ref(packet))).await.is_err() {
                        return;
                    }
                }
            }
            Ok((status, body)) => {
                let _ = tx
                    .send(Err(format!(
                        "polling GET answered {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(120)])
                    )))
                    .await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(format!("{e:#}"))).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_share_is_spread_evenly() {
        let count = |share: f64| (0..1000).filter(|i| is_polling(*i, share)).count();
        assert_eq!(count(0.0), 0);
        assert_eq!(count(1.0), 1000);
        assert_eq!(count(0.1), 100);
        assert_eq!(count(0.25), 250);
        // Every tenth client, not the first hundred.
        assert!(!is_polling(0, 0.1));
        assert!(is_polling(9, 0.1));
        assert!(is_polling(19, 0.1));
        assert!(!is_polling(10, 0.1));
    }

    #[test]
    fn socketio_text_of_message_packets() {
        assert_eq!(sio_text(b"42[\"a\"]"), Some("2[\"a\"]"));
        assert_eq!(sio_text(b"2"), None);
        assert_eq!(sio_text(b""), None);
    }
}
