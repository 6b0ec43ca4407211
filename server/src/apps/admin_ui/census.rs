//! Development mode, cluster-wide: every socket of every node for an Admin UI
//! that just connected to one of them.
//!
//! socketioxide's `fetch_sockets` tells only a remote socket's id and
//! namespace, not its rooms, transport or handshake, and no node can be asked
//! through the adapter. So the node the UI connected to lists its own sockets
//! in `all_sockets` and asks the others on `{prefix}:admin-census` (Redis
//! pub/sub); each answers with one `socket_connected` per socket of its own,
//! sent through the adapter to that admin socket alone (its id room).

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;
use socketioxide_redis::drivers::Driver;
use tokio_util::sync::CancellationToken;

use super::mirror::connected_args;
use crate::cluster::RedisLink;
use crate::cluster::driver::ResilientDriver;
use crate::protocol::admin_ui::{AdminSocket, SOCKET_CONNECTED};
use crate::protocol::clock::now_ms;
use crate::socket::{NodeAdapter, snapshot};

/// Most sockets one node lists for one UI (a debugging view, not an export).
pub const MAX_LISTED: usize = 10_000;
/// Requests waiting on the channel; a request is tiny and rare.
const CHANNEL_CAPACITY: usize = 64;
/// Largest request read from the channel.
const MAX_REQUEST_BYTES: usize = 1_024;

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    /// The asking node (it answers for itself directly).
    node: String,
    /// The admin socket to answer.
    admin: String,
}

/// The census channel of one node.
pub struct Census {
    driver: ResilientDriver,
    channel: String,
    node: String,
}

impl Census {
    /// Subscribes and answers other nodes' requests until `stop`.
    pub async fn start<A: NodeAdapter>(
        link: &RedisLink,
        io: SocketIo<A>,
        admin_ns: String,
        stop: CancellationToken,
    ) -> Result<Self, redis::RedisError> {
        let driver = ResilientDriver::connect(link.client.clone()).await?;
        let channel = link.key("admin-census");
        let mut requests = driver
            .subscribe(channel.clone(), CHANNEL_CAPACITY)
            .await
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
        let me = link.node_id.clone();
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    () = stop.cancelled() => break,
                    item = requests.next() => item,
                };
                let Some((_, payload)) = item else { break };
                if payload.len() > MAX_REQUEST_BYTES {
                    tracing::warn!(
                        bytes = payload.len(),
                        "oversized admin census request dropped"
                    );
                    continue;
                }
                match serde_json::from_slice::<Request>(&payload) {
                    Ok(request) if request.node == me => {}
                    Ok(request) => answer(&io, &admin_ns, &request.admin).await,
                    Err(e) => tracing::warn!(error = %e, "unreadable admin census request"),
                }
            }
        });
        Ok(Self {
            driver,
            channel,
            node: link.node_id.clone(),
        })
    }

    /// Asks the other nodes to list their sockets to `admin_sid`.
    pub async fn ask(&self, admin_sid: &str) {
        let request = Request {
            node: self.node.clone(),
            admin: admin_sid.to_owned(),
        };
        let Ok(payload) = serde_json::to_vec(&request) else {
            return;
        };
        if let Err(e) = self.driver.publish(self.channel.clone(), payload).await {
            tracing::warn!(error = %e, "cannot ask the other nodes for their sockets; the admin UI lists this node's only");
        }
    }
}

/// Every socket of this node (at most [`MAX_LISTED`]), as the UI lists them.
pub fn local_sockets<A: NodeAdapter>(io: &SocketIo<A>) -> Vec<AdminSocket> {
    let mut listed = Vec::new();
    for ns in io.nsps() {
        for socket in ns.sockets() {
            if listed.len() == MAX_LISTED {
                tracing::warn!(max = MAX_LISTED, "admin UI socket list cut short");
                return listed;
            }
            listed.push(snapshot::of(&socket));
        }
    }
    listed
}

/// Lists this node's sockets to the admin socket `admin_sid` (on any node).
async fn answer<A: NodeAdapter>(io: &SocketIo<A>, admin_ns: &str, admin_sid: &str) {
    let Some(admins) = io.of(admin_ns) else {
        return;
    };
    let to = admins.to(admin_sid.to_owned());
    for socket in local_sockets(io) {
        let args = connected_args(socket, now_ms());
        if let Err(e) = to.clone().emit(SOCKET_CONNECTED, &args).await {
            tracing::debug!(error = %e, "cannot list a socket to the admin UI");
            return;
        }
    }
}
