//! Engine.IO requests read the way the engine reads them, in one place.
//!
//! Every layer in front of socketioxide (origin check, connection limits,
//! session ids, the head copy, the v3 gate) must agree with engineioxide on
//! what a request is: which paths are the engine's, what its `sid`, `EIO` and
//! `transport` are, whether it opens a session. A layer that read them
//! differently could be walked around (a request it takes for something else
//! reaches the engine anyway), so they all ask here. The rules are
//! engineioxide 0.17's: a query is split on `&`, the first piece starting with
//! `key=` counts, and nothing is percent-decoded.

use http::{Method, Uri};

/// Whether `path` is served by the engine mounted at `engine_path` (the path
/// itself, or below it).
pub fn is_engine_path(path: &str, engine_path: &str) -> bool {
    path.strip_prefix(engine_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || engine_path.ends_with('/'))
}

/// The value of the first `sid=` piece of a query (whole, as the engine reads it).
pub fn query_sid(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| pair.strip_prefix("sid="))
}

/// The value of the first `key=` piece of a query, up to the next `=`, as the
/// engine reads `EIO` and `transport`.
pub fn query_param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        .and_then(|value| value.split('=').next())
}

/// Whether a request to the engine opens a session: it names a protocol
/// version and no session.
pub fn opens_session(uri: &Uri) -> bool {
    uri.query()
        .is_some_and(|q| query_param(q, "EIO").is_some() && query_sid(q).is_none())
}

/// Whether a request is a handshake at `engine_path`: a GET to the engine without a session.
pub fn is_handshake(method: &Method, uri: &Uri, engine_path: &str) -> bool {
    method == Method::GET
        && is_engine_path(uri.path(), engine_path)
        && uri.query().and_then(query_sid).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("uri")
    }

    #[test]
    fn engine_paths_follow_the_engine() {
        assert!(is_engine_path("/socket.io", "/socket.io"));
        assert!(is_engine_path("/socket.io/", "/socket.io"));
        assert!(!is_engine_path("/socket.iox/", "/socket.io"));
        assert!(!is_engine_path("/healthz", "/socket.io"));
    }

    #[test]
    fn params_are_read_like_the_engine() {
        assert_eq!(
            query_param("EIO=4&transport=websocket", "transport"),
            Some("websocket")
        );
        assert_eq!(query_param("EIO=3=x&transport=polling", "EIO"), Some("3"));
        assert_eq!(query_param("xEIO=4&EIO=3", "EIO"), Some("3"));
        assert_eq!(query_param("transport", "transport"), None);
        assert_eq!(query_sid("EIO=4&sid=first&sid=second"), Some("first"));
        assert_eq!(query_sid("EIO=4&xsid=a"), None);
        assert_eq!(query_sid("sid="), Some(""));
    }

    #[test]
    fn handshakes_open_sessions() {
        assert!(opens_session(&uri("/socket.io/?EIO=4&transport=websocket")));
        assert!(opens_session(&uri(
            "/socket.io/?EIO=4&transport=polling&t=x"
        )));
        assert!(!opens_session(&uri(
            "/socket.io/?EIO=4&transport=polling&sid=abc"
        )));
        assert!(!opens_session(&uri("/healthz")));
        assert!(!opens_session(&uri("/api/v1/emit?x=1")));
        let handshake = |m: Method, u: &str| is_handshake(&m, &uri(u), "/socket.io");
        assert!(handshake(
            Method::GET,
            "/socket.io/?EIO=4&transport=polling"
        ));
        assert!(!handshake(
            Method::GET,
            "/socket.io/?EIO=4&transport=polling&sid=x"
        ));
        assert!(!handshake(
            Method::POST,
            "/socket.io/?EIO=4&transport=polling"
        ));
        assert!(!handshake(Method::GET, "/socket.iox/?EIO=4"));
    }
}
