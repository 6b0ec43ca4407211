//! What a node keeps its shared state in: memory on one node, Redis for a cluster.
//!
//! Chat history and presence live in the same place as the adapter's rooms, so
//! a node alone needs nothing, and nodes of a cluster agree.

use std::sync::Arc;
use std::time::Duration;

use crate::apps::chat::history::{HistoryLimits, HistoryStore, MemoryHistory};
use crate::apps::chat::presence::{MemoryPresence, PresenceStore};
use crate::apps::chat::redis_store::{RedisHistory, RedisPresence};
use crate::backends::notifier::history::{
    HistoryLimits as NotificationLimits, MemoryNotificationHistory, NotificationHistory,
};
use crate::backends::notifier::redis_history::RedisNotificationHistory;
use crate::cluster::RedisLink;
use crate::cluster::driver::ResilientDriver;
use crate::config::Config;

/// What a node shares with its peers: the chat and notification stores and, clustered, the Redis link.
pub(super) struct Stores {
    pub node_id: String,
    pub history: Arc<dyn HistoryStore>,
    pub presence: Arc<dyn PresenceStore>,
    /// Notification streams, for catch-up.
    pub notifications: Arc<dyn NotificationHistory>,
    pub redis: Option<RedisLink>,
    /// The adapter's pub/sub driver when it is ours (not sharded), for the monitor.
    pub pubsub: Option<ResilientDriver>,
}

impl Stores {
    /// One node's stores, in memory.
    pub fn memory(config: &Config, node_id: String) -> Self {
        let chat = &config.chat;
        Self {
            node_id,
            history: Arc::new(MemoryHistory::new(HistoryLimits {
                per_room: chat.chat_history_size,
                max_bytes: chat.chat_history_max_bytes,
                max_rooms: chat.chat_history_max_rooms,
                ttl: (chat.chat_history_ttl_secs > 0)
                    .then(|| Duration::from_secs(chat.chat_history_ttl_secs)),
            })),
            presence: Arc::new(MemoryPresence::default()),
            notifications: Arc::new(MemoryNotificationHistory::new(notification_limits(config))),
            redis: None,
            pubsub: None,
        }
    }

    /// A cluster node's stores, in Redis through `link`.
    pub fn redis(config: &Config, node_id: String, link: RedisLink) -> Self {
        Self {
            node_id,
            history: Arc::new(RedisHistory::new(
                link.clone(),
                config.chat.chat_history_size,
                config.chat.chat_history_ttl_secs,
            )),
            presence: Arc::new(RedisPresence::new(link.clone())),
            notifications: Arc::new(RedisNotificationHistory::new(
                link.clone(),
                config.notifications.notify_history_size,
                config.notifications.notify_history_ttl_secs,
            )),
            redis: Some(link),
            pubsub: None,
        }
    }
}

fn notification_limits(config: &Config) -> NotificationLimits {
    let n = &config.notifications;
    NotificationLimits {
        per_stream: n.notify_history_size.max(1),
        ttl: (n.notify_history_ttl_secs > 0)
            .then(|| Duration::from_secs(n.notify_history_ttl_secs)),
        max_streams: n.notify_history_max_streams.max(1),
        max_bytes: n.notify_history_max_bytes,
    }
}

/// A random per-process node id (8 hex digits).
pub fn random_node_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    // RandomState is seeded randomly per process; hashing the pid and time gives a fresh id.
    let hash = RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now()));
    format!("{:08x}", hash & 0xffff_ffff)
}
