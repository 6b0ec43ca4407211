//! Chat history and presence in Redis, shared by every node of a cluster.
//!
//! History: a sorted set per room scored by message id, capped at the ring
//! size, with ids from `INCR`. A Lua script takes the id and stores the
//! message in one step, so no reader can see id N+1 before id N exists and a
//! catch-up read (`after`) never skips a message.
//!
//! Presence: per room (one hash tag, so one Redis Cluster slot), a hash of
//! sockets `{node}:{sid}` → user id, a hash of tab counts per user id, a hash
//! of users by id (its `HLEN` is the count) and a sorted set of user ids for
//! pages by id (`ZRANGEBYLEX`). Lua scripts change them together, so a join or
//! leave costs O(log N) and says whether the user came or went; no member
//! list is ever rebuilt. Each node also lists its own sockets, so when a node
//! stops heart-beating (a crash) any other node removes them and reports who left.

use futures_util::future::BoxFuture;
use redis::AsyncCommands;

use crate::apps::chat::history::{HistoryPage, HistoryQuery, HistoryStore, StoreError};
use crate::apps::chat::presence::{Joined, Left, PresenceStore};
use crate::cluster::RedisLink;
use crate::protocol::chat::{ChatMessage, MembersPage};
use crate::protocol::clock::now_ms;
use crate::protocol::user::User;

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
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return member
"#;

/// History shared through Redis.
pub struct RedisHistory {
    link: RedisLink,
    capacity: usize,
    ttl_secs: u64,
    append: redis::Script,
}

impl RedisHistory {
    /// A store keeping the newest `capacity` messages per room, and a room's
    /// keys for `ttl_secs` after its last message (0: for ever).
    pub fn new(link: RedisLink, capacity: usize, ttl_secs: u64) -> Self {
        Self {
            link,
            capacity,
            ttl_secs,
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
                .arg(self.ttl_secs)
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

/// Adds socket ARGV[1] of user ARGV[2] (JSON ARGV[3]); returns {first tab?, count}.
const JOIN: &str = r#"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return {0, redis.call('HLEN', KEYS[3])}
end
local tabs = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
if tabs == 1 then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[4], 0, ARGV[2])
end
return {tabs == 1 and 1 or 0, redis.call('HLEN', KEYS[3])}
"#;

/// Removes socket ARGV[1]; returns {the user's JSON if that was their last tab, count}.
const LEAVE: &str = r#"
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then
  return {false, redis.call('HLEN', KEYS[3])}
end
redis.call('HDEL', KEYS[1], ARGV[1])
local gone = false
if redis.call('HINCRBY', KEYS[2], id, -1) <= 0 then
  redis.call('HDEL', KEYS[2], id)
  gone = redis.call('HGET', KEYS[3], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
end
return {gone, redis.call('HLEN', KEYS[3])}
"#;

/// Up to ARGV[2] users with ids after ARGV[1] (a ZRANGEBYLEX bound); returns {count, [user JSON]}.
const PAGE: &str = r#"
local ids = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2]))
local users = {}
if #ids > 0 then
  users = redis.call('HMGET', KEYS[1], unpack(ids))
end
return {redis.call('HLEN', KEYS[1]), users}
"#;

/// The count, and whether each user id in ARGV is in the room.
const PRESENT: &str = r#"
local here = {}
for i, id in ipairs(ARGV) do
  here[i] = redis.call('HEXISTS', KEYS[1], id)
end
return {redis.call('HLEN', KEYS[1]), here}
"#;

/// The keys of one room's presence.
struct RoomKeys {
    sockets: String,
    tabs: String,
    users: String,
    ids: String,
}

/// Presence shared through Redis.
pub struct RedisPresence {
    link: RedisLink,
    join: redis::Script,
    leave: redis::Script,
    page: redis::Script,
    present: redis::Script,
}

impl RedisPresence {
    /// Presence on `link`.
    pub fn new(link: RedisLink) -> Self {
        Self {
            link,
            join: redis::Script::new(JOIN),
            leave: redis::Script::new(LEAVE),
            page: redis::Script::new(PAGE),
            present: redis::Script::new(PRESENT),
        }
    }

    fn room_keys(&self, room: &str) -> RoomKeys {
        // The {room} hash tag keeps a room's keys in one Redis Cluster slot, as the scripts need.
        let key = |part: &str| self.link.key(&format!("chat:presence:{{{room}}}:{part}"));
        RoomKeys {
            sockets: key("sockets"),
            tabs: key("tabs"),
            users: key("users"),
            ids: key("ids"),
        }
    }

    fn rooms_key(&self) -> String {
        self.link.key("chat:presence-rooms")
    }

    fn nodes_key(&self) -> String {
        self.link.key("chat:presence-nodes")
    }

    /// The sockets a node has in rooms, as `{sid}|{room}`.
    fn node_sockets_key(&self, node: &str) -> String {
        self.link.key(&format!("chat:presence-sockets:{node}"))
    }

    async fn leave_field(&self, room: &str, field: &str) -> Result<Left, StoreError> {
        let keys = self.room_keys(room);
        let (gone, count): (Option<String>, usize) = self
            .leave
            .key(keys.sockets)
            .key(keys.tabs)
            .key(keys.users)
            .key(keys.ids)
            .arg(field)
            .invoke_async(&mut self.link.conn.clone())
            .await
            .map_err(store_error)?;
        let last_tab = gone
            .map(|json| serde_json::from_str::<User>(&json).map_err(store_error))
            .transpose()?;
        if count == 0 {
            // Another slot, so not in the script: a join racing in between can leave a
            // room with members out of the set, which only hides it from public
            // listings until its next join; without this the set would only grow.
            let _: () = self
                .link
                .conn
                .clone()
                .srem(self.rooms_key(), room)
                .await
                .map_err(store_error)?;
        }
        Ok(Left { last_tab, count })
    }

    /// Removes the sockets of `node`, which stopped heart-beating.
    async fn reap_node(&self, node: &str) -> Result<Vec<(String, User)>, StoreError> {
        let mut conn = self.link.conn.clone();
        let key = self.node_sockets_key(node);
        let entries: Vec<String> = conn.smembers(&key).await.map_err(store_error)?;
        let mut gone = Vec::new();
        for entry in &entries {
            let Some((sid, room)) = entry.split_once('|') else {
                continue;
            };
            if let Some(user) = self
                .leave_field(room, &format!("{node}:{sid}"))
                .await?
                .last_tab
            {
                gone.push((room.to_owned(), user));
            }
        }
        let _: () = conn.del(&key).await.map_err(store_error)?;
        let _: () = conn
            .srem(self.nodes_key(), node)
            .await
            .map_err(store_error)?;
        if !entries.is_empty() {
            tracing::info!(
                node,
                sockets = entries.len(),
                "removed the chat presence of a node that stopped"
            );
        }
        Ok(gone)
    }
}

impl PresenceStore for RedisPresence {
    fn join<'a>(
        &'a self,
        room: &'a str,
        sid: &'a str,
        user: &'a User,
    ) -> BoxFuture<'a, Result<Joined, StoreError>> {
        Box::pin(async move {
            let value = serde_json::to_string(user).map_err(store_error)?;
            let keys = self.room_keys(room);
            let mut conn = self.link.conn.clone();
            let (first_tab, count): (bool, usize) = self
                .join
                .key(keys.sockets)
                .key(keys.tabs)
                .key(keys.users)
                .key(keys.ids)
                .arg(format!("{}:{sid}", self.link.node_id))
                .arg(&user.id)
                .arg(value)
                .invoke_async(&mut conn)
                .await
                .map_err(store_error)?;
            // Separate commands, not a pipeline: the keys live in different Redis Cluster slots.
            let _: () = conn
                .sadd(self.rooms_key(), room)
                .await
                .map_err(store_error)?;
            let _: () = conn
                .sadd(
                    self.node_sockets_key(&self.link.node_id),
                    format!("{sid}|{room}"),
                )
                .await
                .map_err(store_error)?;
            let _: () = conn
                .sadd(self.nodes_key(), &self.link.node_id)
                .await
                .map_err(store_error)?;
            Ok(Joined { first_tab, count })
        })
    }

    fn leave<'a>(&'a self, room: &'a str, sid: &'a str) -> BoxFuture<'a, Result<Left, StoreError>> {
        Box::pin(async move {
            let left = self
                .leave_field(room, &format!("{}:{sid}", self.link.node_id))
                .await?;
            let _: () = self
                .link
                .conn
                .clone()
                .srem(
                    self.node_sockets_key(&self.link.node_id),
                    format!("{sid}|{room}"),
                )
                .await
                .map_err(store_error)?;
            Ok(left)
        })
    }

    fn page<'a>(
        &'a self,
        room: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<MembersPage, StoreError>> {
        Box::pin(async move {
            let keys = self.room_keys(room);
            let start = after.map_or("-".to_owned(), |a| format!("({a}"));
            let (count, values): (usize, Vec<Option<String>>) = self
                .page
                .key(keys.users)
                .key(keys.ids)
                .arg(start)
                .arg(limit.saturating_add(1))
                .invoke_async(&mut self.link.conn.clone())
                .await
                .map_err(store_error)?;
            let users = values
                .iter()
                .flatten()
                .map(|json| serde_json::from_str::<User>(json).map_err(store_error))
                .collect::<Result<Vec<User>, StoreError>>()?;
            Ok(crate::apps::chat::presence::page_after(
                users.iter(),
                limit,
                count,
            ))
        })
    }

    fn present<'a>(
        &'a self,
        room: &'a str,
        user_ids: &'a [String],
    ) -> BoxFuture<'a, Result<(usize, Vec<bool>), StoreError>> {
        Box::pin(async move {
            let keys = self.room_keys(room);
            let mut invocation = self.present.key(keys.users);
            for id in user_ids {
                invocation.arg(id);
            }
            invocation
                .invoke_async(&mut self.link.conn.clone())
                .await
                .map_err(store_error)
        })
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<(String, usize)>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.link.conn.clone();
            let rooms: Vec<String> = conn.smembers(self.rooms_key()).await.map_err(store_error)?;
            let mut summary = Vec::with_capacity(rooms.len());
            for room in rooms {
                let count: usize = conn
                    .hlen(self.room_keys(&room).users)
                    .await
                    .map_err(store_error)?;
                if count > 0 {
                    summary.push((room, count));
                } else {
                    let _: () = conn
                        .srem(self.rooms_key(), &room)
                        .await
                        .map_err(store_error)?;
                }
            }
            Ok(summary)
        })
    }

    fn reap_dead_nodes(&self) -> BoxFuture<'_, Result<Vec<(String, User)>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.link.conn.clone();
            let nodes: Vec<String> = conn.smembers(self.nodes_key()).await.map_err(store_error)?;
            let mut gone = Vec::new();
            for node in nodes.iter().filter(|n| **n != self.link.node_id) {
                let alive: bool = conn
                    .exists(self.link.node_key(node))
                    .await
                    .map_err(store_error)?;
                if !alive {
                    gone.extend(self.reap_node(node).await?);
                }
            }
            Ok(gone)
        })
    }
}
