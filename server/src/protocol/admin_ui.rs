//! What the official Socket.IO Admin UI (`@socket.io/admin-ui` 0.5) and the
//! admin namespace say to each other: event names and payload shapes.
//!
//! The UI is a published client we do not control, so these follow its
//! sources: camelCase keys, timestamps as JavaScript `Date`s in JSON (ISO
//! strings), and the exact refusal text it matches on.

use std::collections::BTreeMap;

use serde::Serialize;

/// The `connect_error` message of a refused login; the UI matches this text.
pub const INVALID_CREDENTIALS: &str = "invalid credentials";

/// Server → UI: the session id to log in with next time, after a password login.
pub const SESSION: &str = "session";
/// Server → UI: [`UiConfig`], on connect.
pub const CONFIG: &str = "config";
/// Server → UI: [`ServerStats`], at connect and every 2 s, from every node.
pub const SERVER_STATS: &str = "server_stats";
/// Server → UI (development mode): every socket of the cluster, `[AdminSocket]`.
pub const ALL_SOCKETS: &str = "all_sockets";
/// Server → UI (development mode): `(AdminSocket, timestamp)`.
pub const SOCKET_CONNECTED: &str = "socket_connected";
/// Server → UI (development mode): `{id, nsp, ...changed fields}`.
pub const SOCKET_UPDATED: &str = "socket_updated";
/// Server → UI (development mode): `(nsp, id, reason, timestamp)`.
pub const SOCKET_DISCONNECTED: &str = "socket_disconnected";
/// Server → UI (development mode): `(nsp, room, id, timestamp)`.
pub const ROOM_JOINED: &str = "room_joined";
/// Server → UI (development mode): `(nsp, room, id, timestamp)`.
pub const ROOM_LEFT: &str = "room_left";
/// Server → UI (development mode): `(nsp, id, args, timestamp)`.
pub const EVENT_RECEIVED: &str = "event_received";
/// Server → UI (development mode): `(nsp, id, args, timestamp)`.
pub const EVENT_SENT: &str = "event_sent";

/// UI → server: `(nsp, filter?, event, ...args)`.
pub const EMIT: &str = "emit";
/// UI → server: `(nsp, room, filter?)`.
pub const JOIN: &str = "join";
/// UI → server: `(nsp, room, filter?)`.
pub const LEAVE: &str = "leave";
/// UI → server: `(nsp, close, filter?)`.
pub const DISCONNECT: &str = "_disconnect";

/// What the server lets the UI do and show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Feature {
    /// Emit to a socket, a room or a namespace.
    Emit,
    /// Make one socket join a room.
    Join,
    /// Make one socket leave a room.
    Leave,
    /// Disconnect one socket.
    Disconnect,
    /// Make a room's sockets join a room.
    Mjoin,
    /// Make a room's sockets leave a room.
    Mleave,
    /// Disconnect a room's sockets.
    Mdisconnect,
    /// `aggregatedEvents` in `server_stats`.
    AggregatedEvents,
    /// Sockets, rooms and events, live (development mode).
    AllEvents,
}

impl Feature {
    /// The commands, left out in read-only mode.
    pub const COMMANDS: [Feature; 7] = [
        Feature::Emit,
        Feature::Join,
        Feature::Leave,
        Feature::Disconnect,
        Feature::Mjoin,
        Feature::Mleave,
        Feature::Mdisconnect,
    ];

    /// What a server with these settings supports, in the order the UI's reference server lists them.
    pub fn supported(read_only: bool, development: bool) -> Vec<Feature> {
        let mut features = if read_only {
            Vec::new()
        } else {
            Feature::COMMANDS.to_vec()
        };
        features.push(Feature::AggregatedEvents);
        if development {
            features.push(Feature::AllEvents);
        }
        features
    }
}

/// The `config` event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiConfig {
    /// What the UI may offer.
    pub supported_features: Vec<Feature>,
}

/// One node's `server_stats`; the UI keeps one row per `serverId`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStats {
    /// The node id (`--node-id`).
    pub server_id: String,
    /// The machine's host name.
    pub hostname: String,
    /// The process id.
    pub pid: u32,
    /// Seconds since the node started.
    pub uptime: f64,
    /// Engine.IO connections this node holds.
    pub clients_count: usize,
    /// Of those, connections still on HTTP long-polling.
    pub polling_clients_count: usize,
    /// This node's namespaces and their sockets here.
    pub namespaces: Vec<NamespaceStats>,
    /// Counts per second since the last `server_stats`.
    pub aggregated_events: Vec<AggregatedEvent>,
}

/// A namespace as `server_stats` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStats {
    /// Its path.
    pub name: String,
    /// Sockets connected to it on this node.
    pub sockets_count: usize,
}

/// What an aggregated event counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ActivityKind {
    /// A socket connected.
    RawConnection,
    /// A socket disconnected (`subType`: why).
    RawDisconnection,
    /// Events received from clients.
    PacketsIn,
    /// Events sent to clients (one per emit or broadcast).
    PacketsOut,
    /// Bytes of the events received.
    BytesIn,
    /// Bytes of the events sent (their encoded arguments).
    BytesOut,
}

/// Occurrences of one kind of activity within one second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregatedEvent {
    /// The second, in ms since the epoch (a multiple of 1000).
    pub timestamp: u64,
    /// What was counted.
    #[serde(rename = "type")]
    pub kind: ActivityKind,
    /// The disconnect reason of `rawDisconnection`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<&'static str>,
    /// How many.
    pub count: u64,
}

/// A socket as the UI lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminSocket {
    /// The socket id.
    pub id: String,
    /// Its Engine.IO connection (the first 12 characters of its id, as the reference server).
    pub client_id: String,
    /// `polling` or `websocket`.
    pub transport: &'static str,
    /// Its namespace.
    pub nsp: String,
    /// Application data (the user, for sockets that have one).
    pub data: serde_json::Value,
    /// How it connected.
    pub handshake: AdminHandshake,
    /// Its rooms, its own id room included.
    pub rooms: Vec<String>,
}

/// The handshake of an [`AdminSocket`]; credentials are masked.
#[derive(Debug, Clone, Serialize)]
pub struct AdminHandshake {
    /// The client address (`X-Forwarded-For` when given, as the reference server).
    pub address: String,
    /// Request headers; `authorization` and `cookie` masked.
    pub headers: BTreeMap<String, String>,
    /// Query parameters; `token` masked.
    pub query: BTreeMap<String, String>,
    /// When it connected, ms since the epoch.
    pub issued: u64,
    /// Whether it came over TLS.
    pub secure: bool,
    /// When it connected, as a date text.
    pub time: String,
    /// The request URL (path and query, `token` masked).
    pub url: String,
    /// Whether it came from another origin.
    pub xdomain: bool,
}

/// A changed transport, as `socket_updated` carries it.
#[derive(Debug, Clone, Serialize)]
pub struct SocketUpdate {
    /// The socket id.
    pub id: String,
    /// Its namespace.
    pub nsp: String,
    /// Its transport now.
    pub transport: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_named_as_the_ui_expects() {
        let all = serde_json::to_value(Feature::supported(false, true)).expect("json");
        assert_eq!(
            all,
            serde_json::json!([
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
                "AGGREGATED_EVENTS",
                "ALL_EVENTS"
            ])
        );
        let read_only = serde_json::to_value(Feature::supported(true, false)).expect("json");
        assert_eq!(read_only, serde_json::json!(["AGGREGATED_EVENTS"]));
    }

    #[test]
    fn aggregated_events_use_the_ui_keys() {
        let e = AggregatedEvent {
            timestamp: 1000,
            kind: ActivityKind::RawDisconnection,
            sub_type: Some("transport close"),
            count: 2,
        };
        assert_eq!(
            serde_json::to_value(e).expect("json"),
            serde_json::json!({"timestamp": 1000, "type": "rawDisconnection", "subType": "transport close", "count": 2})
        );
    }
}
