//! `ws-ceiling`: a raw WebSocket broadcaster (tokio-tungstenite, no Socket.IO
//! or Engine.IO framing), the ceiling the Socket.IO servers are measured against.
//!
//! Every text message a client sends goes to every other connected client,
//! serialised once and shared (`Utf8Bytes` clones). Listens on loopback only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Raw WebSocket broadcaster: the ceiling for the fan-out benchmarks.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:3900")]
    listen: SocketAddr,
    /// Messages buffered per slow receiver before it skips some.
    #[arg(long, default_value_t = 1024)]
    buffer: usize,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if !args.listen.ip().is_loopback() {
        eprintln!("ws-ceiling: listen on a loopback address only");
        return std::process::ExitCode::from(2);
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ws-ceiling: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ws-ceiling: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> std::io::Result<()> {
    // tokio's `TcpListener::bind` listens with a backlog of 128: a burst of
    // connects then overflows the accept queue and waits for a SYN retransmit
    // (1 s). Listen with the usual somaxconn instead.
    let socket = if args.listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(args.listen)?;
    let listener: TcpListener = socket.listen(4096)?;
    eprintln!("ws-ceiling listening on {}", args.listen);
    let (tx, _) = broadcast::channel::<(u64, Utf8Bytes)>(args.buffer.max(16));
    let next_id = Arc::new(AtomicU64::new(1));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors and the like: keep serving the others.
                eprintln!("ws-ceiling: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(stream, id, tx.clone()));
    }
}

async fn connection(stream: TcpStream, id: u64, tx: broadcast::Sender<(u64, Utf8Bytes)>) {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let mut rx = tx.subscribe();
    let writer = tokio::spawn(async move {
        loop {
            let first = match rx.recv().await {
                Ok(m) => m,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let mut batch = vec![first];
            while let Ok(m) = rx.try_recv() {
                batch.push(m);
            }
            for (from, text) in batch {
                if from != id && sink.feed(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = source.next().await {
        match msg {
            Message::Text(text) => {
                let _ = tx.send((id, text));
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    writer.abort();
}
