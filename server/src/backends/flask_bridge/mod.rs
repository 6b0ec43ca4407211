//! The Flask-SocketIO message-queue bridge: Python emitters drive iorelay unchanged.
//!
//! `SocketIO(message_queue="redis://...")` in Flask (or python-socketio's
//! `RedisManager(url, write_only=True)`) publishes every emit, room change and
//! disconnect on one Redis pub/sub channel. The bridge subscribes to that
//! channel on every node, decodes each message (JSON or, from older emitters,
//! a data-only pickle) and applies it to this node's sockets, so a Celery task
//! or a Flask view keeps working when its Socket.IO server becomes iorelay.
//!
//! Layout: [`message`] decodes and types the messages, [`pickle`] reads the
//! pickles safely, [`apply`] acts through the [`Publisher`], [`hold`] keeps
//! operations on a socket whose backend answer is on its way from overtaking
//! it, [`stats`] counts.
//! A bad message is logged, counted and skipped; it never stops the bridge.
//! The subscription reconnects and resubscribes on its own; `/readyz` carries
//! a `flask_bridge` check that fails, with the cause, while the queue is unreachable.

pub mod apply;
pub mod hold;
pub mod message;
pub mod pickle;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, PushInfo, PushKind};
use tokio_util::sync::CancellationToken;

use crate::backends::backlog::{self, Backlog, Pending, Refused};
use crate::backends::pending_answers::PendingAnswers;
use crate::backends::publisher::Publisher;
use crate::cluster::probe::{self, Watched};
use crate::cluster::resp3_client;
use crate::config::{FLASK_MAX_MESSAGE_BYTES, FlaskConfig};
use crate::ops::health::Health;
use apply::Outcome;
use hold::Hold;
use message::Rejection;
use stats::{BridgeStats, RejectReason};

/// Name of the bridge's readiness check in `/readyz`.
pub const HEALTH_CHECK: &str = "flask_bridge";

/// Messages waiting to be applied; past this (or `--flask-max-buffered-bytes`)
/// the newest are dropped and counted.
const BACKLOG: usize = 4096;

/// How long the bridge waits before it tries to subscribe again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// What the bridge needs to keep queue operations behind backend answers.
pub struct AnswerOrder {
    /// Sockets whose forwarded request is in flight.
    pub pending: Arc<PendingAnswers>,
    /// Longest wait for one (`--forward-timeout-ms`).
    pub wait: Duration,
}

/// Starts the bridge when `--flask-queue` is set; returns its counters.
///
/// It runs until `stop` is cancelled. Redis being unreachable at start is not
/// an error: the bridge keeps trying, and readiness says why it is not ready.
pub fn spawn(
    config: &FlaskConfig,
    publisher: Arc<dyn Publisher>,
    order: AnswerOrder,
    health: Health,
    stop: CancellationToken,
) -> Option<Arc<BridgeStats>> {
    let url = config.flask_queue.clone()?;
    let channel = config.flask_channel.clone();
    let stats = Arc::new(BridgeStats::default());
    health.set(
        HEALTH_CHECK,
        Err("not yet subscribed to the Flask message queue".to_owned()),
    );
    let (backlog, pending) = backlog::bounded(
        BACKLOG,
        config.flask_max_buffered_bytes,
        FLASK_MAX_MESSAGE_BYTES,
    );
    let hold = Hold::start(order.pending, publisher.clone(), stats.clone(), order.wait);
    tokio::spawn(consume(
        pending,
        publisher,
        hold,
        stats.clone(),
        stop.clone(),
    ));
    tokio::spawn(subscribe(
        url,
        channel,
        backlog,
        health,
        stats.clone(),
        stop,
    ));
    Some(stats)
}

/// Applies messages one at a time, in the order Redis delivered them (those
/// on a socket whose backend answer is on its way, once it is applied).
async fn consume(
    mut pending: Pending<Vec<u8>>,
    publisher: Arc<dyn Publisher>,
    hold: Hold,
    stats: Arc<BridgeStats>,
    stop: CancellationToken,
) {
    loop {
        let payload = tokio::select! {
            () = stop.cancelled() => break,
            payload = pending.recv() => payload,
        };
        let Some((payload, len)) = payload else { break };
        handle(&payload, publisher.as_ref(), Some(&hold), &stats).await;
        pending.release(len);
    }
}

/// Decodes and applies one message (or hands it to `hold`), counting the outcome.
pub async fn handle(
    payload: &[u8],
    publisher: &dyn Publisher,
    hold: Option<&Hold>,
    stats: &BridgeStats,
) {
    stats.received();
    let decoded = message::decode(payload);
    let method = decoded.as_ref().map(|m| m.method()).unwrap_or("?");
    let result = match decoded {
        Ok(message) => {
            if let Some(hold) = hold {
                let sockets = hold.sockets_of(&message, publisher).await;
                if !sockets.is_empty() {
                    tracing::debug!(
                        method,
                        "holding a Flask queue message until a backend answer is applied"
                    );
                    hold.park(message, sockets).await;
                    return;
                }
            }
            apply::apply(publisher, message).await
        }
        Err(rejection) => Err(rejection),
    };
    count(method, result, stats, Some(payload.len()));
}

/// Counts and logs what applying a message came to.
fn count(
    method: &str,
    result: Result<Outcome, Rejection>,
    stats: &BridgeStats,
    bytes: Option<usize>,
) {
    match result {
        Ok(Outcome::Applied) => {
            stats.applied();
            tracing::debug!(method, "applied a Flask queue message");
        }
        Ok(Outcome::Ignored) => stats.ignored(),
        Err(rejection) => {
            stats.rejected(rejection.reason);
            tracing::warn!(
                method,
                reason = rejection.reason.as_str(),
                detail = rejection.detail,
                bytes,
                "rejected a Flask queue message"
            );
        }
    }
}

/// Connects, subscribes and then probes the queue every second until `stop`.
async fn subscribe(
    url: String,
    channel: String,
    backlog: Backlog<Vec<u8>>,
    health: Health,
    stats: Arc<BridgeStats>,
    stop: CancellationToken,
) {
    let redacted = crate::config::redact_url_password(&url);
    let conn = loop {
        let attempt = async {
            let client = resp3_client(&url)?;
            let mut conn = ConnectionManager::new_with_config(
                client,
                connection_config(backlog.clone(), stats.clone(), channel.clone()),
            )
            .await?;
            conn.subscribe(channel.as_str()).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = attempt => outcome,
        };
        match outcome {
            Ok(conn) => break conn,
            Err(e) => {
                let cause = format!("cannot subscribe to {channel:?} at {redacted}: {e}");
                tracing::warn!(cause, "Flask message queue unreachable; retrying");
                health.set(HEALTH_CHECK, Err(cause));
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(RETRY_INTERVAL) => {}
                }
            }
        }
    };
    tracing::info!(
        channel,
        url = redacted,
        "subscribed to the Flask message queue"
    );
    health.set(HEALTH_CHECK, Ok(()));
    let watched = Watched {
        check: HEALTH_CHECK,
        what: format!("Flask message queue at {redacted}"),
        lost: "lost the Flask message queue: queue emits are not delivered",
        back: "Flask message queue back: resubscribed",
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

/// A reconnecting connection that hands channel messages to the bridge and
/// subscribes again after every reconnect.
fn connection_config(
    backlog: Backlog<Vec<u8>>,
    stats: Arc<BridgeStats>,
    channel: String,
) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_push_sender(move |push: PushInfo| {
            route(push, &channel, &backlog, &stats);
            Ok::<(), std::convert::Infallible>(())
        })
        .set_automatic_resubscription()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_max_delay(Duration::from_secs(2))
}

/// Hands a message of our channel to the consumer; losses are noticed by the probe.
fn route(push: PushInfo, channel: &str, backlog: &Backlog<Vec<u8>>, stats: &BridgeStats) {
    if push.kind != PushKind::Message {
        return;
    }
    let mut data = push.data.into_iter();
    let (Some(chan), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let payload = match (
        String::from_redis_value(chan),
        Vec::<u8>::from_redis_value(payload),
    ) {
        (Ok(chan), Ok(payload)) if chan == channel => payload,
        _ => return,
    };
    let bytes = payload.len();
    if let Err(refused) = backlog.push(payload, bytes) {
        let reason = match refused {
            Refused::TooLarge => RejectReason::TooLarge,
            Refused::Overflow => RejectReason::Overflow,
        };
        stats.received();
        stats.rejected(reason);
        tracing::warn!(
            reason = reason.as_str(),
            bytes,
            "Flask bridge cannot hold a queue message; it was dropped"
        );
    }
}
