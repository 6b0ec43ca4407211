//! Payloads of the built-in `/notifications` namespace.
//!
//! Each socket is in the room `user:{id}` of its user, so a notification for
//! a user reaches all of that user's tabs, and in `topic:{name}` for every
//! topic it subscribed to.
//!
//! Every notification has a position in each stream it was published to (the
//! stream of each addressed user, `user:{id}`, and of its topic, `topic:{name}`).
//! Positions only grow, cluster-wide, so a client that keeps the highest one it
//! saw per stream (its [`Cursor`]) can ask for exactly what it missed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Stream name → the highest position a client has seen in it.
pub type Cursor = BTreeMap<String, u64>;

/// The handshake `auth` of `/notifications` (besides `name` / `token`):
/// where to resume and which topics to subscribe to before anything is sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResumeAuth {
    /// The client's cursor; with it, what it missed comes first.
    #[serde(default)]
    pub since: Option<Cursor>,
    /// Topics to subscribe to at once (so their catch-up is part of the same seam).
    #[serde(default)]
    pub topics: Vec<String>,
}

/// `catch_up {since}`: send what the socket's streams hold after `since`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatchUpRequest {
    /// The client's cursor.
    pub since: Cursor,
}

/// The outcome of a catch-up: the ack of `catch_up`, and the `caught_up`
/// event that follows a connect with `auth.since`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatchUpReply {
    /// Whether every stream's history reached back to the cursor; `false`
    /// means some notifications are gone and the app should reload its state.
    pub recovered: bool,
    /// How many notifications were sent to catch up.
    pub missed: usize,
    /// The streams that could not be recovered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unrecovered: Vec<String>,
    /// Positions of the socket's streams now: the client's new cursor.
    pub positions: Cursor,
}

/// `subscribe {topic, since?}` / `unsubscribe {topic}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicRequest {
    /// The topic.
    pub topic: String,
    /// With `subscribe`: the topic's position the client saw last; what
    /// came after is sent before the ack.
    #[serde(default)]
    pub since: Option<u64>,
}

/// Ack of `subscribe` / `unsubscribe`: the socket's topics now.
#[derive(Debug, Clone, Serialize)]
pub struct TopicsReply {
    /// Subscribed topics, sorted.
    pub topics: Vec<String>,
    /// With `subscribe`: the topic stream's position now (start of the client's cursor for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positions: Option<Cursor>,
    /// With `subscribe {since}`: whether history reached back that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
}

/// Server → client `notification`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique id (for de-duplication on the client).
    pub id: String,
    /// The topic it was published to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Short title.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Free-form data for the application.
    pub data: serde_json::Value,
    /// When it was published, milliseconds since the Unix epoch.
    pub ts: u64,
    /// Its position in each of the recipient's streams that it belongs to.
    #[serde(default)]
    pub positions: Cursor,
}

/// Path of the namespace.
pub const NAMESPACE: &str = "/notifications";

/// Path of the Server-Sent Events stream of notifications.
pub const SSE_PATH: &str = "/sse/notifications";

/// Room of all sockets of one user.
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// The user whose room `room` is, if it is a user room.
pub fn user_of_room(room: &str) -> Option<&str> {
    room.strip_prefix("user:").filter(|id| !id.is_empty())
}

/// Room of the subscribers of one topic.
pub fn topic_room(topic: &str) -> String {
    format!("topic:{topic}")
}

/// Room of one socket (its id), so a broadcast can leave out a socket that is
/// catching up.
pub fn socket_room(sid: &str) -> String {
    format!("sid:{sid}")
}

/// The stream a room name is the room of (`user:…` or `topic:…`), if any.
pub fn is_stream(name: &str) -> bool {
    name.starts_with("user:") || name.starts_with("topic:")
}

/// A cursor as one SSE event id: `user%3Aada=17&topic%3Anews=4`.
pub fn encode_cursor(cursor: &Cursor) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (stream, position) in cursor {
        out.append_pair(stream, &position.to_string());
    }
    out.finish()
}

/// Reads a cursor written by [`encode_cursor`] (`Last-Event-ID`); pairs that
/// are not streams with numeric positions are an error.
pub fn decode_cursor(id: &str) -> Result<Cursor, String> {
    let mut cursor = Cursor::new();
    for (stream, position) in form_urlencoded::parse(id.trim().as_bytes()) {
        if !is_stream(&stream) {
            return Err(format!("{stream:?} is not a notification stream"));
        }
        let position = position
            .parse::<u64>()
            .map_err(|_| format!("position {position:?} of {stream:?} is not a number"))?;
        cursor.insert(stream.into_owned(), position);
    }
    Ok(cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_through_event_ids() {
        let cursor: Cursor = [
            ("user:a=b&c".to_owned(), 7),
            ("topic:news".to_owned(), 1_700_000_000_000_001),
        ]
        .into_iter()
        .collect();
        let id = encode_cursor(&cursor);
        assert!(!id.contains('\n') && !id.contains(':'), "{id}");
        assert_eq!(decode_cursor(&id), Ok(cursor));
        assert_eq!(decode_cursor(""), Ok(Cursor::new()));
        assert!(decode_cursor("room%3Ax=1").is_err());
        assert!(decode_cursor("user%3Ax=-1").is_err());
    }
}
