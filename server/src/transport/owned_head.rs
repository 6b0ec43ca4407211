//! A session's first request keeps its own copy of the request head.
//!
//! hyper parses a request head without copying: the URI, header names and
//! values are slices of the connection's 16 KiB read buffer. The engine keeps
//! the head of the request that opened a session (socketioxide's
//! `req_parts()`) for the session's whole life, and axum keeps one more handle
//! to the URI in the `OriginalUri` extension, so an idle WebSocket connection
//! pinned that whole buffer: measured with heaptrack, 16.4 KiB of the 31.5 KiB
//! an idle connection cost. Copying the few hundred bytes of the head lets
//! the buffer go.

use axum::body::Body;
use axum::extract::OriginalUri;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};
use axum::middleware::Next;
use axum::response::Response;

use crate::protocol::engine_io;

/// Middleware: a request that opens an Engine.IO session (no `sid`) continues
/// with a head that shares no memory with hyper's read buffer.
pub async fn own_session_head(request: Request<Body>, next: Next) -> Response {
    if !engine_io::opens_session(request.uri()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    own_head(&mut parts);
    next.run(Request::from_parts(parts, body)).await
}

/// Replaces every part of `parts` that may borrow the read buffer with a copy.
fn own_head(parts: &mut Parts) {
    if let Ok(uri) = Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    if parts.extensions.get::<OriginalUri>().is_some() {
        parts.extensions.insert(OriginalUri(parts.uri.clone()));
    }
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        // Both copied: names hyper does not know are slices of the buffer too.
        let name = HeaderName::from_bytes(name.as_str().as_bytes());
        let value = HeaderValue::from_bytes(value.as_bytes());
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    parts.headers = headers;
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// A head built the way hyper builds one: every part a slice of `buffer`.
    fn borrowed_head(buffer: &Bytes) -> Parts {
        let text = std::str::from_utf8(buffer).expect("utf-8");
        let at = |needle: &str| {
            let start = text.find(needle).expect("needle in buffer");
            buffer.slice(start..start + needle.len())
        };
        let uri = Uri::from_maybe_shared(at("/socket.io/?EIO=4&transport=websocket")).expect("uri");
        let (mut parts, ()) = Request::builder()
            .uri(uri.clone())
            .body(())
            .expect("request")
            .into_parts();
        parts.headers.insert(
            HeaderName::from_bytes(b"x-custom").expect("name"),
            HeaderValue::from_maybe_shared(at("tenant-7")).expect("value"),
        );
        parts.extensions.insert(OriginalUri(uri));
        parts
    }

    fn inside(buffer: &Bytes, bytes: &[u8]) -> bool {
        let range = buffer.as_ptr_range();
        range.contains(&bytes.as_ptr())
    }

    #[test]
    fn the_owned_head_shares_nothing_with_the_read_buffer() {
        let buffer = Bytes::from(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nx-custom: tenant-7\r\n\r\n",
        );
        let mut parts = borrowed_head(&buffer);
        let path = |uri: &Uri| uri.path_and_query().map(|p| p.as_str().as_ptr());
        assert!(inside(&buffer, parts.headers["x-custom"].as_bytes()));
        assert!(path(&parts.uri).is_some_and(|p| buffer.as_ptr_range().contains(&p)));

        own_head(&mut parts);

        assert_eq!(parts.uri, "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(parts.headers["x-custom"], "tenant-7");
        assert!(!inside(&buffer, parts.headers["x-custom"].as_bytes()));
        assert!(!path(&parts.uri).is_some_and(|p| buffer.as_ptr_range().contains(&p)));
        let original = parts.extensions.get::<OriginalUri>().expect("OriginalUri");
        assert_eq!(original.0, parts.uri);
        assert!(!path(&original.0).is_some_and(|p| buffer.as_ptr_range().contains(&p)));
    }
}
