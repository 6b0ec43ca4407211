//! Notification history in Redis, shared by every node of a cluster.
//!
//! Per stream, one hash tag (so one Redis Cluster slot): a sorted set of
//! notifications scored by position, and a hash with the stream's `start`,
//! `floor` (the newest position no longer kept) and `head`. A Lua script
//! takes the position and stores the notification in one step, so a reader
//! that sees position N also sees every position before it: that is what
//! lets a catch-up read and the live feed meet without a gap
//! ([`super::hub`]). Both keys live for the TTL after the stream's last append.

use futures_util::future::BoxFuture;

use super::history::{
    Entry, NotificationHistory, StoreError, StreamRead, first_position, reaches_back,
};
use crate::cluster::RedisLink;
use crate::protocol::notifications::Notification;

fn store_error(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// KEYS: meta hash, log; ARGV: notification JSON, first position, capacity, TTL (s).
const APPEND: &str = r#"
local head = tonumber(redis.call('HGET', KEYS[1], 'head') or '0')
local position
if head == 0 then
  position = tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'start', ARGV[2], 'floor', 0)
else
  position = head + 1
end
redis.call('HSET', KEYS[1], 'head', string.format('%.0f', position))
redis.call('ZADD', KEYS[2], position, ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local gone = redis.call('ZRANGE', KEYS[2], over - 1, over - 1, 'WITHSCORES')
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  redis.call('HSET', KEYS[1], 'floor', gone[2])
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return string.format('%.0f', position)
"#;

/// KEYS: meta hash, log, claim; ARGV: as APPEND, then the claim's lifetime (ms).
/// Appends only if the claim is new; returns {position, member} either way.
const APPEND_ONCE: &str = r#"
local claimed = redis.call('GET', KEYS[3])
if claimed then
  local cut = string.find(claimed, ' ', 1, true)
  return {string.sub(claimed, 1, cut - 1), string.sub(claimed, cut + 1)}
end
local head = tonumber(redis.call('HGET', KEYS[1], 'head') or '0')
local position
if head == 0 then
  position = tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'start', ARGV[2], 'floor', 0)
else
  position = head + 1
end
local text = string.format('%.0f', position)
redis.call('HSET', KEYS[1], 'head', text)
redis.call('ZADD', KEYS[2], position, ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local gone = redis.call('ZRANGE', KEYS[2], over - 1, over - 1, 'WITHSCORES')
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  redis.call('HSET', KEYS[1], 'floor', gone[2])
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
redis.call('SET', KEYS[3], text .. ' ' .. ARGV[1], 'PX', ARGV[5])
return {text, ARGV[1]}
"#;

/// How long a claim is remembered: longer than any node takes to see a queue message.
const CLAIM_MS: u64 = 60_000;

/// KEYS: meta hash, log; ARGV: the position to read after.
/// Returns {start, floor, head, member, score, member, score, ...}.
const READ: &str = r#"
local meta = redis.call('HMGET', KEYS[1], 'start', 'floor', 'head')
local out = {meta[1] or '0', meta[2] or '0', meta[3] or '0'}
if ARGV[1] ~= '' then
  local entries = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'WITHSCORES')
  for _, v in ipairs(entries) do
    table.insert(out, v)
  end
end
return out
"#;

/// History shared through Redis.
pub struct RedisNotificationHistory {
    link: RedisLink,
    capacity: usize,
    ttl_secs: u64,
    append: redis::Script,
    append_once: redis::Script,
    read: redis::Script,
}

impl RedisNotificationHistory {
    /// Keeps the newest `capacity` notifications per stream, each stream for
    /// `ttl_secs` after its last append (0: for ever).
    pub fn new(link: RedisLink, capacity: usize, ttl_secs: u64) -> Self {
        Self {
            link,
            capacity: capacity.max(1),
            ttl_secs,
            append: redis::Script::new(APPEND),
            append_once: redis::Script::new(APPEND_ONCE),
            read: redis::Script::new(READ),
        }
    }

    fn keys(&self, stream: &str) -> (String, String) {
        (
            self.link.key(&format!("notify:meta:{{{stream}}}")),
            self.link.key(&format!("notify:log:{{{stream}}}")),
        )
    }
}

fn number(value: &str) -> Result<u64, StoreError> {
    // Scores come back as Lua/Redis number text ("1.7e+15" never: positions
    // are written with %.0f, and ZSCORE answers integers below 2^53 exactly).
    value
        .parse::<u64>()
        .or_else(|_| value.parse::<f64>().map(|f| f as u64))
        .map_err(|_| StoreError(format!("not a position: {value:?}")))
}

impl NotificationHistory for RedisNotificationHistory {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let (meta, log) = self.keys(stream);
            let body = serde_json::to_string(notification).map_err(store_error)?;
            let position: String = self
                .append
                .key(meta)
                .key(log)
                .arg(body)
                .arg(first_position())
                .arg(self.capacity)
                .arg(self.ttl_secs)
                .invoke_async(&mut self.link.conn.clone())
                .await
                .map_err(store_error)?;
            number(&position)
        })
    }

    fn append_once<'a>(
        &'a self,
        stream: &'a str,
        claim: &'a str,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(u64, Notification), StoreError>> {
        Box::pin(async move {
            let (meta, log) = self.keys(stream);
            // Same hash tag as the stream's keys: one slot, one script.
            let claim_key = self.link.key(&format!("notify:claim:{{{stream}}}:{claim}"));
            let body = serde_json::to_string(notification).map_err(store_error)?;
            let (position, member): (String, String) = self
                .append_once
                .key(meta)
                .key(log)
                .key(claim_key)
                .arg(body)
                .arg(first_position())
                .arg(self.capacity)
                .arg(self.ttl_secs)
                .arg(CLAIM_MS)
                .invoke_async(&mut self.link.conn.clone())
                .await
                .map_err(store_error)?;
            let stored: Notification = serde_json::from_str(&member).map_err(store_error)?;
            Ok((number(&position)?, stored))
        })
    }

    fn read<'a>(
        &'a self,
        stream: &'a str,
        since: Option<u64>,
    ) -> BoxFuture<'a, Result<StreamRead, StoreError>> {
        Box::pin(async move {
            let (meta, log) = self.keys(stream);
            let reply: Vec<String> = self
                .read
                .key(meta)
                .key(log)
                .arg(since.map_or(String::new(), |s| s.to_string()))
                .invoke_async(&mut self.link.conn.clone())
                .await
                .map_err(store_error)?;
            let [start, floor, head] = [0, 1, 2].map(|i| reply.get(i).map_or(Ok(0), |v| number(v)));
            let (start, floor, head) = (start?, floor?, head?);
            let mut entries = Vec::new();
            for pair in reply.get(3..).unwrap_or_default().chunks(2) {
                let [member, score] = pair else { break };
                let notification: Notification =
                    serde_json::from_str(member).map_err(store_error)?;
                entries.push(Entry {
                    position: number(score)?,
                    notification: notification.into(),
                });
            }
            Ok(StreamRead {
                entries,
                head,
                recovered: since.is_none_or(|since| reaches_back(start, floor, head, since)),
            })
        })
    }
}
