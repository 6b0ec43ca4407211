//! The pub/sub driver of the Redis adapter, made to survive Redis restarts.
//!
//! socketioxide-redis's stock redis-rs driver holds one multiplexed
//! connection: once Redis goes away it stays dead, and cross-node delivery
//! with it. This driver publishes and subscribes through a redis-rs
//! `ConnectionManager`, which reconnects with backoff and re-subscribes every
//! channel after a reconnect, so a node resumes cross-node delivery on its own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use redis::aio::ConnectionManager;
use redis::{FromRedisValue, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// A [`Driver`] on a reconnecting Redis connection.
#[derive(Clone)]
pub struct ResilientDriver {
    handlers: Handlers,
    conn: ConnectionManager,
}

/// A Redis error, as the adapter reports it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DriverError(#[from] redis::RedisError);

fn route(push: PushInfo, handlers: &Handlers) {
    if !matches!(push.kind, PushKind::Message | PushKind::SMessage) || push.data.len() < 2 {
        return;
    }
    let mut data = push.data.into_iter();
    let (Some(chan), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(chan), Ok(payload)) = (
        String::from_redis_value(chan),
        Vec::<u8>::from_redis_value(payload),
    ) else {
        tracing::warn!("unreadable pub/sub message from Redis");
        return;
    };
    let Ok(handlers) = handlers.read() else {
        return;
    };
    if let Some(tx) = handlers.get(&chan)
        && let Err(e) = tx.try_send((chan, payload))
    {
        tracing::warn!(error = %e, "adapter channel full; a cross-node message was dropped");
    }
}

impl ResilientDriver {
    /// Connects to Redis (failing now if it is unreachable) with reconnection and resubscription.
    pub async fn connect(client: redis::Client) -> Result<Self, redis::RedisError> {
        let handlers: Handlers = Arc::default();
        let router = handlers.clone();
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_push_sender(move |push: PushInfo| {
                route(push, &router);
                Ok::<(), std::convert::Infallible>(())
            })
            .set_automatic_resubscription()
            .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
            .set_max_delay(std::time::Duration::from_secs(2));
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self { handlers, conn })
    }
}

impl ResilientDriver {
    /// Sends a PING on the pub/sub connection. The connection manager only
    /// notices a lost connection when a command fails, so a node that only
    /// receives would otherwise never reconnect and re-subscribe.
    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        redis::cmd("PING").exec_async(&mut self.conn.clone()).await
    }
}

impl Driver for ResilientDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        redis::cmd("PUBLISH")
            .arg(chan)
            .arg(val)
            .exec_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        if let Ok(mut handlers) = self.handlers.write() {
            handlers.insert(chan.clone(), tx);
        }
        self.conn.clone().subscribe(chan.as_str()).await?;
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        if let Ok(mut handlers) = self.handlers.write() {
            handlers.remove(&chan);
        }
        self.conn.clone().unsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let (_, count): (String, u16) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ordered::Ordered;
    use futures_util::FutureExt;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    /// A redis-server on a free port, killed on drop.
    struct RedisServer(Child, u16);

    impl Drop for RedisServer {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    async fn redis_server() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (the cluster tests need it installed)");
        let server = RedisServer(child, port);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server did not start");
    }

    async fn channels(client: &redis::Client) -> Vec<String> {
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("conn");
        redis::cmd("PUBSUB")
            .arg("CHANNELS")
            .query_async(&mut conn)
            .await
            .expect("channels")
    }

    #[tokio::test]
    async fn an_unsubscribe_polled_once_is_still_sent() {
        let server = redis_server().await;
        let client =
            crate::cluster::resp3_client(&format!("redis://127.0.0.1:{}", server.1)).expect("url");
        let driver = Ordered::new(
            ResilientDriver::connect(client.clone())
                .await
                .expect("driver"),
        );
        let names = ["a", "b", "c"].map(|c| format!("ns#{c}"));
        for chan in &names {
            let _stream = driver.subscribe(chan.clone(), 8).await.expect("subscribe");
        }
        let mut subscribed = channels(&client).await;
        subscribed.sort();
        assert_eq!(subscribed, names);
        // As socketioxide closes a deleted namespace's adapter: all at once, polled once.
        let _ = futures_util::future::try_join3(
            driver.unsubscribe(names[0].clone()),
            driver.unsubscribe(names[1].clone()),
            driver.unsubscribe(names[2].clone()),
        )
        .now_or_never();
        let gone = async {
            while !channels(&client).await.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), gone)
            .await
            .expect("every channel unsubscribed");
        // And a channel subscribed again after it is subscribed.
        let _stream = driver.subscribe(names[0].clone(), 8).await.expect("again");
        assert_eq!(channels(&client).await, [names[0].clone()]);
    }
}
