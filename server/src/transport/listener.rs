//! The accept loop: every TCP connection is admitted, wrapped, timed and served.
//!
//! `axum::serve` sets no hyper timer, so a client could hold a connection
//! forever by sending nothing or dribbling header bytes, and it hands out the
//! raw TCP stream, so the node could not bound what a slow reader costs. Here
//! each accepted connection
//! - takes a [`crate::security::limits::tcp::TcpSlot`] (closed at once when the node or
//!   its address holds all it may), kept until the socket closes, WebSocket
//!   or not,
//! - is wrapped in a [`Conn`] whose handle every request carries as an
//!   extension (a [`crate::transport::conn::WeakConnHandle`], with axum's `ConnectInfo`),
//! - gets a deadline for each request body ([`DeadlineBody`]), hyper's header-read timeout (also how long an idle keep-alive
//!   connection may wait for its next request) and an idle timeout (no byte
//!   either way; long enough for a long-poll),
//! - is served HTTP/1.1 with upgrades (TLS negotiates `http/1.1` only).
//!
//! On shutdown the loop stops accepting, asks every connection to finish its
//! request and close, and returns once all have.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::ops::metrics;
use crate::security::limits::tcp::TcpAdmission;
use crate::transport::body_deadline::DeadlineBody;
use crate::transport::conn::{Conn, ConnHandle};

/// Longest a TLS handshake may take.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a node serves its connections.
pub struct Serving {
    /// The router every request goes through.
    pub app: Router,
    /// TLS, when the node serves HTTPS itself.
    pub tls: Option<TlsAcceptor>,
    /// Who may hold a TCP connection.
    pub admission: Arc<TcpAdmission>,
    /// Longest wait for a complete request head (also between keep-alive requests).
    pub header_read_timeout: Duration,
    /// Longest time a connection may move no byte while HTTP serves it.
    pub idle_timeout: Duration,
    /// Longest time a request body may take to arrive whole.
    pub body_read_timeout: Duration,
}

/// Accepts on `listener` until `stop` is cancelled, then waits for every connection to end.
pub async fn serve(listener: TcpListener, serving: Serving, stop: CancellationToken) {
    let serving = Arc::new(serving);
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "cannot accept a TCP connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match serving.admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                metrics::rate_limited(refusal.metric_label());
                // Dropping the stream closes it before a byte is read.
                continue;
            }
        };
        no_delay(&tcp);
        let (conn, handle) = Conn::new(tcp, peer, Some(slot));
        connections.spawn(serve_connection(
            serving.clone(),
            conn,
            handle,
            stop.clone(),
        ));
    }
    connections.close();
    connections.wait().await;
}

async fn serve_connection(
    serving: Arc<Serving>,
    conn: Conn,
    handle: ConnHandle,
    stop: CancellationToken,
) {
    match &serving.tls {
        None => serve_http(&serving, conn, handle, stop).await,
        Some(acceptor) => {
            let peer = handle.peer();
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(conn)).await {
                Ok(Ok(tls)) => serve_http(&serving, tls, handle, stop).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn serve_http<I>(serving: &Serving, io: I, handle: ConnHandle, stop: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer: SocketAddr = handle.peer();
    let app = serving.app.clone();
    let request_handle = handle.clone();
    let body_timeout = serving.body_read_timeout;
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let extensions = request.extensions_mut();
        extensions.insert(ConnectInfo(peer));
        // Weak: the engine keeps a handshake's extensions for the session's
        // life, which must not keep this connection's socket open.
        extensions.insert(request_handle.downgrade());
        let app = app.clone();
        async move {
            let request =
                request.map(|body| axum::body::Body::new(DeadlineBody::new(body, body_timeout)));
            let response = app.oneshot(request).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(serving.header_read_timeout)
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let idle = serving.idle_timeout;
    let mut stopping = false;
    loop {
        let check = tokio::time::sleep(
            idle.saturating_sub(handle.idle_for())
                .max(Duration::from_millis(100)),
        );
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    if e.is_timeout() {
                        metrics::connection_timed_out("header_read");
                    }
                    tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            () = check => {
                if handle.idle_for() >= idle {
                    metrics::connection_timed_out("idle");
                    tracing::debug!(%peer, ?idle, "closing an idle connection");
                    return;
                }
            }
        }
    }
}

/// Turns Nagle's algorithm off for an accepted connection.
///
/// Every Socket.IO packet is its own small write; with Nagle on, a packet
/// written while the previous one is still unacknowledged waits for the
/// client's (possibly delayed) ACK, adding up to 40 ms to a delivery.
pub fn no_delay(tcp: &tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_without_nagle() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (server_side, _) = accepted.expect("accept");
        let _client = client.expect("connect");
        assert!(
            !server_side.nodelay().expect("nodelay"),
            "Nagle is on by default"
        );
        no_delay(&server_side);
        assert!(server_side.nodelay().expect("nodelay"));
    }
}
