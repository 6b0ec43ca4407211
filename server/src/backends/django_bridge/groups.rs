//! Django group names and the Redis names around them, in one place.
//!
//! A group maps to a room of `--django-namespace`, except the groups that
//! match `--django-user-group` (`user.{id}`), which are one user's
//! notifications. This module also knows how `channels_redis` names things
//! (group keys, channel keys, pub/sub channels) and shards them over hosts, so
//! the core and pub/sub layers agree with Django on every name.
//!
//! In the core layer a node is a member of a group under the channel name
//! `iorelay.<node>!<group>`: everything after `!` is local to the process
//! (Channels' own process-specific channels work so), so every group of a node
//! fills one key, `<prefix>iorelay.<node>!`, and `__asgi_channel__` tells the
//! node which group each message was for. User groups use the cluster-wide
//! `iorelay.users!<group>` instead: every node drains that key, so each
//! message is popped, and delivered to the user's sockets, once.

/// What a group reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The room of that name in the bridge's namespace.
    Room(String),
    /// The `/notifications` sockets of this user.
    User(String),
}

/// The group ↔ room / user mapping of one bridge.
#[derive(Debug, Clone)]
pub struct GroupMap {
    user_pattern: Option<(String, String)>,
}

impl GroupMap {
    /// The mapping for `--django-user-group` (`user.{id}`; empty: no user groups).
    pub fn new(user_group: &str) -> Self {
        let user_pattern = user_group
            .split_once("{id}")
            .map(|(before, after)| (before.to_owned(), after.to_owned()));
        Self { user_pattern }
    }

    /// What `group` reaches.
    pub fn target(&self, group: &str) -> Target {
        if let Some((before, after)) = &self.user_pattern
            && let Some(id) = group
                .strip_prefix(before.as_str())
                .and_then(|rest| rest.strip_suffix(after.as_str()))
            && !id.is_empty()
        {
            return Target::User(id.to_owned());
        }
        Target::Room(group.to_owned())
    }

    /// The group of one user's notifications, if the id fits a group name.
    pub fn user_group(&self, user_id: &str) -> Option<String> {
        let (before, after) = self.user_pattern.as_ref()?;
        let group = format!("{before}{user_id}{after}");
        is_group_name(&group).then_some(group)
    }
}

/// Longest name Channels accepts (`MAX_NAME_LENGTH` is 100, names are shorter).
const MAX_NAME_CHARS: usize = 99;

/// Whether Channels accepts `name` as a group (`^[a-zA-Z\d\-_.]+$`, under 100
/// characters): only such rooms can be joined as groups.
pub fn is_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The shard of `name` among `hosts`: `channels_redis.utils._consistent_hash`
/// (CRC-32 of the UTF-8 name, its low 12 bits, scaled to the ring).
pub fn shard(name: &str, hosts: usize) -> usize {
    if hosts <= 1 {
        return 0;
    }
    let slot = (crc32fast::hash(name.as_bytes()) & 0xFFF) as f64;
    let index = (slot / (4096.0 / hosts as f64)) as usize;
    index.min(hosts - 1)
}

/// The sorted set of a group's member channels (core layer).
pub fn group_key(prefix: &str, group: &str) -> String {
    format!("{prefix}:group:{group}")
}

/// The group a pub/sub channel is for, if it is a group channel of `prefix`.
pub fn group_of_pubsub_channel<'a>(prefix: &str, channel: &'a str) -> Option<&'a str> {
    channel
        .strip_prefix(prefix)?
        .strip_prefix("__group__")
        .filter(|g| !g.is_empty())
}

/// The pattern that matches every group channel of `prefix`, glob characters escaped.
pub fn pubsub_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 12);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str("__group__*");
    pattern
}

/// One core-layer inbox: channel names `<base><group>` that share the key `<prefix><base>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    /// The part up to and including `!`.
    pub base: String,
}

impl Inbox {
    /// This node's inbox for room groups.
    pub fn node(node_id: &str) -> Self {
        let id: String = node_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        Self {
            base: format!("iorelay.{id}!"),
        }
    }

    /// The cluster's one inbox for user groups, drained by every node.
    pub fn users() -> Self {
        Self {
            base: "iorelay.users!".to_owned(),
        }
    }

    /// The member name of this inbox in `group`.
    pub fn channel(&self, group: &str) -> String {
        format!("{}{group}", self.base)
    }

    /// The group a channel named in `__asgi_channel__` stands for, if it is this inbox's.
    pub fn group_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel
            .strip_prefix(self.base.as_str())
            .filter(|g| !g.is_empty())
    }

    /// The key its messages are queued in.
    pub fn key(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_map_to_rooms_or_users() {
        let map = GroupMap::new("user.{id}");
        assert_eq!(map.target("orders"), Target::Room("orders".into()));
        assert_eq!(map.target("user.42"), Target::User("42".into()));
        assert_eq!(map.target("user."), Target::Room("user.".into()));
        assert_eq!(map.user_group("42").as_deref(), Some("user.42"));
        assert_eq!(map.user_group("a b"), None, "not a group name");
        let suffixed = GroupMap::new("notify_{id}_inbox");
        assert_eq!(suffixed.target("notify_7_inbox"), Target::User("7".into()));
        assert_eq!(suffixed.target("notify_7"), Target::Room("notify_7".into()));
        let none = GroupMap::new("");
        assert_eq!(none.target("user.42"), Target::Room("user.42".into()));
        assert_eq!(none.user_group("42"), None);
    }

    #[test]
    fn group_names_follow_channels() {
        assert!(is_group_name("orders.eu-1_x"));
        for bad in ["", "a b", "user:1", "é", &"x".repeat(100)] {
            assert!(!is_group_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn shards_as_channels_redis_does() {
        // Values from channels_redis.utils._consistent_hash (crc32 & 0xFFF / (4096 / n)).
        assert_eq!(shard("orders", 1), 0);
        let crc = crc32fast::hash(b"orders") & 0xFFF;
        assert_eq!(shard("orders", 2), usize::from(crc >= 2048));
        for n in 1..6 {
            for name in ["a", "orders", "user.42", "iorelay.n1!"] {
                assert!(shard(name, n) < n);
            }
        }
    }

    #[test]
    fn redis_names() {
        assert_eq!(group_key("asgi", "orders"), "asgi:group:orders");
        assert_eq!(
            group_of_pubsub_channel("asgi", "asgi__group__orders"),
            Some("orders")
        );
        assert_eq!(group_of_pubsub_channel("asgi", "asgispecific.x"), None);
        assert_eq!(pubsub_pattern("a*b"), "a\\*b__group__*");
        let inbox = Inbox::node("n 1");
        assert_eq!(inbox.channel("orders"), "iorelay.n_1!orders");
        assert_eq!(inbox.key("asgi"), "asgiiorelay.n_1!");
        assert_eq!(inbox.group_of("iorelay.n_1!orders"), Some("orders"));
        assert_eq!(inbox.group_of("iorelay.n_2!orders"), None);
        assert_eq!(
            Inbox::users().group_of("iorelay.users!user.1"),
            Some("user.1")
        );
    }
}
