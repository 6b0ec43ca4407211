//! Chat history and presence in Redis, shared by every node of a cluster.
//!
//! History: a sorted set per room scored by message id, capped at the ring
//! size, with ids from `INCR`. A Lua script takes the id and stores the
//! message in one step, so no reader can see id N+1 before id N exists and a
//! catch-up read (`after`) never skips a message.
//!
//! Presence: a hash per room, field `{node}:{sid}` → user. Entries of nodes
//! whose heartbeat key expired (a crashed node) are ignored and cleaned up.

use std::collections::{BTreeMap, HashSet};

use futures_util::future::BoxFuture;
use redis::AsyncCommands;

use crate::chat::history::{HistoryPage, HistoryQuery, HistoryStore, StoreError, now_ms};
use crate::chat::presence::{PresenceStore, distinct_users};
use crate::cluster::RedisLink;
use crate::events::chat::{ChatMessage, User};

fn store_error(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// The message without its id: the script puts the id in front.
#[derive(serde::Serialize)]
struct Unnumbered<'a> {
    room: &'a str,
    from: &'a User,
    text: &'a str,
    ts: u64,
}

const APPEND: &str = r#"
local id = redis.call('INCR', KEYS[1])
local member = '{"id":' .. id .. ',' .. string.sub(ARGV[1], 2)
redis.call('ZADD', KEYS[2], id, member)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
return member
"#;

/// History shared through Redis.
pub struct RedisHistory {
    link: RedisLink,
    capacity: usize,
    append: redis::Script,
}

impl RedisHistory {
    /// A store keeping the newest `capacity` messages per room.
    pub fn new(link: RedisLink, capacity: usize) -> Self {
        Self {
            link,
            capacity,
            append: redis::Script::new(APPEND),
        }
    }

    fn keys(&self, room: &str) -> (String, String) {
        // The {room} hash tag keeps both keys in one Redis Cluster slot, as the script needs.
        (
            self.link.key(&format!("chat:seq:{{{room}}}")),
            self.link.key(&format!("chat:history:{{{room}}}")),
        )
    }
}

fn parse(members: Vec<String>) -> Result<Vec<ChatMessage>, StoreError> {
    members
        .iter()
        .map(|m| serde_json::from_str(m).map_err(store_error))
        .collect()
}

impl HistoryStore for RedisHistory {
    fn append<'a>(
        &'a self,
        room: &'a str,
        from: User,
        text: String,
    ) -> BoxFuture<'a, Result<ChatMessage, StoreError>> {
        Box::pin(async move {
            let (seq, history) = self.keys(room);
            let body = serde_json::to_string(&Unnumbered {
                room,
                from: &from,
                text: &text,
                ts: now_ms(),
            })
            .map_err(store_error)?;
            let member: String = self
                .append
                .key(seq)
                .key(history)
                .arg(body)
                .arg(self.capacity)
                .invoke_async(&mut self.link.conn.clone())
                .await
                .map_err(store_error)?;
            serde_json::from_str(&member).map_err(store_error)
        })
    }

    fn query<'a>(
        &'a self,
        room: &'a str,
        query: HistoryQuery,
    ) -> BoxFuture<'a, Result<HistoryPage, StoreError>> {
        Box::pin(async move {
            let (_, history) = self.keys(room);
            let min = query.after.map_or("-inf".to_owned(), |a| format!("({a}"));
            let max = query.before.map_or("+inf".to_owned(), |b| format!("({b}"));
            let fetch = isize::try_from(query.limit.saturating_add(1)).unwrap_or(isize::MAX);
            let mut conn = self.link.conn.clone();
            // One more than asked tells whether there is more.
            let mut messages = if query.after.is_some() {
                let members: Vec<String> = conn
                    .zrangebyscore_limit(&history, &min, &max, 0, fetch)
                    .await
                    .map_err(store_error)?;
                parse(members)?
            } else {
                let members: Vec<String> = conn
                    .zrevrangebyscore_limit(&history, &max, &min, 0, fetch)
                    .await
                    .map_err(store_error)?;
                let mut newest_first = parse(members)?;
                newest_first.reverse();
                newest_first
            };
            let has_more = messages.len() > query.limit;
            if has_more {
                if query.after.is_some() {
                    messages.truncate(query.limit);
                } else {
                    messages.remove(0);
                }
            }
            Ok(HistoryPage { messages, has_more })
        })
    }
}

/// Presence shared through Redis.
pub struct RedisPresence {
    link: RedisLink,
}

impl RedisPresence {
    /// Presence on `link`.
    pub fn new(link: RedisLink) -> Self {
        Self { link }
    }

    fn room_key(&self, room: &str) -> String {
        self.link.key(&format!("chat:presence:{room}"))
    }

    fn rooms_key(&self) -> String {
        self.link.key("chat:presence-rooms")
    }

    fn field(&self, sid: &str) -> String {
        format!("{}:{sid}", self.link.node_id)
    }

    /// Members of a room from live nodes; entries of dead nodes are removed.
    async fn live_members(&self, room: &str) -> Result<Vec<User>, StoreError> {
        let mut conn = self.link.conn.clone();
        let key = self.room_key(room);
        let entries: BTreeMap<String, String> = conn.hgetall(&key).await.map_err(store_error)?;
        let nodes: HashSet<&str> = entries
            .keys()
            .filter_map(|f| f.split_once(':').map(|(n, _)| n))
            .collect();
        let mut alive = HashSet::new();
        for node in nodes {
            let exists: bool = conn
                .exists(self.link.node_key(node))
                .await
                .map_err(store_error)?;
            if exists || node == self.link.node_id {
                alive.insert(node.to_owned());
            }
        }
        let mut users = Vec::new();
        let mut dead = Vec::new();
        for (field, value) in &entries {
            let node = field.split_once(':').map(|(n, _)| n).unwrap_or_default();
            if alive.contains(node) {
                users.push(serde_json::from_str::<User>(value).map_err(store_error)?);
            } else {
                dead.push(field.clone());
            }
        }
        if !dead.is_empty() {
            let _: () = conn.hdel(&key, dead).await.map_err(store_error)?;
        }
        if users.is_empty() {
            let _: () = conn
                .srem(self.rooms_key(), room)
                .await
                .map_err(store_error)?;
        }
        Ok(distinct_users(users.iter()))
    }
}

impl PresenceStore for RedisPresence {
    fn join<'a>(
        &'a self,
        room: &'a str,
        sid: &'a str,
        user: &'a User,
    ) -> BoxFuture<'a, Result<Vec<User>, StoreError>> {
        Box::pin(async move {
            let value = serde_json::to_string(user).map_err(store_error)?;
            let mut conn = self.link.conn.clone();
            // Two commands, not a pipeline: the keys live in different Redis Cluster slots.
            let _: () = conn
                .hset(self.room_key(room), self.field(sid), value)
                .await
                .map_err(store_error)?;
            let _: () = conn
                .sadd(self.rooms_key(), room)
                .await
                .map_err(store_error)?;
            self.live_members(room).await
        })
    }

    fn leave<'a>(
        &'a self,
        room: &'a str,
        sid: &'a str,
    ) -> BoxFuture<'a, Result<Vec<User>, StoreError>> {
        Box::pin(async move {
            let _: () = self
                .link
                .conn
                .clone()
                .hdel(self.room_key(room), self.field(sid))
                .await
                .map_err(store_error)?;
            self.live_members(room).await
        })
    }

    fn members<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Vec<User>, StoreError>> {
        Box::pin(self.live_members(room))
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<(String, usize)>, StoreError>> {
        Box::pin(async move {
            let rooms: Vec<String> = self
                .link
                .conn
                .clone()
                .smembers(self.rooms_key())
                .await
                .map_err(store_error)?;
            let mut summary = Vec::with_capacity(rooms.len());
            for room in rooms {
                let members = self.live_members(&room).await?;
                if !members.is_empty() {
                    summary.push((room, members.len()));
                }
            }
            Ok(summary)
        })
    }
}
