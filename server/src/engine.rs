//! Building the Socket.IO engine from [`EngineConfig`].
//!
//! Production and conformance mode both go through [`configure`], so the
//! protocol behaviour the conformance tests check is the behaviour users get.
//! The Engine.IO v3 gate lives here too: socketioxide accepts v3 whenever it
//! is compiled with support for it, and iorelay only lets v3 in on request.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use socketioxide::adapter::Adapter;
use socketioxide::{ParserConfig, SocketIoBuilder, TransportType};

use crate::config::{EngineConfig, ParserKind, Transport};

/// Applies every engine setting to a builder, whatever its adapter.
pub fn configure<A: Adapter>(
    builder: SocketIoBuilder<A>,
    cfg: &EngineConfig,
) -> SocketIoBuilder<A> {
    let builder = builder
        .req_path(cfg.path.clone())
        .ping_interval(cfg.ping_interval())
        .ping_timeout(cfg.ping_timeout())
        .max_payload(cfg.max_payload)
        // A WebSocket message carries one Engine.IO packet: bound it like a polling body.
        .ws_max_message_size(usize::try_from(cfg.max_payload).unwrap_or(usize::MAX))
        .max_buffer_size(cfg.max_buffer_size)
        .ws_read_buffer_size(cfg.ws_read_buffer)
        .connect_timeout(cfg.connect_timeout())
        .ack_timeout(cfg.ack_timeout());
    let polling = cfg.transports.contains(&Transport::Polling);
    let websocket = cfg.transports.contains(&Transport::Websocket);
    let builder = match (polling, websocket) {
        (true, false) => builder.transports([TransportType::Polling]),
        (false, true) => builder.transports([TransportType::Websocket]),
        _ => builder.transports([TransportType::Polling, TransportType::Websocket]),
    };
    match cfg.parser {
        ParserKind::Default => builder.with_parser(ParserConfig::common()),
        ParserKind::Msgpack => builder.with_parser(ParserConfig::msgpack()),
    }
}

/// True for an Engine.IO request without a session id: a handshake, the
/// request whose head a new session keeps.
pub fn opens_session(uri: &axum::http::Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&').any(|pair| pair.starts_with("EIO="))
            && !q.split('&').any(|pair| pair.starts_with("sid="))
    })
}

/// Whether `path` is served by the engine mounted at `engine_path`, by the rule
/// engineioxide applies (the path itself, or below it).
pub fn is_engine_path(path: &str, engine_path: &str) -> bool {
    path.strip_prefix(engine_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || engine_path.ends_with('/'))
}

/// Engine.IO's error body for a protocol version it does not serve.
const UNSUPPORTED_PROTOCOL: &str = r#"{"code":5,"message":"Unsupported protocol version"}"#;

/// Middleware that refuses Engine.IO v3 requests unless `--allow-eio3` is set.
pub async fn reject_eio3(request: Request<Body>, next: Next) -> Response {
    let is_v3 = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "EIO=3"));
    if is_v3 {
        return (
            StatusCode::BAD_REQUEST,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            UNSUPPORTED_PROTOCOL,
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshakes_open_sessions() {
        let uri = |s: &str| s.parse::<axum::http::Uri>().expect("uri");
        assert!(opens_session(&uri("/socket.io/?EIO=4&transport=websocket")));
        assert!(opens_session(&uri(
            "/socket.io/?EIO=4&transport=polling&t=x"
        )));
        assert!(!opens_session(&uri(
            "/socket.io/?EIO=4&transport=polling&sid=abc"
        )));
        assert!(!opens_session(&uri("/healthz")));
        assert!(!opens_session(&uri("/api/v1/emit?x=1")));
    }

    #[test]
    fn engine_paths_follow_the_engine() {
        assert!(is_engine_path("/socket.io", "/socket.io"));
        assert!(is_engine_path("/socket.io/", "/socket.io"));
        assert!(!is_engine_path("/socket.iox/", "/socket.io"));
        assert!(!is_engine_path("/healthz", "/socket.io"));
    }
}
