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
        // Binary packets arrive in pieces: bound what one connection may leave half-sent.
        ParserKind::Default => builder.with_parser(
            ParserConfig::common()
                .max_incoming_binary_buf_size(cfg.max_attachment_bytes)
                .max_incoming_binaries(cfg.max_attachments)
                .packet_completion_timeout(cfg.attachment_timeout()),
        ),
        ParserKind::Msgpack => builder.with_parser(ParserConfig::msgpack()),
    }
}

/// Engine.IO's error body for a protocol version it does not serve.
const UNSUPPORTED_PROTOCOL: &str = r#"{"code":5,"message":"Unsupported protocol version"}"#;

/// Whether a query may make engineioxide open or serve an Engine.IO v3 session.
///
/// engineioxide 0.17 takes the first `&`-separated piece that starts with
/// `EIO=` and reads the version as the text between its first and second `=`,
/// undecoded: `EIO=3=x` and `EIO=3=` are v3 to it. The gate reads every `EIO`
/// parameter, percent-decoded, and calls the query v3 when any of them reads
/// `3` up to its first `=`: a superset of what the engine reads as v3
/// (duplicates, encodings and trailing `=` included), so no form slips through.
pub fn names_eio3(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes())
        .any(|(key, value)| key == "EIO" && value.split('=').next() == Some("3"))
}

/// Middleware that refuses Engine.IO v3 requests unless `--allow-eio3` is set.
pub async fn reject_eio3(request: Request<Body>, next: Next) -> Response {
    if request.uri().query().is_some_and(names_eio3) {
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

    /// The version engineioxide 0.17.9 reads from a query (`RequestInfo::parse`):
    /// the first piece starting with `EIO=`, up to the next `=`, not decoded.
    fn engine_reading(query: &str) -> Option<&str> {
        query
            .split('&')
            .find(|piece| piece.starts_with("EIO="))
            .and_then(|piece| piece.split('=').nth(1))
    }

    #[test]
    fn every_form_the_engine_reads_as_v3_is_refused() {
        let v3_to_the_engine = [
            "EIO=3",
            "EIO=3&transport=polling",
            "transport=polling&EIO=3",
            "EIO=3=x&transport=polling",
            "EIO=3=&transport=websocket",
            "EIO=3==4",
            "EIO=3&EIO=4",
            "t=1&EIO=3=4&EIO=4",
        ];
        for query in v3_to_the_engine {
            assert_eq!(engine_reading(query), Some("3"), "{query}");
            assert!(names_eio3(query), "{query} opens a v3 session");
        }
        // Forms the engine does not read as v3: refusing some of them costs nothing.
        for (query, refused) in [
            ("EIO=4&transport=polling", false),
            ("EIO=4=3", false),
            ("EIO=4&EIO=3", true),
            ("EIO=%33", true),
            ("E%49O=3", true),
            ("EIO=33", false),
            ("EIO=+3", false),
            ("XEIO=3&EIO=4", false),
            ("", false),
        ] {
            assert_ne!(engine_reading(query), Some("3"), "{query}");
            assert_eq!(names_eio3(query), refused, "{query}");
        }
    }
}
