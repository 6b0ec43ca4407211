//! Development mode, cluster-wide: every socket of every node, for the
//! `all_sockets` list of an Admin UI that just connected to one of them.
//!
//! socketioxide's `fetch_sockets` tells only a remote socket's id and
//! namespace, not its rooms, transport or handshake, and no node can be asked
//! through the adapter. So the node the UI connected to asks the others on
//! `{prefix}:admin-census` (Redis pub/sub), each answers with its own sockets
//! on the asker's `{prefix}:admin-census:{node}`, and the asker sends one
//! `all_sockets` once every subscribed node answered (Redis counts them,
//! `PUBSUB NUMSUB`) or [`WAIT`] has passed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;
use socketioxide_redis::drivers::Driver;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::RedisLink;
use crate::cluster::driver::ResilientDriver;
use crate::socket::{NodeAdapter, snapshot};

/// Most sockets one node lists for one UI (a debugging view, not an export).
pub const MAX_LISTED: usize = 5_000;
/// Longest wait for the other nodes' answers.
pub const WAIT: Duration = Duration::from_millis(1_500);
/// Messages waiting on a census channel.
const CHANNEL_CAPACITY: usize = 64;
/// Largest census message read (an answer of [`MAX_LISTED`] sockets fits).
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// A node asks the others for their sockets.
#[derive(Debug, Serialize, Deserialize)]
struct Ask {
    from: String,
    id: u64,
}

/// A node's sockets, for the asker's request `id`.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    id: u64,
    sockets: Vec<serde_json::Value>,
}

type Pending = Arc<Mutex<HashMap<u64, mpsc::Sender<Vec<serde_json::Value>>>>>;

/// The census of one node.
pub struct Census {
    driver: ResilientDriver,
    link: RedisLink,
    channel: String,
    pending: Pending,
    next_id: AtomicU64,
}

impl Census {
    /// Subscribes, answers other nodes' requests and collects answers until `stop`.
    pub async fn start<A: NodeAdapter>(
        link: &RedisLink,
        io: SocketIo<A>,
        stop: CancellationToken,
    ) -> Result<Self, redis::RedisError> {
        let driver = ResilientDriver::connect(link.client.clone()).await?;
        let channel = link.key("admin-census");
        let subscribe = async |channel: String| {
            driver
                .subscribe(channel, CHANNEL_CAPACITY)
                .await
                .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))
        };
        let mut asks = subscribe(channel.clone()).await?;
        let mut answers = subscribe(answer_channel(&channel, &link.node_id)).await?;
        let pending: Pending = Arc::default();
        let (me, publisher, base) = (link.node_id.clone(), driver.clone(), channel.clone());
        let stop_asks = stop.clone();
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    () = stop_asks.cancelled() => break,
                    item = asks.next() => item,
                };
                let Some((_, payload)) = item else { break };
                match read::<Ask>(&payload) {
                    Some(ask) if ask.from != me => {
                        let answer = Answer {
                            id: ask.id,
                            sockets: local_sockets(&io),
                        };
                        let Ok(payload) = serde_json::to_vec(&answer) else {
                            continue;
                        };
                        let to = answer_channel(&base, &ask.from);
                        if let Err(e) = publisher.publish(to, payload).await {
                            tracing::warn!(error = %e, "cannot answer an admin census request");
                        }
                    }
                    _ => {}
                }
            }
        });
        let collected = pending.clone();
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    () = stop.cancelled() => break,
                    item = answers.next() => item,
                };
                let Some((_, payload)) = item else { break };
                let Some(answer) = read::<Answer>(&payload) else {
                    continue;
                };
                let waiting = collected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&answer.id)
                    .cloned();
                if let Some(waiting) = waiting {
                    // A full or gone waiter has given up already.
                    let _ = waiting.try_send(answer.sockets);
                }
            }
        });
        Ok(Self {
            driver,
            link: link.clone(),
            channel,
            pending,
            next_id: AtomicU64::new(0),
        })
    }

    /// Every socket of the cluster: this node's, and those the other nodes
    /// send within [`WAIT`].
    pub async fn everyone<A: NodeAdapter>(&self, io: &SocketIo<A>) -> Vec<serde_json::Value> {
        let mut all = local_sockets(io);
        let peers = self.peers().await;
        if peers == Some(0) {
            return all;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel(CHANNEL_CAPACITY);
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        let ask = Ask {
            from: self.link.node_id.clone(),
            id,
        };
        let asked = match serde_json::to_vec(&ask) {
            Ok(payload) => self
                .driver
                .publish(self.channel.clone(), payload)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = asked {
            tracing::warn!(error = %e, "cannot ask the other nodes for their sockets; the admin UI lists this node's only");
        } else {
            let deadline = tokio::time::Instant::now() + WAIT;
            let mut answered = 0;
            while peers != Some(answered) {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(sockets)) => {
                        all.extend(sockets);
                        answered += 1;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        all
    }

    /// Other nodes listening on the census channel, when Redis says.
    async fn peers(&self) -> Option<usize> {
        let mut conn = self.link.conn.clone();
        let counts: Vec<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&self.channel)
            .query_async(&mut conn)
            .await
            .ok()?;
        counts.first().map(|(_, n)| n.saturating_sub(1))
    }
}

/// Where `node` reads the answers to its requests.
fn answer_channel(base: &str, node: &str) -> String {
    format!("{base}:{node}")
}

fn read<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Option<T> {
    if payload.len() > MAX_MESSAGE_BYTES {
        tracing::warn!(
            bytes = payload.len(),
            "oversized admin census message dropped"
        );
        return None;
    }
    serde_json::from_slice(payload)
        .map_err(|e| tracing::warn!(error = %e, "unreadable admin census message"))
        .ok()
}

/// Every socket of this node (at most [`MAX_LISTED`]), as the UI lists them.
pub fn local_sockets<A: NodeAdapter>(io: &SocketIo<A>) -> Vec<serde_json::Value> {
    let mut listed = Vec::new();
    for ns in io.nsps() {
        for socket in ns.sockets() {
            if listed.len() == MAX_LISTED {
                tracing::warn!(max = MAX_LISTED, "admin UI socket list cut short");
                return listed;
            }
            match serde_json::to_value(snapshot::of(&socket)) {
                Ok(value) => listed.push(value),
                Err(e) => tracing::debug!(error = %e, "cannot list a socket"),
            }
        }
    }
    listed
}
