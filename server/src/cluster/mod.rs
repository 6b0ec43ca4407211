//! Running as one of N nodes: the Redis link every node shares.
//!
//! With `--adapter redis` the Socket.IO adapter (rooms, broadcasts, acks,
//! fetch_sockets, disconnect across nodes), the chat stores and the node's
//! liveness all go through Redis. [`RedisLink`] owns the connections; the
//! monitor keeps `/readyz` truthful while Redis comes and goes.

pub mod driver;
pub mod ordered;
pub mod probe;

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisFuture, Value};
use tokio_util::sync::CancellationToken;

use crate::ops::health::Health;
use driver::ResilientDriver;

/// How long a node counts as alive after its last heartbeat in Redis.
pub const NODE_TTL_SECS: u64 = 15;

/// The connections of a node to Redis.
#[derive(Clone)]
pub struct RedisLink {
    /// Client with RESP3 (pub/sub pushes need it).
    pub client: redis::Client,
    /// Reconnecting connection for commands (stores, heartbeats).
    pub conn: RedisConn,
    /// Key prefix of every key iorelay writes.
    pub prefix: String,
    /// This node's id.
    pub node_id: String,
}

/// A command connection to one Redis server or to a Redis Cluster.
#[derive(Clone)]
pub enum RedisConn {
    /// One server, reconnecting with backoff.
    Single(ConnectionManager),
    /// A Redis Cluster (routes by key slot, follows MOVED).
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

/// A Redis client for `url`, forced to RESP3.
pub fn resp3_client(url: &str) -> Result<redis::Client, redis::RedisError> {
    let info = url.into_connection_info()?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    redis::Client::open(info.set_redis_settings(settings))
}

impl RedisLink {
    /// Connects now: an unreachable Redis is an error here, not a hang later.
    /// With `sharded`, `url` is one node of a Redis Cluster.
    pub async fn connect(
        url: &str,
        sharded: bool,
        prefix: &str,
        node_id: &str,
    ) -> Result<Self, redis::RedisError> {
        let client = resp3_client(url)?;
        let conn = if sharded {
            let cluster = redis::cluster::ClusterClientBuilder::new(vec![url])
                .use_protocol(ProtocolVersion::RESP3)
                .connection_timeout(Duration::from_secs(2))
                .response_timeout(Duration::from_secs(2))
                .build()?;
            RedisConn::Cluster(cluster.get_async_connection().await?)
        } else {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(2)))
                .set_max_delay(Duration::from_secs(2));
            RedisConn::Single(ConnectionManager::new_with_config(client.clone(), config).await?)
        };
        Ok(Self {
            client,
            conn,
            prefix: prefix.to_owned(),
            node_id: node_id.to_owned(),
        })
    }

    /// `{prefix}:{rest}`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// Key whose presence says a node is alive.
    pub fn node_key(&self, node_id: &str) -> String {
        self.key(&format!("node:{node_id}"))
    }

    async fn heartbeat(&self) -> Result<(), redis::RedisError> {
        redis::cmd("SET")
            .arg(self.node_key(&self.node_id))
            .arg(1)
            .arg("EX")
            .arg(NODE_TTL_SECS)
            .exec_async(&mut self.conn.clone())
            .await
    }
}

/// Checks Redis every second until `stop`: heartbeats this node, pings the
/// adapter's pub/sub connection (when it is ours) so it reconnects, reports the
/// `redis` readiness check and logs each loss and recovery once.
pub fn spawn_monitor(
    link: RedisLink,
    pubsub: Option<ResilientDriver>,
    health: Health,
    stop: CancellationToken,
) {
    health.set("redis", Ok(()));
    crate::ops::metrics::redis_up(true);
    let watched = probe::Watched {
        check: "redis",
        what: "Redis".to_owned(),
        lost: "lost the connection to Redis: cross-node delivery paused, local delivery goes on",
        back: "Redis connection restored: cross-node delivery resumes",
    };
    let check = move || {
        let link = link.clone();
        let pubsub = pubsub.clone();
        async move {
            link.heartbeat().await.map_err(|e| e.to_string())?;
            match &pubsub {
                Some(driver) => driver.ping().await.map_err(|e| e.to_string()),
                None => Ok(()),
            }
        }
    };
    tokio::spawn(probe::watch(
        watched,
        health,
        stop,
        check,
        crate::ops::metrics::redis_up,
    ));
}
