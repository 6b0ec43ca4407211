//! `server_stats`: what each node tells every Admin UI about itself, at once
//! and every 2 s.
//!
//! The UI is connected to one node, so every node broadcasts its own stats
//! to the admin namespace through the adapter: with Redis, every admin socket
//! on every node gets every node's row (the UI merges them by `serverId` and
//! marks a node unhealthy after 10 s of silence).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use socketioxide::{SocketIo, TransportType};
use tokio_util::sync::CancellationToken;

use crate::ops::admin_feed::{self, FeedItem};
use crate::ops::{activity, metrics};
use crate::protocol::admin_ui::{
    AggregatedEvent, NamespaceStats, SERVER_STATS, ServerStats, SocketUpdate,
};
use crate::socket::NodeAdapter;

/// How often each node reports (the reference server's interval).
pub const INTERVAL: Duration = Duration::from_secs(2);

/// What does not change while a node runs.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    /// `--node-id`.
    pub node_id: String,
    /// The machine's name.
    pub hostname: String,
    /// When the node started.
    pub started: Instant,
}

impl NodeFacts {
    /// This node, started now.
    pub fn here(node_id: &str) -> Self {
        Self {
            node_id: node_id.to_owned(),
            hostname: hostname(),
            started: Instant::now(),
        }
    }
}

/// The machine's host name (`unknown` when the system does not say).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// This node's stats now, with `activity` as its aggregated events.
pub fn collect<A: NodeAdapter>(
    io: &SocketIo<A>,
    facts: &NodeFacts,
    activity: Vec<AggregatedEvent>,
) -> ServerStats {
    let mut namespaces = Vec::new();
    let mut polling = HashSet::new();
    for ns in io.nsps() {
        let name = ns.ns_path().to_owned();
        let sockets = ns.sockets();
        for socket in &sockets {
            if socket.transport_type() == TransportType::Polling {
                polling.insert(socket.id);
            }
        }
        namespaces.push(NamespaceStats {
            name,
            sockets_count: sockets.len(),
        });
    }
    namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    ServerStats {
        server_id: facts.node_id.clone(),
        hostname: facts.hostname.clone(),
        pid: std::process::id(),
        uptime: facts.started.elapsed().as_secs_f64(),
        clients_count: metrics::engine_connections_now(),
        polling_clients_count: polling.len(),
        namespaces,
        aggregated_events: activity,
    }
}

/// Broadcasts this node's stats to `admin_ns` every [`INTERVAL`] until `stop`;
/// in development mode also reports sockets that upgraded to WebSocket.
pub fn spawn<A: NodeAdapter>(
    io: SocketIo<A>,
    admin_ns: String,
    facts: NodeFacts,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if admin_feed::is_on() {
                report_upgrades(&io);
            }
            let Some(admins) = io.of(admin_ns.as_str()) else {
                continue;
            };
            let stats = collect(&io, &facts, activity::take());
            if let Err(e) = admins.emit(SERVER_STATS, &stats).await {
                tracing::debug!(error = %e, "cannot broadcast server_stats");
            }
        }
    });
}

/// The transport a socket was last reported with.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ReportedTransport(TransportType);

/// socketioxide tells no one of an upgrade: compare each socket's transport
/// with the one last reported, and mirror the change.
fn report_upgrades<A: NodeAdapter>(io: &SocketIo<A>) {
    for ns in io.nsps() {
        for socket in ns.sockets() {
            let now = socket.transport_type();
            let before = socket.extensions.get::<ReportedTransport>();
            if before == Some(ReportedTransport(now)) {
                continue;
            }
            socket.extensions.insert(ReportedTransport(now));
            if now == TransportType::Websocket {
                admin_feed::push(|| {
                    FeedItem::Updated(SocketUpdate {
                        id: socket.id.to_string(),
                        nsp: socket.ns().to_owned(),
                        transport: metrics::transport_label(now),
                    })
                });
            }
        }
    }
}
