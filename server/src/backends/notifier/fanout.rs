//! Notifications to the other nodes of a cluster, through Redis pub/sub.
//!
//! Notifications do not travel as Socket.IO broadcasts: each node's
//! [`super::hub::Hub`] must see every one (to hold it for a subscriber that
//! is catching up, and to reach SSE streams), so the publishing node
//! publishes it once on `{prefix}:notify` and every other node hands it to
//! its own hub.

use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use socketioxide_redis::drivers::Driver;
use tokio_util::sync::CancellationToken;

use super::hub::{Hub, Published};
use crate::cluster::RedisLink;
use crate::cluster::driver::ResilientDriver;
use crate::protocol::notifications::Notification;
use crate::socket::NodeAdapter;

/// Notifications from other nodes waiting for this node's hub. Generous: a
/// full buffer drops a live copy (history still has it for the next catch-up).
const CHANNEL_CAPACITY: usize = 65_536;

/// Largest notification accepted from the channel (others are dropped, counted).
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct Wire {
    node: String,
    users: Vec<String>,
    notification: Notification,
}

/// The cluster side of notification delivery.
pub struct Fanout {
    driver: ResilientDriver,
    channel: String,
    node: String,
}

impl Fanout {
    /// Connects a pub/sub connection of its own and hands what other nodes
    /// publish to `hub` until `stop`.
    pub async fn start<A: NodeAdapter>(
        link: &RedisLink,
        hub: Arc<Hub<A>>,
        stop: CancellationToken,
    ) -> Result<Arc<Self>, redis::RedisError> {
        let driver = ResilientDriver::connect(link.client.clone()).await?;
        let channel = link.key("notify");
        let mut messages = driver
            .subscribe(channel.clone(), CHANNEL_CAPACITY)
            .await
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
        let node = link.node_id.clone();
        let me = node.clone();
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    () = stop.cancelled() => break,
                    item = messages.next() => item,
                };
                let Some((_, payload)) = item else { break };
                if payload.len() > MAX_MESSAGE_BYTES {
                    tracing::warn!(
                        bytes = payload.len(),
                        "oversized notification on the cluster channel dropped"
                    );
                    continue;
                }
                match serde_json::from_slice::<Wire>(&payload) {
                    Ok(wire) if wire.node == me => {}
                    Ok(wire) => {
                        let published = Published {
                            notification: wire.notification,
                            users: wire.users,
                        };
                        hub.deliver(&published).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable notification on the cluster channel")
                    }
                }
            }
        });
        Ok(Arc::new(Self {
            driver,
            channel,
            node,
        }))
    }

    /// Hands `published` to every other node.
    pub async fn publish(&self, published: &Published) -> Result<(), String> {
        let wire = Wire {
            node: self.node.clone(),
            users: published.users.clone(),
            notification: published.notification.clone(),
        };
        let payload = serde_json::to_vec(&wire).map_err(|e| e.to_string())?;
        self.driver
            .publish(self.channel.clone(), payload)
            .await
            .map_err(|e| e.to_string())
    }
}
