//! Payloads of the built-in `/notifications` namespace.
//!
//! Each socket is in the room `user:{id}` of its user, so a notification for
//! a user reaches all of that user's tabs, and in `topic:{name}` for every
//! topic it subscribed to.

use serde::{Deserialize, Serialize};

/// `subscribe {topic}` / `unsubscribe {topic}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicRequest {
    /// The topic.
    pub topic: String,
}

/// Ack of `subscribe` / `unsubscribe`: the socket's topics now.
#[derive(Debug, Clone, Serialize)]
pub struct TopicsReply {
    /// Subscribed topics, sorted.
    pub topics: Vec<String>,
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
}

/// Path of the namespace.
pub const NAMESPACE: &str = "/notifications";

/// Room of all sockets of one user.
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Room of the subscribers of one topic.
pub fn topic_room(topic: &str) -> String {
    format!("topic:{topic}")
}
