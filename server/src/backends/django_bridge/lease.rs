//! One node of the cluster delivers the user groups read from pub/sub.
//!
//! Every node subscribed to a pub/sub layer gets every message. Room groups
//! are applied by each node to its own sockets, but a user group goes through
//! the notification path, which reaches the user's sockets on every node (and
//! keeps its history): it must run once. The nodes share a lease in the
//! layer's first Redis host; its holder delivers user groups, the others
//! ignore them. The holder renews it every second; when it dies, another node
//! takes over within [`TTL`]. Pub/sub is at-most-once already (a message
//! published while nobody listens is lost), so a hand-over may lose the user
//! messages of those seconds, as a restart of a Daphne worker would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;

use crate::ops::health::Health;

/// Readiness check: ready once the lease's holder is known (this node or another).
pub const HEALTH_CHECK: &str = "django_bridge_lease";

/// How long a lease lasts without renewal.
pub const TTL: Duration = Duration::from_secs(3);

/// How often the holder renews it and the others try to take it.
const RENEW_EVERY: Duration = Duration::from_secs(1);

/// Takes the lease if it is free or ours, and renews it: 1 if we hold it.
const TAKE_OR_RENEW: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0";

/// Gives the lease up if we hold it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// Whether this node holds the lease, as last seen.
#[derive(Clone, Default)]
pub struct Lease(Arc<AtomicBool>);

impl Lease {
    /// Whether this node delivers user groups now.
    pub fn held(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The key of the lease for a layer of `prefix`.
pub fn key(prefix: &str) -> String {
    format!("{prefix}:iorelay:users-lease")
}

/// Keeps trying to hold the lease `key` as `node` until `stop`, then gives it up.
pub fn spawn(
    url: String,
    key: String,
    node: String,
    health: Health,
    stop: CancellationToken,
) -> Lease {
    health.set(
        HEALTH_CHECK,
        Err("user-group lease not yet tried".to_owned()),
    );
    let lease = Lease::default();
    let held = lease.clone();
    tokio::spawn(async move {
        let mut conn: Option<ConnectionManager> = None;
        let take = redis::Script::new(TAKE_OR_RENEW);
        let mut tick = tokio::time::interval(RENEW_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            if conn.is_none() {
                conn = connect(&url).await;
            }
            let Some(c) = conn.as_mut() else {
                held.0.store(false, Ordering::Relaxed);
                health.set(
                    HEALTH_CHECK,
                    Err("cannot reach the lease's Redis".to_owned()),
                );
                continue;
            };
            let mut invocation = take.key(&key);
            invocation.arg(&node).arg(TTL.as_millis() as u64);
            let attempt = invocation.invoke_async::<i64>(c);
            let holds = match tokio::time::timeout(RENEW_EVERY, attempt).await {
                Ok(Ok(answer)) => {
                    health.set(HEALTH_CHECK, Ok(()));
                    answer == 1
                }
                Ok(Err(e)) => {
                    health.set(
                        HEALTH_CHECK,
                        Err(format!("cannot take the user-group lease: {e}")),
                    );
                    false
                }
                Err(_) => {
                    health.set(
                        HEALTH_CHECK,
                        Err("the user-group lease's Redis did not answer".to_owned()),
                    );
                    false
                }
            };
            if holds != held.held() {
                tracing::info!(node, holds, "Django bridge: user-group lease changed hands");
            }
            held.0.store(holds, Ordering::Relaxed);
        }
        held.0.store(false, Ordering::Relaxed);
        if let Some(c) = conn.as_mut() {
            let script = redis::Script::new(RELEASE);
            let mut invocation = script.key(&key);
            invocation.arg(&node);
            let _ = tokio::time::timeout(RENEW_EVERY, invocation.invoke_async::<i64>(c)).await;
        }
    });
    lease
}

async fn connect(url: &str) -> Option<ConnectionManager> {
    let client = redis::Client::open(url).ok()?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)));
    ConnectionManager::new_with_config(client, config)
        .await
        .ok()
}
