//! A socket as an operator sees it in the Admin UI: id, transport, rooms,
//! user and handshake, with credentials masked.
//!
//! Built only when the Admin UI asks (its socket list, development mode's
//! connect records), never on the hot path of a node without it.

use std::collections::BTreeMap;

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use crate::ops::metrics::transport_label;
use crate::ops::redaction::{MASK, is_secret_name};
use crate::protocol::admin_ui::{AdminHandshake, AdminSocket};
use crate::protocol::clock::{iso8601, now_ms};
use crate::protocol::user::User;
use crate::socket::lifecycle::remote_addr;

/// When a socket connected (ms since the epoch), kept while the Admin UI mirrors sockets.
#[derive(Debug, Clone, Copy)]
pub struct ConnectedAt(pub u64);

/// `socket` as the Admin UI lists it.
pub fn of<A: Adapter>(socket: &SocketRef<A>) -> AdminSocket {
    let parts = socket.req_parts();
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str().to_owned();
            let value = if is_secret_name(&name) {
                MASK.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name, value)
        })
        .collect();
    let query: BTreeMap<String, String> = parts
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| {
                    let v = if is_secret_name(&k) {
                        MASK.to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    let url = match parts.uri.query() {
        Some(_) => {
            let encoded: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query.iter())
                .finish();
            format!("{}?{encoded}", parts.uri.path())
        }
        None => parts.uri.path().to_owned(),
    };
    let address = headers
        .get("x-forwarded-for")
        .cloned()
        .or_else(|| remote_addr(socket).map(|a| a.ip().to_string()))
        .unwrap_or_default();
    let issued = socket
        .extensions
        .get::<ConnectedAt>()
        .map_or_else(now_ms, |ConnectedAt(ms)| ms);
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let xdomain = headers.contains_key("origin");
    let data = match socket.extensions.get::<User>() {
        Some(user) => serde_json::json!({ "user": user }),
        None => serde_json::json!({}),
    };
    let id = socket.id.to_string();
    AdminSocket {
        client_id: id.chars().take(12).collect(),
        id,
        transport: transport_label(socket.transport_type()),
        nsp: socket.ns().to_owned(),
        data,
        handshake: AdminHandshake {
            address,
            headers,
            query,
            issued,
            secure,
            time: iso8601(issued),
            url,
            xdomain,
        },
        rooms: socket.rooms().into_iter().map(|r| r.to_string()).collect(),
    }
}
