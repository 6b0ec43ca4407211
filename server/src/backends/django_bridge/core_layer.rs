//! Reading a `RedisChannelLayer` (core): a member of the groups, draining its inbox.
//!
//! `group_send` looks up the group's members (`<prefix>:group:<group>`, a
//! sorted set scored by join time, members older than `group_expiry` are
//! dropped) and pushes one copy per member key with `ZADD` (dropped while
//! the key holds `capacity`, 100; the key expires after `expiry`, 60 s). So
//! the node joins, as `channels_redis` `group_add` does, every group its
//! sockets need ([`membership`](super::membership)), renews the memberships
//! well before `group_expiry`, leaves the room groups its sockets left and,
//! on shutdown, all of them, and pops its inbox as fast as it fills
//! (`BZPOPMIN` while it is empty, `ZPOPMIN` batches while it is not; one
//! task per inbox). User groups use the shared inbox (see
//! [`groups`](super::groups)): whichever node pops a message delivers it; they
//! are renewed while a user has sockets and otherwise left to expire, since a
//! node cannot tell whether another one still has that user's sockets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::DjangoConfig;
use crate::ops::health::Health;

use super::groups::{Inbox, group_key, shard};
use super::membership::Members;
use super::message::{RejectReason, Rejection};
use super::{Bridge, HEALTH_CHECKS};

/// How often memberships follow the sockets' rooms.
const SYNC_INTERVAL: Duration = Duration::from_millis(250);

/// How long one `BZPOPMIN` waits before it is issued again.
const POP_TIMEOUT_SECS: f64 = 1.0;

/// Messages taken with one `ZPOPMIN` while the inbox is not empty (the layer's default capacity).
const POP_BATCH: usize = 100;

/// How often every host is probed for readiness.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long the bridge waits after a Redis error.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Renewals per `group_expiry`: a membership is renewed every quarter of it.
const RENEWALS_PER_EXPIRY: u32 = 4;

/// Joins groups and drains the inboxes until `stop`; then leaves the room
/// groups (the returned task ends once it has).
pub fn spawn(
    config: &DjangoConfig,
    bridge: Arc<Bridge>,
    members: Members,
    node_id: &str,
    health: Health,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let hosts = Hosts::new(&config.django_layer);
    let prefix = config.django_prefix.clone();
    let node = Inbox::node(node_id);
    let users = Inbox::users();
    let mut inboxes = vec![(node.clone(), false)];
    if !config.django_user_group.is_empty() {
        inboxes.push((users.clone(), true));
    }
    for (inbox, users_inbox) in inboxes {
        let url = hosts.urls[shard(&inbox.base, hosts.urls.len())].clone();
        tokio::spawn(drain(
            url,
            inbox.key(&prefix),
            inbox,
            users_inbox,
            bridge.clone(),
            stop.clone(),
        ));
    }
    let memberships = Memberships {
        hosts,
        prefix,
        node,
        users,
        expiry_secs: config.django_group_expiry_secs,
        renew_every: Duration::from_secs(config.django_group_expiry_secs) / RENEWALS_PER_EXPIRY,
        joined: BTreeMap::new(),
        probed: None,
        rejoin: false,
    };
    tokio::spawn(memberships.run(members, health, stop))
}

/// The layer's hosts and a connection to each, made when first needed.
struct Hosts {
    urls: Vec<String>,
    conns: Vec<Option<ConnectionManager>>,
}

impl Hosts {
    fn new(urls: &[String]) -> Self {
        Self {
            urls: urls.to_vec(),
            conns: vec![None; urls.len()],
        }
    }

    /// The connection to host `index`.
    async fn conn(&mut self, index: usize) -> Result<ConnectionManager, redis::RedisError> {
        if let Some(Some(conn)) = self.conns.get(index) {
            return Ok(conn.clone());
        }
        let url = self.urls.get(index).cloned().unwrap_or_default();
        let conn = connect(&url, Duration::from_secs(2)).await?;
        if let Some(slot) = self.conns.get_mut(index) {
            *slot = Some(conn.clone());
        }
        Ok(conn)
    }
}

async fn connect(url: &str, response: Duration) -> Result<ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(response))
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_with_config(client, config).await
}

/// Whether Redis refused a command because the key holds another type
/// (someone wrote garbage there), as opposed to a host that is unreachable.
fn wrong_type(e: &redis::RedisError) -> bool {
    e.code() == Some("WRONGTYPE")
}

/// Seconds since the epoch, as `time.time()` gives them to `channels_redis`.
fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// The groups this node joined, with when each was last renewed.
struct Memberships {
    hosts: Hosts,
    prefix: String,
    node: Inbox,
    users: Inbox,
    expiry_secs: u64,
    renew_every: Duration,
    joined: BTreeMap<(bool, String), Instant>,
    /// When every host last answered a probe.
    probed: Option<Instant>,
    /// A host failed: join every wanted group again once it answers (a
    /// restarted Redis without persistence has lost the memberships).
    rejoin: bool,
}

impl Memberships {
    async fn run(mut self, members: Members, health: Health, stop: CancellationToken) {
        for check in HEALTH_CHECKS.iter().take(self.hosts.urls.len()) {
            health.set(
                check,
                Err("not yet joined the Django channel layer".to_owned()),
            );
        }
        let mut tick = tokio::time::interval(SYNC_INTERVAL);
        let mut failing = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let wanted = members().await;
            let wanted: BTreeSet<(bool, String)> = wanted
                .rooms
                .into_iter()
                .map(|g| (false, g))
                .chain(wanted.users.into_iter().map(|g| (true, g)))
                .collect();
            match self.sync(&wanted).await {
                Ok(()) => {
                    if failing {
                        tracing::info!("Django channel layer back: group memberships in sync");
                    }
                    failing = false;
                    for check in HEALTH_CHECKS.iter().take(self.hosts.urls.len()) {
                        health.set(check, Ok(()));
                    }
                }
                Err((index, e)) => {
                    self.rejoin = true;
                    let cause = format!(
                        "Django channel layer at {} unreachable: {e}",
                        crate::config::redact_url_password(&self.hosts.urls[index])
                    );
                    if !failing {
                        tracing::warn!(cause, "cannot keep the Django group memberships; retrying");
                    }
                    failing = true;
                    if let Some(check) = HEALTH_CHECKS.get(index) {
                        health.set(check, Err(cause));
                    }
                }
            }
        }
        self.leave_all().await;
    }

    /// Joins what is wanted and not joined (or due for renewal), leaves room
    /// groups no longer wanted; the first error stops it until the next tick.
    async fn sync(
        &mut self,
        wanted: &BTreeSet<(bool, String)>,
    ) -> Result<(), (usize, redis::RedisError)> {
        let now = Instant::now();
        if self
            .probed
            .is_none_or(|at| now.duration_since(at) >= PROBE_INTERVAL)
        {
            self.probe().await?;
            self.probed = Some(now);
        }
        let rejoin = std::mem::take(&mut self.rejoin);
        let due: Vec<(bool, String)> = wanted
            .iter()
            .filter(|g| {
                rejoin
                    || self
                        .joined
                        .get(*g)
                        .is_none_or(|at| now.duration_since(*at) >= self.renew_every)
            })
            .cloned()
            .collect();
        for (is_user, group) in due {
            match self.join(is_user, &group).await {
                Ok(()) => {
                    self.joined.insert((is_user, group), now);
                }
                // Garbage in one group's key must not keep the others from joining.
                Err((_, e)) if wrong_type(&e) => tracing::warn!(
                    group,
                    error = %e,
                    "the Django group's key is not a sorted set; not joined"
                ),
                Err(e) => return Err(e),
            }
        }
        let stale: Vec<(bool, String)> = self
            .joined
            .keys()
            .filter(|g| !wanted.contains(*g))
            .cloned()
            .collect();
        for (is_user, group) in stale {
            // A user group stays: another node may still serve that user; no
            // longer renewed here, it expires unless a node renews it.
            if !is_user {
                match self.leave(&group).await {
                    Err((_, e)) if wrong_type(&e) => {}
                    other => other?,
                }
            }
            self.joined.remove(&(is_user, group));
        }
        Ok(())
    }

    /// PINGs every host, so readiness tells a lost host even while no group changes.
    async fn probe(&mut self) -> Result<(), (usize, redis::RedisError)> {
        for index in 0..self.hosts.urls.len() {
            let mut conn = self.hosts.conn(index).await.map_err(|e| (index, e))?;
            redis::cmd("PING")
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| (index, e))?;
        }
        Ok(())
    }

    fn inbox(&self, is_user: bool) -> &Inbox {
        if is_user { &self.users } else { &self.node }
    }

    /// `group_add`: ZADD with the time as score, EXPIRE `group_expiry`.
    async fn join(&mut self, is_user: bool, group: &str) -> Result<(), (usize, redis::RedisError)> {
        let index = shard(group, self.hosts.urls.len());
        let key = group_key(&self.prefix, group);
        let member = self.inbox(is_user).channel(group);
        let expiry = self.expiry_secs;
        let mut conn = self.hosts.conn(index).await.map_err(|e| (index, e))?;
        // Two commands, not a pipeline: a pipeline's failure does not carry the
        // server's error code, which tells garbage in the key from a lost host.
        redis::cmd("ZADD")
            .arg(&key)
            .arg(now_secs())
            .arg(member)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| (index, e))?;
        redis::cmd("EXPIRE")
            .arg(&key)
            .arg(expiry)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| (index, e))
    }

    /// `group_discard`: ZREM.
    async fn leave(&mut self, group: &str) -> Result<(), (usize, redis::RedisError)> {
        let index = shard(group, self.hosts.urls.len());
        let key = group_key(&self.prefix, group);
        let member = self.node.channel(group);
        let mut conn = self.hosts.conn(index).await.map_err(|e| (index, e))?;
        redis::cmd("ZREM")
            .arg(&key)
            .arg(member)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| (index, e))
    }

    /// Leaves every room group this node joined (on shutdown), within a bound.
    async fn leave_all(&mut self) {
        let rooms: Vec<String> = self
            .joined
            .keys()
            .filter(|(is_user, _)| !is_user)
            .map(|(_, g)| g.clone())
            .collect();
        let left = tokio::time::timeout(Duration::from_secs(3), async {
            for group in &rooms {
                if let Err((_, e)) = self.leave(group).await {
                    return Err(e);
                }
            }
            Ok(())
        })
        .await;
        match left {
            Ok(Ok(())) => tracing::info!(groups = rooms.len(), "left the Django groups"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot leave the Django groups; they expire"),
            Err(_) => tracing::warn!("leaving the Django groups timed out; they expire"),
        }
    }
}

/// Pops the inbox `key` and applies each message, until `stop`.
async fn drain(
    url: String,
    key: String,
    inbox: Inbox,
    users_inbox: bool,
    bridge: Arc<Bridge>,
    stop: CancellationToken,
) {
    // The response timeout must outlast the blocking pop.
    let response = Duration::from_secs_f64(POP_TIMEOUT_SECS) + Duration::from_secs(2);
    let mut conn = None;
    let mut failing = false;
    loop {
        if conn.is_none() {
            let connected = tokio::select! {
                () = stop.cancelled() => return,
                connected = connect(&url, response) => connected,
            };
            match connected {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, key, "cannot drain the Django inbox; retrying");
                    }
                    failing = true;
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RETRY_INTERVAL) => {}
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let mut pop = redis::cmd("BZPOPMIN");
        pop.arg(&key).arg(POP_TIMEOUT_SECS);
        let popped = tokio::select! {
            () = stop.cancelled() => return,
            popped = pop.query_async::<Option<(Vec<u8>, Vec<u8>, f64)>>(c) => popped,
        };
        match popped {
            Ok(Some((_, raw, _))) => {
                failing = false;
                bridge.on_inbox(&inbox, &raw, users_inbox).await;
                // While messages keep coming, take them in batches: one round trip per
                // batch, not per message, so the inbox empties faster than it fills.
                loop {
                    let batch = redis::cmd("ZPOPMIN")
                        .arg(&key)
                        .arg(POP_BATCH)
                        .query_async::<Vec<(Vec<u8>, f64)>>(c)
                        .await;
                    let batch = match batch {
                        Ok(batch) if !batch.is_empty() => batch,
                        // An error shows again on the next blocking pop.
                        _ => break,
                    };
                    for (raw, _) in batch {
                        bridge.on_inbox(&inbox, &raw, users_inbox).await;
                    }
                }
            }
            Ok(None) => failing = false,
            Err(e) if wrong_type(&e) => {
                // The inbox is ours alone: garbage there would block it (and make
                // every group_send to our groups fail), so it goes.
                super::count(
                    Err(Rejection::new(
                        RejectReason::WrongKeyType,
                        format!("{key} was not a sorted set: {e}"),
                    )),
                    "?",
                    0,
                );
                let deleted = redis::cmd("DEL").arg(&key).query_async::<()>(c).await;
                if let Err(e) = deleted {
                    tracing::warn!(error = %e, key, "cannot delete the garbage in the Django inbox");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RETRY_INTERVAL) => {}
                    }
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, key, "cannot drain the Django inbox; retrying");
                }
                failing = true;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(RETRY_INTERVAL) => {}
                }
            }
        }
    }
}
