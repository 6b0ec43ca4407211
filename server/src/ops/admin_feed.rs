//! The Admin UI's live view in development mode: what happens to sockets,
//! queued for the admin namespace to broadcast.
//!
//! Hooks all over the node (connects, disconnects, room changes, received
//! events) push records here; one task of the admin namespace takes them and
//! emits them to every admin socket of the cluster. It is a debugging aid on
//! a possibly busy server, so it is bounded twice: the queue holds
//! `--admin-mirror-capacity` records (more are dropped and counted, never
//! waited for), and event arguments over [`MAX_ARGS_BYTES`] are replaced by a
//! note. Off (production mode, or no admin namespace), every hook is one
//! atomic load: records are built only once the feed is on.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::ops::redaction;
use crate::protocol::admin_ui::{AdminSocket, SocketUpdate};
use crate::protocol::auth::REFRESH_EVENT;
use crate::protocol::clock::now_ms;

/// Largest event arguments mirrored, in bytes of JSON.
pub const MAX_ARGS_BYTES: usize = 4_096;

/// One thing that happened, as the UI is told it.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// A socket connected.
    Connected(Box<AdminSocket>),
    /// A socket's transport changed.
    Updated(SocketUpdate),
    /// A socket left.
    Disconnected {
        /// Its namespace.
        nsp: String,
        /// Its id.
        id: String,
        /// Why, as Node socket.io words it.
        reason: &'static str,
    },
    /// A socket joined a room.
    RoomJoined {
        /// Its namespace.
        nsp: String,
        /// The room.
        room: String,
        /// Its id.
        id: String,
    },
    /// A socket left a room.
    RoomLeft {
        /// Its namespace.
        nsp: String,
        /// The room.
        room: String,
        /// Its id.
        id: String,
    },
    /// An event was sent to a socket (the admin UI's own `emit`): `[event, ...args]`.
    EventSent {
        /// Its namespace.
        nsp: String,
        /// Its id.
        id: String,
        /// The event name and arguments (or a note when too large).
        args: serde_json::Value,
    },
    /// A socket sent an event: `[event, ...args]`.
    EventReceived {
        /// Its namespace.
        nsp: String,
        /// Its id.
        id: String,
        /// The event name and arguments (or a note when too large).
        args: serde_json::Value,
    },
}

/// A record and when it happened (ms since the epoch).
pub type Stamped = (u64, FeedItem);

struct Feed {
    tx: mpsc::Sender<Stamped>,
    /// The admin namespace: its own events are not mirrored.
    admin_namespace: String,
    dropped: AtomicU64,
}

static FEED: OnceLock<Feed> = OnceLock::new();

/// Turns the feed on (once per process) and returns the records' receiver;
/// `None` if it was already on.
pub fn start(capacity: usize, admin_namespace: &str) -> Option<mpsc::Receiver<Stamped>> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let feed = Feed {
        tx,
        admin_namespace: admin_namespace.to_owned(),
        dropped: AtomicU64::new(0),
    };
    FEED.set(feed).ok().map(|()| rx)
}

/// Whether records are wanted.
pub fn is_on() -> bool {
    FEED.get().is_some()
}

/// Queues the record `make` builds, if the feed is on; never waits.
pub fn push(make: impl FnOnce() -> FeedItem) {
    let Some(feed) = FEED.get() else { return };
    if feed.tx.try_send((now_ms(), make())).is_err() {
        let dropped = feed.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if dropped.is_power_of_two() {
            tracing::warn!(
                dropped,
                "admin UI mirror is full: records dropped (--admin-mirror-capacity)"
            );
        }
    }
}

/// Queues that `event` with `args` was sent to each of `ids`.
pub fn event_sent(nsp: &str, ids: &[String], event: &str, args: &[serde_json::Value]) {
    if ids.is_empty() || !is_on() {
        return;
    }
    let mut packet = Vec::with_capacity(args.len() + 1);
    packet.push(serde_json::Value::from(event));
    packet.extend_from_slice(args);
    let text = serde_json::to_string(&packet).ok();
    let bytes = text.as_ref().map_or(0, String::len);
    let args = mirrored_args(text.as_deref(), bytes);
    for id in ids {
        push(|| FeedItem::EventSent {
            nsp: nsp.to_owned(),
            id: id.clone(),
            args: args.clone(),
        });
    }
}

/// Queues that socket `id` joined `room`.
pub fn room_joined(nsp: &str, room: &str, id: &str) {
    push(|| FeedItem::RoomJoined {
        nsp: nsp.to_owned(),
        room: room.to_owned(),
        id: id.to_owned(),
    });
}

/// Queues that socket `id` left `room`.
pub fn room_left(nsp: &str, room: &str, id: &str) {
    push(|| FeedItem::RoomLeft {
        nsp: nsp.to_owned(),
        room: room.to_owned(),
        id: id.to_owned(),
    });
}

/// Queues a received event unless it came from the admin namespace; `packet`
/// is the event's JSON text `["event", ...args]` (`None` for binary parsers).
pub fn event_received(nsp: &str, id: &str, packet: Option<&str>, bytes: usize) {
    let Some(feed) = FEED.get() else { return };
    if nsp == feed.admin_namespace {
        return;
    }
    push(|| FeedItem::EventReceived {
        nsp: nsp.to_owned(),
        id: id.to_owned(),
        args: mirrored_args(packet, bytes),
    });
}

/// The arguments as the UI gets them: the packet's JSON with credentials
/// masked ([`redaction`]; all of `auth:refresh`'s), or a note when it is too
/// large or not JSON.
pub fn mirrored_args(packet: Option<&str>, bytes: usize) -> serde_json::Value {
    let note = |what: &str| serde_json::json!([format!("<{bytes} bytes {what}, not mirrored>")]);
    match packet {
        Some(text) if text.len() <= MAX_ARGS_BYTES => {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Array(items))
                    if items.first().and_then(serde_json::Value::as_str) == Some(REFRESH_EVENT) =>
                {
                    serde_json::json!([REFRESH_EVENT, redaction::MASK])
                }
                Ok(mut value) => {
                    redaction::mask_secrets(&mut value);
                    value
                }
                Err(_) => note("of unreadable JSON"),
            }
        }
        Some(_) => note("of JSON"),
        None => note("of msgpack"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_or_binary_arguments_become_a_note() {
        assert_eq!(
            mirrored_args(Some(r#"["hi",1]"#), 8),
            serde_json::json!(["hi", 1])
        );
        let big = format!(r#"["big","{}"]"#, "x".repeat(MAX_ARGS_BYTES));
        let note = mirrored_args(Some(&big), big.len());
        assert_eq!(
            note[0],
            format!("<{} bytes of JSON, not mirrored>", big.len())
        );
        assert_eq!(
            mirrored_args(None, 3),
            serde_json::json!(["<3 bytes of msgpack, not mirrored>"])
        );
        assert_eq!(
            mirrored_args(Some(r#"["auth:refresh",{"token":"eyJ.a.b"}]"#), 36),
            serde_json::json!(["auth:refresh", "<redacted>"])
        );
        assert_eq!(
            mirrored_args(Some(r#"["auth:refresh","eyJ.a.b"]"#), 26),
            serde_json::json!(["auth:refresh", "<redacted>"])
        );
        assert_eq!(
            mirrored_args(Some(r#"["login",{"user":"ada","password":"pw"}]"#), 40),
            serde_json::json!(["login", {"user": "ada", "password": "<redacted>"}])
        );
        assert_eq!(
            mirrored_args(Some("[oops"), 5)[0],
            "<5 bytes of unreadable JSON, not mirrored>"
        );
    }
}
