//! socket.io-client 2.x has no `auth` option: it names itself and presents a
//! token in its query, so for those clients the query stands in for `auth`.
//!
//! A 2.x client (Socket.IO v4 protocol over Engine.IO v3, `--allow-eio3`) puts
//! its `query` option on the Engine.IO handshake URL and, for a non-root
//! namespace, into the namespace CONNECT (`0/chat?name=Ada,`), where the
//! vendored parser turns it into an object of strings (`vendor/VENDORED.md`).
//! Node's socket.io 2 merged both into `socket.handshake.query`; here they are
//! merged into the `auth` the connect middlewares read: the namespace's query
//! as it is, with the handshake's `name` and `token` where it has none (a
//! second namespace multiplexed on one connection has only its own query).
//! Clients of the v5 protocol never get this: an absent `auth` stays absent.

use serde_json::{Map, Value};
use socketioxide::ProtocolVersion;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

/// The keys of the Engine.IO handshake query that stand in for `auth` (what
/// `/chat`, `/notifications` and the token check read).
pub const HANDSHAKE_KEYS: [&str; 2] = ["name", "token"];

/// The `auth` of a connecting socket: what it sent, or for a socket.io-client
/// 2.x socket, its queries ([`from_queries`]).
pub fn auth_of<A: Adapter>(socket: &SocketRef<A>, auth: Option<Value>) -> Option<Value> {
    if socket.protocol() != ProtocolVersion::V4 {
        return auth;
    }
    from_queries(socket.req_parts().uri.query(), auth)
}

/// The namespace query object (`None` without one) with the handshake query's
/// [`HANDSHAKE_KEYS`] added where it lacks them; `None` when both are empty.
/// A namespace query that is not an object is returned as it is.
pub fn from_queries(
    handshake_query: Option<&str>,
    namespace_query: Option<Value>,
) -> Option<Value> {
    let mut auth = match namespace_query {
        Some(Value::Object(fields)) => fields,
        None => Map::new(),
        Some(other) => return Some(other),
    };
    for (key, value) in form_urlencoded::parse(handshake_query.unwrap_or("").as_bytes()) {
        if HANDSHAKE_KEYS.contains(&key.as_ref()) && !auth.contains_key(key.as_ref()) {
            auth.insert(key.into_owned(), Value::String(value.into_owned()));
        }
    }
    (!auth.is_empty()).then_some(Value::Object(auth))
}

#[cfg(test)]
mod tests {
    use super::from_queries;
    use serde_json::json;

    #[test]
    fn the_handshake_query_fills_what_the_namespace_query_lacks() {
        let handshake = Some("EIO=3&transport=polling&name=Ada%20L&token=t1&t=x&name=second");
        assert_eq!(
            from_queries(handshake, None),
            Some(json!({"name": "Ada L", "token": "t1"}))
        );
        assert_eq!(
            from_queries(handshake, Some(json!({"token": "t2", "room": "r"}))),
            Some(json!({"name": "Ada L", "token": "t2", "room": "r"}))
        );
        assert_eq!(from_queries(Some("EIO=3&transport=websocket"), None), None);
        assert_eq!(from_queries(None, Some(json!({}))), None);
        assert_eq!(from_queries(None, Some(json!("x"))), Some(json!("x")));
    }
}
