//! An accepted TCP connection whose Engine.IO WebSocket writer never waits.
//!
//! socketioxide queues each socket's outgoing packets in a bounded channel and
//! *drops* a packet, silently for the client, when that channel is full. The
//! channel fills when the WebSocket writer task waits on a peer that does not
//! read. So once a connection carries an Engine.IO WebSocket
//! ([`ConnHandle::carry_websocket`]), writes the kernel cannot take at once go
//! to this connection's own backlog, bounded in bytes, which a flusher task
//! drains as the peer reads; the writer never waits and the channel drains as
//! fast as the node can encode. A peer that lets its backlog grow past the
//! bound is a slow consumer: the connection is cut (the client sees its
//! transport close, reconnects and catches up) — it is never left connected
//! with holes in what it received.
//!
//! Plain HTTP connections keep ordinary TCP backpressure. Every connection
//! also records when it last moved a byte, for the idle timeout.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::security::limits::tcp::TcpSlot;

/// How long a closing WebSocket may take to hand its backlog to the peer.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Why a connection was cut by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutReason {
    /// Its backlog passed `--max-queued-bytes`.
    SlowConsumer,
    /// It did not take its backlog within the close grace.
    CloseStalled,
    /// Writing to it failed.
    WriteFailed,
}

impl CutReason {
    /// The reason as logs name it.
    pub fn as_str(self) -> &'static str {
        match self {
            CutReason::SlowConsumer => "slow_consumer",
            CutReason::CloseStalled => "close_stalled",
            CutReason::WriteFailed => "write_failed",
        }
    }
}

/// What to do when the server cuts a connection: the handle, why, bytes it left unread.
type OnCut = Box<dyn Fn(&ConnHandle, CutReason, usize) + Send + Sync>;

/// The I/O object hyper (and, after an upgrade, the engine) reads and writes.
pub struct Conn {
    read: OwnedReadHalf,
    shared: Arc<Shared>,
    close_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// A shared handle on one connection: request extension, idle clock, cut switch.
#[derive(Clone)]
pub struct ConnHandle(Arc<Shared>);

struct Shared {
    peer: SocketAddr,
    /// The connection's place under the TCP caps, held until the socket closes
    /// (an upgraded WebSocket outlives hyper's connection task).
    _slot: Option<TcpSlot>,
    /// Bytes the backlog may hold; 0 until the connection carries a WebSocket.
    backlog_limit: AtomicUsize,
    cut: OnceLock<CutReason>,
    cut_flag: AtomicBool,
    /// Milliseconds since `born` of the last byte read or written.
    last_activity_ms: AtomicU64,
    born: Instant,
    /// The Engine.IO session this connection carries, once known (for logs).
    session: OnceLock<String>,
    /// Called once when the server cuts the connection.
    on_cut: OnceLock<OnCut>,
    // A std lock: held for a buffer update or a non-blocking write, never across an await.
    write: Mutex<WriteState>,
}

struct WriteState {
    half: OwnedWriteHalf,
    backlog: VecDeque<Bytes>,
    backlog_bytes: usize,
    flushing: bool,
    /// Tasks waiting for the backlog to drain (a closing writer).
    drained: Vec<Waker>,
}

impl Conn {
    /// Wraps an accepted connection from `peer`, holding its admission `slot`.
    pub fn new(tcp: TcpStream, peer: SocketAddr, slot: Option<TcpSlot>) -> (Conn, ConnHandle) {
        let (read, half) = tcp.into_split();
        let shared = Arc::new(Shared {
            peer,
            _slot: slot,
            backlog_limit: AtomicUsize::new(0),
            cut: OnceLock::new(),
            cut_flag: AtomicBool::new(false),
            last_activity_ms: AtomicU64::new(0),
            born: Instant::now(),
            session: OnceLock::new(),
            on_cut: OnceLock::new(),
            write: Mutex::new(WriteState {
                half,
                backlog: VecDeque::new(),
                backlog_bytes: 0,
                flushing: false,
                drained: Vec::new(),
            }),
        });
        let conn = Conn {
            read,
            shared: shared.clone(),
            close_deadline: None,
        };
        (conn, ConnHandle(shared))
    }
}

/// A handle that does not keep the connection alive.
#[derive(Clone)]
pub struct WeakConnHandle(std::sync::Weak<Shared>);

impl WeakConnHandle {
    /// The connection, if it is still open.
    pub fn upgrade(&self) -> Option<ConnHandle> {
        self.0.upgrade().map(ConnHandle)
    }
}

impl ConnHandle {
    /// A handle that does not keep the connection alive.
    pub fn downgrade(&self) -> WeakConnHandle {
        WeakConnHandle(Arc::downgrade(&self.0))
    }

    /// The TCP peer.
    pub fn peer(&self) -> SocketAddr {
        self.0.peer
    }

    /// From now on the connection carries an Engine.IO WebSocket: writes never
    /// wait, and a backlog beyond `max_bytes` cuts it.
    pub fn carry_websocket(&self, max_bytes: usize) {
        self.0
            .backlog_limit
            .store(max_bytes.max(1), Ordering::Relaxed);
    }

    /// Names the Engine.IO session the connection carries (first name wins).
    pub fn set_session(&self, sid: &str) {
        let _ = self.0.session.set(sid.to_owned());
    }

    /// The Engine.IO session the connection carries, if known.
    pub fn session(&self) -> Option<&str> {
        self.0.session.get().map(String::as_str)
    }

    /// What to do once when the server cuts this connection (count, log).
    pub fn on_cut(&self, f: impl Fn(&ConnHandle, CutReason, usize) + Send + Sync + 'static) {
        let _ = self.0.on_cut.set(Box::new(f));
    }

    /// Why the server cut the connection, if it did.
    #[cfg(test)]
    pub fn cut_reason(&self) -> Option<CutReason> {
        self.0.cut.get().copied()
    }

    /// Bytes waiting for the peer in the backlog.
    #[cfg(test)]
    pub fn backlog_bytes(&self) -> usize {
        self.0.lock().map_or(0, |w| w.backlog_bytes)
    }

    /// How long since the connection last read or wrote a byte.
    pub fn idle_for(&self) -> Duration {
        let now = self.0.born.elapsed();
        let last = Duration::from_millis(self.0.last_activity_ms.load(Ordering::Relaxed));
        now.saturating_sub(last)
    }

    /// Cuts the connection: the backlog is freed and both directions end.
    pub fn cut(&self, reason: CutReason) {
        self.0.cut(reason);
    }
}

impl Shared {
    fn lock(&self) -> Option<MutexGuard<'_, WriteState>> {
        self.write.lock().ok()
    }

    fn touch(&self) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    fn is_cut(&self) -> bool {
        self.cut_flag.load(Ordering::Acquire)
    }

    fn cut(self: &Arc<Self>, reason: CutReason) {
        if self.cut.set(reason).is_err() {
            return;
        }
        self.cut_flag.store(true, Ordering::Release);
        let queued = {
            let Some(mut write) = self.lock() else {
                return;
            };
            let queued = write.backlog_bytes;
            write.backlog = VecDeque::new();
            write.backlog_bytes = 0;
            for waker in write.drained.drain(..) {
                waker.wake();
            }
            // Ends both directions: the reader sees end-of-stream at once.
            let _ = socket2::SockRef::from(write.half.as_ref()).shutdown(std::net::Shutdown::Both);
            queued
        };
        if let Some(on_cut) = self.on_cut.get() {
            on_cut(&ConnHandle(self.clone()), reason, queued);
        }
    }

    /// Queues `buf` behind the backlog, cutting the connection past the limit.
    fn enqueue(
        self: &Arc<Self>,
        mut write: MutexGuard<'_, WriteState>,
        buf: &[u8],
    ) -> io::Result<usize> {
        let limit = self.backlog_limit.load(Ordering::Relaxed);
        if write.backlog_bytes + buf.len() > limit {
            drop(write);
            self.cut(CutReason::SlowConsumer);
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "slow consumer",
            ));
        }
        write.backlog.push_back(Bytes::copy_from_slice(buf));
        write.backlog_bytes += buf.len();
        if !write.flushing {
            write.flushing = true;
            tokio::spawn(flush_backlog(self.clone()));
        }
        Ok(buf.len())
    }
}

/// Drains the backlog to the kernel as the peer reads; ends when it is empty.
async fn flush_backlog(shared: Arc<Shared>) {
    let failed = std::future::poll_fn(|cx| {
        let Some(mut write) = shared.lock() else {
            return Poll::Ready(false);
        };
        let write = &mut *write;
        while let Some(front) = write.backlog.front_mut() {
            if shared.is_cut() {
                return Poll::Ready(false);
            }
            match Pin::new(&mut write.half).poll_write(cx, front) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    front.advance(n);
                    write.backlog_bytes -= n;
                    if front.is_empty() {
                        write.backlog.pop_front();
                    }
                    shared.touch();
                }
                Poll::Ready(_) => {
                    write.flushing = false;
                    return Poll::Ready(true);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        write.flushing = false;
        write.backlog.shrink_to(4);
        for waker in write.drained.drain(..) {
            waker.wake();
        }
        Poll::Ready(false)
    })
    .await;
    if failed {
        shared.cut(CutReason::WriteFailed);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Dropped without a shutdown that drained it: nobody will take the
        // backlog; free it and end the flusher rather than wait on the peer.
        if self.shared.lock().is_some_and(|w| !w.backlog.is_empty()) {
            self.shared.cut(CutReason::CloseStalled);
        }
    }
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by the server",
    )
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.shared.is_cut() {
            return Poll::Ready(Err(aborted()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.read).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.shared.touch();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        if shared.is_cut() {
            return Poll::Ready(Err(aborted()));
        }
        let Some(mut write) = shared.lock() else {
            return Poll::Ready(Err(aborted()));
        };
        if write.backlog.is_empty() {
            match Pin::new(&mut write.half).poll_write(cx, buf) {
                Poll::Ready(result) => {
                    if matches!(result, Ok(n) if n > 0) {
                        shared.touch();
                    }
                    return Poll::Ready(result);
                }
                // Plain HTTP: ordinary backpressure (a backlog only ever exists on WebSocket).
                Poll::Pending if shared.backlog_limit.load(Ordering::Relaxed) == 0 => {
                    return Poll::Pending;
                }
                Poll::Pending => {}
            }
        }
        Poll::Ready(shared.enqueue(write, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shared.is_cut() {
            return Poll::Ready(Err(aborted()));
        }
        let Some(mut write) = self.shared.lock() else {
            return Poll::Ready(Err(aborted()));
        };
        if !write.backlog.is_empty() {
            // The flusher owns the backlog; the writer goes on.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut write.half).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shared.is_cut() {
            return Poll::Ready(Ok(()));
        }
        {
            let Some(mut write) = self.shared.lock() else {
                return Poll::Ready(Ok(()));
            };
            if write.backlog.is_empty() {
                return Pin::new(&mut write.half).poll_shutdown(cx);
            }
            write.drained.push(cx.waker().clone());
        }
        let deadline = self
            .close_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(CLOSE_GRACE)));
        if deadline.as_mut().poll(cx).is_ready() {
            self.shared.cut(CutReason::CloseStalled);
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (Conn, ConnHandle, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (server, peer) = accepted.expect("accept");
        let (conn, handle) = Conn::new(server, peer, None);
        (conn, handle, client.expect("connect"))
    }

    #[tokio::test]
    async fn bytes_pass_both_ways() {
        let (mut conn, handle, mut client) = pair().await;
        conn.write_all(b"hello").await.expect("write");
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"hello");
        client.write_all(b"world").await.expect("write");
        conn.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"world");
        assert!(handle.idle_for() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_websocket_writer_never_waits_and_a_peer_that_reads_gets_everything() {
        let (mut conn, handle, mut client) = pair().await;
        handle.carry_websocket(64 << 20);
        // Far more than the kernel buffers hold while the peer is not reading.
        let chunk = vec![7u8; 64 * 1024];
        let total = 256 * chunk.len();
        let written = tokio::time::timeout(Duration::from_secs(5), async {
            for _ in 0..256 {
                conn.write_all(&chunk).await.expect("write");
                conn.flush().await.expect("flush");
            }
        })
        .await;
        assert!(
            written.is_ok(),
            "the writer waited on a peer that does not read"
        );
        assert!(
            handle.backlog_bytes() > 0,
            "the kernel cannot have taken 16 MiB"
        );
        let mut received = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        while received < total {
            let n = client.read(&mut buf).await.expect("read");
            assert!(n > 0, "stream ended after {received} bytes");
            assert!(buf[..n].iter().all(|b| *b == 7));
            received += n;
        }
        assert_eq!(handle.backlog_bytes(), 0);
        assert_eq!(handle.cut_reason(), None);
    }

    #[tokio::test]
    async fn a_backlog_past_the_limit_cuts_the_connection() {
        let (mut conn, handle, mut client) = pair().await;
        let limit = 1 << 20;
        handle.carry_websocket(limit);
        let cuts = Arc::new(AtomicUsize::new(0));
        let seen = cuts.clone();
        handle.on_cut(move |_, reason, queued| {
            assert_eq!(reason, CutReason::SlowConsumer);
            assert!(queued <= 1 << 20);
            seen.fetch_add(1, Ordering::Relaxed);
        });
        let chunk = vec![1u8; 64 * 1024];
        let mut error = None;
        for _ in 0..1024 {
            if let Err(e) = conn.write_all(&chunk).await {
                error = Some(e);
                break;
            }
        }
        let error = error.expect("a peer that reads nothing is cut");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted);
        assert_eq!(handle.cut_reason(), Some(CutReason::SlowConsumer));
        assert_eq!(cuts.load(Ordering::Relaxed), 1);
        assert_eq!(handle.backlog_bytes(), 0, "the backlog is freed at once");
        // The server side reads end-of-stream or an error; the peer sees the close.
        let mut buf = [0u8; 16];
        assert!(matches!(conn.read(&mut buf).await, Err(_) | Ok(0)));
        let mut sink = Vec::new();
        let drained =
            tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut sink)).await;
        assert!(
            matches!(drained, Ok(Ok(_)) | Ok(Err(_))),
            "the peer sees the connection end"
        );
    }

    #[tokio::test]
    async fn plain_connections_keep_backpressure() {
        let (mut conn, handle, _client) = pair().await;
        let chunk = vec![0u8; 64 * 1024];
        let written = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                conn.write_all(&chunk).await.expect("write");
            }
        })
        .await;
        assert!(written.is_err(), "a plain connection waits for the peer");
        assert_eq!(handle.backlog_bytes(), 0);
        assert_eq!(handle.cut_reason(), None);
    }
}
