//! Admission of new Engine.IO connections: how many, from where, how fast.
//!
//! A middleware in front of the Socket.IO layer looks at handshakes only
//! (engine requests without a `sid`). An admitted handshake carries a
//! [`ConnectionPermit`] in its request extensions; socketioxide keeps the
//! handshake's request parts for the connection's whole life, so the permit is
//! released exactly when the connection ends, however it ends. The permit also
//! holds the connection's event budget, shared by all its namespaces, so a
//! flooder cannot reset it by reconnecting a namespace.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{LimitsConfig, TrustedProxy};
use crate::ops::metrics;
use crate::protocol::ErrorCode;
use crate::protocol::engine_io;
use crate::protocol::error::HttpRefusal;
use crate::security::limits::budget::{EventBudget, EventQuota};
use crate::security::limits::held::{Full, Held};

/// How many handshakes pass between two sweeps of idle rate-limit entries.
const SWEEP_EVERY: u64 = 1024;

/// Why a handshake was refused; its `Display` is the message clients get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeRefusal {
    /// Too many handshakes from one address lately.
    #[error("too many new connections from this address; retry later")]
    HandshakeRate,
    /// The address holds as many connections as it may.
    #[error("this address holds as many connections as it may")]
    PerAddress,
    /// The node holds as many connections as it may.
    #[error("this server holds as many connections as it may; retry or try another node")]
    NodeFull,
}

impl HandshakeRefusal {
    /// The stable code (its HTTP status follows from it: 429 or 503).
    pub fn code(self) -> ErrorCode {
        match self {
            HandshakeRefusal::HandshakeRate => ErrorCode::RateLimited,
            HandshakeRefusal::PerAddress => ErrorCode::TooManyConnections,
            HandshakeRefusal::NodeFull => ErrorCode::ServerFull,
        }
    }

    fn metric_label(self) -> &'static str {
        match self {
            HandshakeRefusal::HandshakeRate => "handshake_rate",
            HandshakeRefusal::PerAddress => "connections_per_ip",
            HandshakeRefusal::NodeFull => "connections",
        }
    }
}

impl From<HandshakeRefusal> for HttpRefusal {
    fn from(refusal: HandshakeRefusal) -> Self {
        HttpRefusal::engine_io(refusal.code(), refusal.to_string())
    }
}

/// The limits on new connections of one node, and the connections it holds.
pub struct ConnectionLimiter {
    held: Held,
    handshakes: Option<DefaultKeyedRateLimiter<IpAddr>>,
    handshake_count: AtomicU64,
    events: EventQuota,
    engine_path: Arc<str>,
    trusted_proxies: Vec<TrustedProxy>,
}

impl ConnectionLimiter {
    /// The limiter the configuration describes, for the endpoint at `engine_path`.
    pub fn new(config: &LimitsConfig, engine_path: &str) -> Arc<Self> {
        let handshakes = NonZeroU32::new(config.handshake_rate).map(|rate| {
            let burst = NonZeroU32::new(config.handshake_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Arc::new(Self {
            held: Held::new(config.max_connections, config.max_connections_per_ip),
            handshakes,
            handshake_count: AtomicU64::new(0),
            events: EventQuota {
                rate: config.event_rate,
                burst: config.event_burst,
                disconnect_after: config.rate_limit_disconnect_after,
            },
            engine_path: engine_path.trim_end_matches('/').into(),
            trusted_proxies: config.trusted_proxies.clone(),
        })
    }

    /// The address a request counts against: the TCP peer, or, when the peer
    /// is a trusted proxy, the nearest `X-Forwarded-For` hop that is not one
    /// (the entries further left were written by the client and prove nothing).
    pub fn client_address(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        let trusted = |ip: IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        if !trusted(peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if trusted(ip) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
        client
    }

    /// Admits a new connection from `address` or says why not.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<ConnectionPermit, HandshakeRefusal> {
        if let Some(limiter) = &self.handshakes {
            if self
                .handshake_count
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(SWEEP_EVERY)
            {
                limiter.retain_recent();
            }
            if limiter.check_key(&address).is_err() {
                return Err(HandshakeRefusal::HandshakeRate);
            }
        }
        let total = self.held.take(address, true).map_err(|full| match full {
            Full::Node => HandshakeRefusal::NodeFull,
            Full::Address => HandshakeRefusal::PerAddress,
        })?;
        metrics::engine_connections(total);
        Ok(ConnectionPermit(Arc::new(PermitInner {
            limiter: self.clone(),
            address,
            budget: EventBudget::new(self.events),
        })))
    }

    /// Connections held now.
    #[cfg(test)]
    pub fn open_connections(&self) -> usize {
        self.held.total()
    }

    fn release(&self, address: IpAddr) {
        let total = self.held.give_back(address);
        metrics::engine_connections(total);
    }

    /// Whether a request opens a new connection: an Engine.IO handshake (a GET
    /// to the endpoint without `sid`) or an SSE stream (held as long as one).
    pub fn is_handshake(&self, request: &Request<Body>) -> bool {
        engine_io::is_handshake(request.method(), request.uri(), &self.engine_path)
            || (request.method() == axum::http::Method::GET
                && request.uri().path() == crate::protocol::notifications::SSE_PATH)
    }
}

/// An admitted connection; released when the last clone is dropped.
#[derive(Clone)]
pub struct ConnectionPermit(Arc<PermitInner>);

struct PermitInner {
    limiter: Arc<ConnectionLimiter>,
    address: IpAddr,
    budget: EventBudget,
}

impl ConnectionPermit {
    /// The connection's event budget.
    pub fn budget(&self) -> &EventBudget {
        &self.0.budget
    }
}

impl Drop for PermitInner {
    fn drop(&mut self) {
        self.limiter.release(self.address);
    }
}

/// Middleware: refuses handshakes over a limit, gives admitted ones their permit.
pub async fn enforce(
    limiter: Arc<ConnectionLimiter>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    if !limiter.is_handshake(&request) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip());
    let address = limiter.client_address(peer, request.headers());
    match limiter.admit(address) {
        Ok(permit) => {
            request.extensions_mut().insert(permit);
            next.run(request).await
        }
        Err(refusal) => {
            metrics::rate_limited(refusal.metric_label());
            tracing::info!(%address, code = refusal.code().as_str(), "refused a new connection");
            HttpRefusal::from(refusal).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(total: usize, per_ip: usize, rate: u32, burst: u32) -> LimitsConfig {
        LimitsConfig {
            max_connections: total,
            max_connections_per_ip: per_ip,
            handshake_rate: rate,
            handshake_burst: burst,
            event_rate: 0,
            event_burst: 0,
            rate_limit_disconnect_after: 0,
            max_tcp_connections: 0,
            max_tcp_connections_per_ip: 0,
            trusted_proxies: ["10.0.0.0/8", "::1"]
                .map(|p| p.parse().expect("trusted proxy"))
                .to_vec(),
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let limiter = ConnectionLimiter::new(&config(0, 0, 0, 0), "/socket.io");
        let headers = |value: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert("x-forwarded-for", value.parse().expect("header"));
            h
        };
        let proxy = ip(1);
        let client: IpAddr = "203.0.113.7".parse().expect("ip");
        let public: IpAddr = "198.51.100.1".parse().expect("ip");
        // Spoofed leftmost entry, then the real client as the proxy saw it.
        let h = headers("1.2.3.4, 203.0.113.7");
        assert_eq!(limiter.client_address(proxy, &h), client);
        // Two trusted hops.
        let h = headers("203.0.113.7, 10.9.9.9");
        assert_eq!(limiter.client_address(proxy, &h), client);
        // An untrusted peer's header proves nothing.
        assert_eq!(limiter.client_address(public, &h), public);
        // A trusted proxy without the header, or with junk.
        assert_eq!(
            limiter.client_address(proxy, &axum::http::HeaderMap::new()),
            proxy
        );
        assert_eq!(limiter.client_address(proxy, &headers("junk")), proxy);
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn per_address_and_node_caps_release_on_drop() {
        let limiter = ConnectionLimiter::new(&config(3, 2, 0, 0), "/socket.io");
        let a1 = limiter.admit(ip(1)).expect("first");
        let a2 = limiter.admit(ip(1)).expect("second");
        assert_eq!(
            limiter.admit(ip(1)).err(),
            Some(HandshakeRefusal::PerAddress)
        );
        let b1 = limiter.admit(ip(2)).expect("other address");
        assert_eq!(limiter.admit(ip(3)).err(), Some(HandshakeRefusal::NodeFull));
        drop(a1);
        assert_eq!(limiter.open_connections(), 2);
        let again = limiter.admit(ip(1)).expect("slot freed");
        drop((a2, b1, again));
        assert_eq!(limiter.open_connections(), 0);
        assert_eq!(limiter.held.addresses(), 0);
    }

    #[test]
    fn handshake_rate_is_per_address() {
        let limiter = ConnectionLimiter::new(&config(0, 0, 1, 2), "/socket.io");
        let _a = limiter.admit(ip(1)).expect("burst 1");
        let _b = limiter.admit(ip(1)).expect("burst 2");
        assert_eq!(
            limiter.admit(ip(1)).err(),
            Some(HandshakeRefusal::HandshakeRate)
        );
        assert!(limiter.admit(ip(2)).is_ok(), "others are not affected");
    }

    #[test]
    fn only_handshakes_are_counted() {
        let limiter = ConnectionLimiter::new(&config(0, 0, 0, 0), "/socket.io");
        let req = |method: &str, uri: &str| {
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .expect("request")
        };
        assert!(limiter.is_handshake(&req("GET", "/socket.io/?EIO=4&transport=polling")));
        assert!(limiter.is_handshake(&req("GET", "/socket.io/?EIO=4&transport=websocket")));
        assert!(!limiter.is_handshake(&req("GET", "/socket.io/?EIO=4&transport=polling&sid=x")));
        assert!(!limiter.is_handshake(&req("POST", "/socket.io/?EIO=4&transport=polling")));
        assert!(!limiter.is_handshake(&req("GET", "/healthz")));
        assert!(!limiter.is_handshake(&req("GET", "/socket.iox/?EIO=4")));
    }

    #[tokio::test]
    async fn refusals_are_json_with_codes() {
        let response = HttpRefusal::from(HandshakeRefusal::NodeFull).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&bytes).expect("json"),
            serde_json::json!({
                "code": "server_full",
                "message": "this server holds as many connections as it may; retry or try another node"
            })
        );
        let status = |r: HandshakeRefusal| HttpRefusal::from(r).into_response().status();
        assert_eq!(status(HandshakeRefusal::HandshakeRate), 429);
        assert_eq!(status(HandshakeRefusal::PerAddress), 429);
        assert_eq!(
            HandshakeRefusal::PerAddress.code().as_str(),
            "too_many_connections"
        );
    }
}
