//! Reading a `RedisPubSubChannelLayer`: every group channel, on every host.
//!
//! `group_send(group, msg)` publishes on `<prefix>__group__<group>` on the
//! host the channel name hashes to. Each node pattern-subscribes to
//! `<prefix>__group__*` on every host, so it needs no list of groups and
//! misses no shard, and applies each message to its own sockets: a room
//! group's by a local emit, a user group's through the notification path,
//! which appends it to history once for the cluster (every node got it) and
//! delivers it to this node's sockets. Messages wait in a bounded [`Backlog`] between the
//! Redis callback and the task that applies them in order.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, PushInfo, PushKind};
use tokio_util::sync::CancellationToken;

use crate::backends::backlog::{self, Backlog, Pending, Refused};
use crate::cluster::probe::{self, Watched};
use crate::cluster::resp3_client;
use crate::config::DjangoConfig;
use crate::ops::health::Health;
use crate::ops::metrics;

use super::groups::{group_of_pubsub_channel, pubsub_pattern};
use super::message::RejectReason;
use super::{Bridge, HEALTH_CHECKS};

/// Messages waiting to be applied.
const BACKLOG: usize = 4096;

/// How many of the largest messages the backlog holds, in bytes.
const BACKLOG_MESSAGES_OF_MAX_SIZE: usize = 8;

/// How long the bridge waits before it tries to subscribe again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// A message of a group channel.
type Received = (String, Vec<u8>);

/// Subscribes on every host and applies what arrives, until `stop`.
pub fn spawn(config: &DjangoConfig, bridge: Arc<Bridge>, health: Health, stop: CancellationToken) {
    let max = config.django_max_message_bytes;
    let (backlog, pending) = backlog::bounded(BACKLOG, max * BACKLOG_MESSAGES_OF_MAX_SIZE, max);
    tokio::spawn(consume(pending, bridge, stop.clone()));
    for (url, check) in config.django_layer.iter().zip(HEALTH_CHECKS) {
        health.set(
            check,
            Err("not yet subscribed to the Django channel layer".to_owned()),
        );
        tokio::spawn(subscribe(
            url.clone(),
            config.django_prefix.clone(),
            check,
            backlog.clone(),
            health.clone(),
            stop.clone(),
        ));
    }
}

/// Applies messages one at a time, in the order Redis delivered them.
async fn consume(mut pending: Pending<Received>, bridge: Arc<Bridge>, stop: CancellationToken) {
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => break,
            received = pending.recv() => received,
        };
        let Some(((group, payload), len)) = received else {
            break;
        };
        bridge.on_group_channel(&group, &payload).await;
        pending.release(len);
    }
}

/// Connects to one host, pattern-subscribes, then probes it every second until `stop`.
async fn subscribe(
    url: String,
    prefix: String,
    check: &'static str,
    backlog: Backlog<Received>,
    health: Health,
    stop: CancellationToken,
) {
    let redacted = crate::config::redact_url_password(&url);
    let pattern = pubsub_pattern(&prefix);
    let conn = loop {
        let attempt = async {
            let client = resp3_client(&url)?;
            let config = connection_config(backlog.clone(), prefix.clone());
            let mut conn = ConnectionManager::new_with_config(client, config).await?;
            conn.psubscribe(pattern.as_str()).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = attempt => outcome,
        };
        match outcome {
            Ok(conn) => break conn,
            Err(e) => {
                let cause = format!("cannot subscribe to {pattern:?} at {redacted}: {e}");
                tracing::warn!(cause, "Django channel layer unreachable; retrying");
                health.set(check, Err(cause));
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(RETRY_INTERVAL) => {}
                }
            }
        }
    };
    tracing::info!(
        pattern,
        url = redacted,
        "subscribed to the Django channel layer"
    );
    health.set(check, Ok(()));
    let watched = Watched {
        check,
        what: format!("Django channel layer at {redacted}"),
        lost: "lost the Django channel layer: group_send messages are not delivered",
        back: "Django channel layer back: resubscribed",
    };
    // A PING also makes the connection manager reconnect (and resubscribe) after a loss.
    let ping = move || {
        let mut conn = conn.clone();
        async move {
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    };
    probe::watch(watched, health, stop, ping, |_| {}).await;
}

/// A reconnecting connection that hands group messages to the bridge and
/// subscribes again after every reconnect.
fn connection_config(backlog: Backlog<Received>, prefix: String) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_push_sender(move |push: PushInfo| {
            route(push, &prefix, &backlog);
            Ok::<(), std::convert::Infallible>(())
        })
        .set_automatic_resubscription()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_max_delay(Duration::from_secs(2))
}

/// Hands a group message to the consumer; anything else is not ours.
fn route(push: PushInfo, prefix: &str, backlog: &Backlog<Received>) {
    if push.kind != PushKind::PMessage {
        return;
    }
    let mut data = push.data.into_iter().skip(1);
    let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(channel), Ok(payload)) = (
        String::from_redis_value(channel),
        Vec::<u8>::from_redis_value(payload),
    ) else {
        return;
    };
    let Some(group) = group_of_pubsub_channel(prefix, &channel) else {
        return;
    };
    let bytes = payload.len();
    if let Err(refused) = backlog.push((group.to_owned(), payload), bytes) {
        let reason = match refused {
            Refused::TooLarge => RejectReason::TooLarge,
            Refused::Overflow => RejectReason::Overflow,
        };
        metrics::django_bridge_message(reason.as_str());
        tracing::warn!(
            group = super::clip(group),
            reason = reason.as_str(),
            bytes,
            "Django bridge cannot hold a channel-layer message; it was dropped"
        );
    }
}
