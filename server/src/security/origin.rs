//! Which browser origins may talk to the Socket.IO endpoint.
//!
//! CORS headers alone do not protect a real-time server: WebSocket upgrades
//! are not subject to CORS, so a foreign page could open one with the user's
//! cookies. Like Flask-SocketIO, iorelay therefore refuses any Engine.IO
//! request whose `Origin` is not allowed (403), and sends CORS headers only
//! for the origins that are. The default is same-origin only.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::protocol::ErrorCode;
use crate::protocol::error::HttpRefusal;

/// The allowlist, as configured with `--cors-origins`.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    any: bool,
    allowed: Arc<[String]>,
    engine_path: Arc<str>,
}

impl OriginPolicy {
    /// A policy for the endpoint at `engine_path` allowing `origins` (`*` = any).
    pub fn new(origins: &[String], engine_path: &str) -> Self {
        Self {
            any: origins.iter().any(|o| o == "*"),
            allowed: origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            engine_path: engine_path.trim_end_matches('/').into(),
        }
    }

    /// Whether a request carrying `origin` and addressed to `host` may proceed.
    pub fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        if self.any {
            return true;
        }
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.allowed.contains(&origin) {
            return true;
        }
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        matches!((origin_host, host), (Some(o), Some(h)) if o == h.to_ascii_lowercase())
    }

    /// CORS headers for the allowed origins (none at all for same-origin only).
    pub fn cors_layer(&self) -> CorsLayer {
        let base = CorsLayer::new()
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(AllowHeaders::mirror_request());
        if self.any {
            return base.allow_origin(AllowOrigin::mirror_request());
        }
        let list: Vec<HeaderValue> = self
            .allowed
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        base.allow_origin(AllowOrigin::list(list))
            .allow_credentials(true)
    }

    /// Whether `path` is a connection endpoint: Engine.IO's, or the SSE stream's.
    fn is_engine_request(&self, path: &str) -> bool {
        crate::protocol::engine_io::is_engine_path(path, &self.engine_path)
            || path == crate::protocol::notifications::SSE_PATH
    }
}

/// Middleware: 403 `origin_not_allowed` for Engine.IO and SSE requests from an origin the policy refuses.
pub async fn enforce(policy: OriginPolicy, request: Request<Body>, next: Next) -> Response {
    if policy.is_engine_request(request.uri().path())
        && let Some(origin) = request.headers().get(header::ORIGIN)
    {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        let allowed = origin.to_str().is_ok_and(|o| policy.allows(o, host));
        if !allowed {
            tracing::warn!(origin = ?origin, "refused a connection from a foreign origin");
            return HttpRefusal::engine_io(ErrorCode::OriginNotAllowed, "Origin not allowed")
                .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_by_default() {
        let p = OriginPolicy::new(&[], "/socket.io");
        assert!(p.allows("http://localhost:3000", Some("localhost:3000")));
        assert!(!p.allows("http://evil.example", Some("localhost:3000")));
        assert!(!p.allows("null", Some("localhost:3000")));
    }

    #[test]
    fn allowlist_and_wildcard() {
        let p = OriginPolicy::new(&["https://app.example.com/".into()], "/socket.io");
        assert!(p.allows("https://APP.example.com", Some("api.example.com")));
        assert!(!p.allows("https://other.example.com", Some("api.example.com")));
        let any = OriginPolicy::new(&["*".into()], "/socket.io");
        assert!(any.allows("http://anything", None));
    }

    #[test]
    fn only_engine_paths_are_checked() {
        let p = OriginPolicy::new(&[], "/socket.io");
        assert!(p.is_engine_request("/socket.io/"));
        assert!(p.is_engine_request("/socket.io"));
        assert!(!p.is_engine_request("/socket.iox"));
        assert!(!p.is_engine_request("/healthz"));
        assert!(p.is_engine_request("/sse/notifications"));
    }
}
