//! Payloads of the built-in `/chat` namespace.
//!
//! Client → server events are acknowledged with [`crate::protocol::Reply`];
//! server → client events are the `*Event` types. Message ids are per room,
//! start at 1 and only grow, so `history {after: last_seen_id}` returns
//! exactly what a reconnecting client missed.

use serde::{Deserialize, Serialize};

use crate::protocol::user::User;

/// A stored chat message, as `message` events and histories carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Per-room id, monotonic from 1.
    pub id: u64,
    /// The room.
    pub room: String,
    /// The sender.
    pub from: User,
    /// The text.
    pub text: String,
    /// When the server stored it, milliseconds since the Unix epoch.
    pub ts: u64,
}

/// `join {room}` and `leave {room}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomRequest {
    /// The room.
    pub room: String,
}

/// Ack of `join`: the first page of who is there, and the latest messages.
#[derive(Debug, Clone, Serialize)]
pub struct JoinReply {
    /// The room.
    pub room: String,
    /// The first page of users in the room (one entry per user however many
    /// tabs), ordered by user id; `members {room, cursor: next_cursor}` reads on.
    pub members: Vec<User>,
    /// Users in the room now.
    pub count: usize,
    /// Where the next page starts, or `null` when `members` is all of them.
    pub next_cursor: Option<String>,
    /// The newest messages, oldest first.
    pub messages: Vec<ChatMessage>,
}

/// `members {room, cursor?, limit?}`: a page of a joined room's members.
///
/// Members are ordered by user id and the cursor is the last id of the
/// previous page, so a user who stays in the room is listed exactly once
/// however many others join or leave while a client pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersRequest {
    /// The room; the sender must have joined it.
    pub room: String,
    /// `next_cursor` of the previous page; none for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// At most this many (default and maximum: the member page size).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Ack of `members`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MembersPage {
    /// Users with ids after the cursor, ordered by id.
    pub members: Vec<User>,
    /// The last id of this page when more follow, else `null`.
    pub next_cursor: Option<String>,
    /// Users in the room now.
    pub count: usize,
}

/// `message {room, text}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The room; the sender must have joined it.
    pub room: String,
    /// The text.
    pub text: String,
}

/// Ack of `message`: where the stored message sits.
#[derive(Debug, Clone, Serialize)]
pub struct SendReply {
    /// Its id.
    pub id: u64,
    /// Its timestamp (ms).
    pub ts: u64,
}

/// `typing {room, typing}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingRequest {
    /// The room; the sender must have joined it.
    pub room: String,
    /// Whether the user is typing now.
    pub typing: bool,
}

/// `history {room, before?, after?, limit?}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryRequest {
    /// The room; the sender must have joined it.
    pub room: String,
    /// Only messages with a smaller id (paging back).
    #[serde(default)]
    pub before: Option<u64>,
    /// Only messages with a larger id (catch-up after a reconnect).
    #[serde(default)]
    pub after: Option<u64>,
    /// At most this many (default and maximum: the join history size).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Ack of `history`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReply {
    /// The messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Whether more matching messages exist beyond `limit`.
    pub has_more: bool,
}

/// One room in the ack of `rooms`.
#[derive(Debug, Clone, Serialize)]
pub struct RoomSummary {
    /// The room.
    pub room: String,
    /// How many users are in it.
    pub members: usize,
}

/// Ack of `rooms`: the rooms the caller may see (its own, and those named
/// by `--chat-public-rooms`) that have members, busiest first.
#[derive(Debug, Clone, Serialize)]
pub struct RoomsReply {
    /// The rooms.
    pub rooms: Vec<RoomSummary>,
}

/// Server → client `typing`, to the others in the room.
#[derive(Debug, Clone, Serialize)]
pub struct TypingEvent {
    /// The room.
    pub room: String,
    /// Who.
    pub user: User,
    /// Typing now or stopped.
    pub typing: bool,
}

/// Server → client `presence`: what changed in a room's membership.
///
/// Changes are batched per room over `--presence-interval-ms`. A batch names
/// each user whose presence changed once, by their state when it is sent:
/// `joined` users are in the room then, `left` users are not (a user who came
/// and went within one batch is in `left`). Applying `left` as "remove if
/// listed" and `joined` as "add if missing" keeps a client's list right
/// whatever it held. A user joins with their first tab and leaves with their
/// last. Above `--presence-max-members-listed` users the lists are left out
/// and only `count` is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresenceEvent {
    /// The room.
    pub room: String,
    /// Users who came since the last event.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub joined: Vec<User>,
    /// Users who went since the last event.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left: Vec<User>,
    /// Users in the room after the change.
    pub count: usize,
}
