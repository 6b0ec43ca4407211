//! The built-in `/chat` namespace: rooms, history, typing, presence, catch-up.
//!
//! The contract (event names, payloads, acks) lives in [`crate::protocol::chat`];
//! this module enforces it. Storage sits behind [`HistoryStore`] and
//! [`PresenceStore`], so the same handlers serve one node (memory) or a
//! cluster (shared stores). Presence reaches clients as batched changes
//! through [`presence_feed`]; [`names`] keeps guests from borrowing the name
//! of a signed-in user.

pub mod history;
pub mod names;
pub mod presence;
pub mod presence_feed;
pub mod redis_store;

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::socket::DisconnectReason;

use crate::backends::delivery;
use crate::config::ChatConfig;
use crate::protocol::chat::{
    HistoryReply, HistoryRequest, JoinReply, MembersPage, MembersRequest, PresenceEvent,
    RoomRequest, RoomSummary, RoomsReply, SendReply, SendRequest, TypingEvent, TypingRequest,
};
use crate::protocol::user::User;
use crate::protocol::{Done, ErrorCode, Refusal, parse_payload, validate_room};
use crate::security::identity;
use crate::socket::connect::{provenance_of, user_of};
use crate::socket::guard;
use crate::socket::rooms::{self, own_rooms, refuse_socket_room};
use crate::socket::{NodeAdapter, lifecycle, send_reply};
use history::{HistoryQuery, HistoryStore, StoreError};
use names::NameRegistry;
use presence::PresenceStore;
use presence_feed::PresenceFeed;

/// Path of the namespace.
pub const NAMESPACE: &str = "/chat";

/// The chat service: its settings and stores, shared by every socket.
pub struct Chat {
    /// Limits and sizes.
    pub config: ChatConfig,
    /// Messages.
    pub history: Arc<dyn HistoryStore>,
    /// Members.
    pub presence: Arc<dyn PresenceStore>,
}

/// How often a node looks for nodes that stopped without cleaning up (cluster mode).
const REAP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// What `/chat` handlers on this node share: the service, its presence feed and the names held.
struct Node {
    chat: Arc<Chat>,
    feed: Arc<PresenceFeed>,
    names: NameRegistry,
}

/// Registers `/chat`.
pub fn register<A: NodeAdapter>(io: &SocketIo<A>, chat: Arc<Chat>) {
    let sink_io = io.clone();
    let sink: presence_feed::Sink = Arc::new(move |event: PresenceEvent| {
        let io = sink_io.clone();
        Box::pin(async move {
            let Some(ns) = io.of(NAMESPACE) else {
                return;
            };
            if let Err(e) = delivery::emit(ns.to(event.room.clone()), "presence", &event).await {
                tracing::warn!(room = event.room, error = %e, "cannot broadcast presence");
            }
        })
    });
    let feed = PresenceFeed::new(
        chat.config.presence_interval(),
        chat.config.presence_max_members_listed,
        chat.presence.clone(),
        sink,
    );
    spawn_reaper(chat.presence.clone(), feed.clone());
    let node = Arc::new(Node {
        chat,
        feed,
        names: NameRegistry::default(),
    });
    let setup = async move |socket: SocketRef<A>| -> Result<(), Refusal> {
        claim_name(&socket, &node.names)?;
        on_connect(socket, node.clone());
        Ok(())
    };
    crate::socket::connect::serve_users(io, NAMESPACE, setup);
}

/// Takes the socket's display name in this node's registry (see [`names`]).
fn claim_name<A: NodeAdapter>(socket: &SocketRef<A>, names: &NameRegistry) -> Result<(), Refusal> {
    let (Some(user), Some(provenance)) = (user_of(socket), provenance_of(socket)) else {
        return Ok(());
    };
    names.claim(&user, provenance)?;
    socket.extensions.insert(NameClaim);
    Ok(())
}

/// Marks a socket whose name is held in the registry, to be released on disconnect.
#[derive(Clone, Copy)]
struct NameClaim;

/// Reports the users of crashed nodes as gone, every [`REAP_INTERVAL`].
fn spawn_reaper(presence: Arc<dyn PresenceStore>, feed: Arc<PresenceFeed>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REAP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match presence.reap_dead_nodes().await {
                Ok(gone) => {
                    for (room, user) in gone {
                        feed.record(&room, &user).await;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot look for stopped nodes"),
            }
        }
    });
}

fn on_connect<A: NodeAdapter>(socket: SocketRef<A>, node: Arc<Node>) {
    lifecycle::on_connected(&socket);
    let Some(user) = user_of(&socket) else {
        tracing::error!(sid = %socket.id, "chat socket without identity");
        let _ = socket.disconnect();
        return;
    };
    let user = Arc::new(user);

    macro_rules! on {
        ($event:literal, $request:ty, $handler:ident) => {{
            let node = node.clone();
            let user = user.clone();
            guard::on(
                &socket,
                $event,
                async move |s: SocketRef<A>, TryData(req): TryData<$request>, ack: AckSender<A>| {
                    let result = match parse_payload(req) {
                        Ok(req) => $handler(&s, &node, &user, req).await,
                        Err(e) => Err(e),
                    };
                    send_reply(ack, result);
                },
            );
        }};
    }
    on!("join", RoomRequest, join);
    on!("leave", RoomRequest, leave);
    on!("message", SendRequest, send);
    on!("typing", TypingRequest, typing);
    on!("history", HistoryRequest, history);
    on!("members", MembersRequest, members);
    let rooms_node = node.clone();
    guard::on(
        &socket,
        "rooms",
        async move |s: SocketRef<A>, ack: AckSender<A>| {
            send_reply(ack, rooms(&s, &rooms_node).await);
        },
    );

    let joined = JoinedRooms::default();
    socket.extensions.insert(joined.clone());
    socket.on_disconnect(async move |s: SocketRef<A>, reason: DisconnectReason| {
        lifecycle::on_disconnect(s.clone(), reason);
        if s.extensions.get::<NameClaim>().is_some() {
            node.names.release(&user);
        }
        // Not the adapter's view of the socket's rooms: it may be cleared already.
        for room in joined.take() {
            if let Err(e) = announce_leave(&s, &node, &room).await {
                tracing::warn!(sid = %s.id, room, error = %e, "cannot update presence on disconnect");
            }
        }
    });
}

/// The chat rooms a socket is in, kept by the chat itself for its disconnect.
#[derive(Clone, Default)]
struct JoinedRooms(Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>);

impl JoinedRooms {
    fn insert(&self, room: &str) {
        if let Ok(mut rooms) = self.0.lock() {
            rooms.insert(room.to_owned());
        }
    }

    fn remove(&self, room: &str) {
        if let Ok(mut rooms) = self.0.lock() {
            rooms.remove(room);
        }
    }

    fn take(&self) -> std::collections::BTreeSet<String> {
        self.0
            .lock()
            .map(|mut rooms| std::mem::take(&mut *rooms))
            .unwrap_or_default()
    }
}

fn internal(e: StoreError) -> Refusal {
    tracing::error!(error = %e, "chat store failed");
    Refusal::new(
        ErrorCode::Internal,
        "the chat store is unavailable; try again",
    )
}

fn require_joined<A: NodeAdapter>(socket: &SocketRef<A>, room: &str) -> Result<(), Refusal> {
    validate_room(room)?;
    if own_rooms(socket).iter().any(|r| r == room) {
        Ok(())
    } else {
        Err(Refusal::new(
            ErrorCode::NotInRoom,
            format!("join {room:?} first"),
        ))
    }
}

async fn join<A: NodeAdapter>(
    socket: &SocketRef<A>,
    node: &Node,
    user: &User,
    req: RoomRequest,
) -> Result<JoinReply, Refusal> {
    let chat = &node.chat;
    validate_room(&req.room)?;
    refuse_socket_room(socket, &req.room).await?;
    let joined = own_rooms(socket);

    rooms::admit_one_more(
        &joined,
        &req.room,
        chat.config.max_rooms_per_socket,
        "rooms",
    )?;
    rooms::join(socket, &req.room);
    if let Some(joined) = socket.extensions.get::<JoinedRooms>() {
        joined.insert(&req.room);
    }
    let sid = socket.id.to_string();
    let outcome = chat
        .presence
        .join(&req.room, &sid, user)
        .await
        .map_err(internal)?;
    if outcome.first_tab {
        node.feed.record(&req.room, user).await;
    }
    if outcome.count == 1 {
        chat.history.set_occupied(&req.room, true);
    }
    let members = chat
        .presence
        .page(&req.room, None, chat.config.presence_page_size)
        .await
        .map_err(internal)?;
    let page = chat
        .history
        .query(
            &req.room,
            HistoryQuery {
                before: None,
                after: None,
                limit: chat.config.chat_join_history,
            },
        )
        .await
        .map_err(internal)?;
    Ok(JoinReply {
        room: req.room,
        members: members.members,
        count: members.count,
        next_cursor: members.next_cursor,
        messages: page.messages,
    })
}

async fn leave<A: NodeAdapter>(
    socket: &SocketRef<A>,
    node: &Node,
    _user: &User,
    req: RoomRequest,
) -> Result<Done, Refusal> {
    require_joined(socket, &req.room)?;
    rooms::leave(socket, &req.room);
    if let Some(joined) = socket.extensions.get::<JoinedRooms>() {
        joined.remove(&req.room);
    }
    announce_leave(socket, node, &req.room)
        .await
        .map_err(internal)?;
    Ok(Done {})
}

/// Removes the socket from the room's members; its user's last tab leaving is a presence change.
async fn announce_leave<A: NodeAdapter>(
    socket: &SocketRef<A>,
    node: &Node,
    room: &str,
) -> Result<(), StoreError> {
    let left = node
        .chat
        .presence
        .leave(room, &socket.id.to_string())
        .await?;
    if let Some(user) = left.last_tab {
        node.feed.record(room, &user).await;
    }
    if left.count == 0 {
        node.chat.history.set_occupied(room, false);
    }
    Ok(())
}

async fn members<A: NodeAdapter>(
    socket: &SocketRef<A>,
    node: &Node,
    _user: &User,
    req: MembersRequest,
) -> Result<MembersPage, Refusal> {
    require_joined(socket, &req.room)?;
    let max = node.chat.config.presence_page_size;
    let limit = req.limit.unwrap_or(max);
    if limit == 0 || limit > max {
        return Err(Refusal::new(
            ErrorCode::InvalidCursor,
            format!("limit must be between 1 and {max}"),
        ));
    }
    node.chat
        .presence
        .page(&req.room, req.cursor.as_deref(), limit)
        .await
        .map_err(internal)
}

/// Checks a chat message text: at least one visible character (not only
/// blanks, zero-width or direction controls), at most `max_chars`, no control
/// characters but newline and tab.
pub fn validate_text(text: &str, max_chars: usize) -> Result<(), Refusal> {
    if !text.chars().any(identity::is_visible) {
        return Err(Refusal::new(
            ErrorCode::InvalidText,
            "the message has no visible character",
        ));
    }
    if text.chars().count() > max_chars {
        return Err(Refusal::new(
            ErrorCode::InvalidText,
            format!("messages have at most {max_chars} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Refusal::new(
            ErrorCode::InvalidText,
            "messages may not contain control characters",
        ));
    }
    Ok(())
}

async fn send<A: NodeAdapter>(
    socket: &SocketRef<A>,
    node: &Node,
    user: &User,
    req: SendRequest,
) -> Result<SendReply, Refusal> {
    let chat = &node.chat;
    require_joined(socket, &req.room)?;
    validate_text(&req.text, chat.config.chat_max_message_chars)?;
    let message = chat
        .history
        .append(&req.room, user.clone(), req.text)
        .await
        .map_err(internal)?;
    emit_to_room(socket, &req.room, "message", &message).await;
    Ok(SendReply {
        id: message.id,
        ts: message.ts,
    })
}

async fn typing<A: NodeAdapter>(
    socket: &SocketRef<A>,
    _node: &Node,
    user: &User,
    req: TypingRequest,
) -> Result<Done, Refusal> {
    require_joined(socket, &req.room)?;
    let event = TypingEvent {
        room: req.room.clone(),
        user: user.clone(),
        typing: req.typing,
    };
    if let Err(e) = delivery::emit(socket.to(req.room), "typing", &event).await {
        tracing::warn!(error = %e, "cannot broadcast typing");
    }
    Ok(Done {})
}

async fn history<A: NodeAdapter>(
    socket: &SocketRef<A>,
    node: &Node,
    _user: &User,
    req: HistoryRequest,
) -> Result<HistoryReply, Refusal> {
    let chat = &node.chat;
    require_joined(socket, &req.room)?;
    let max = chat.config.chat_history_size;
    let limit = req.limit.unwrap_or(chat.config.chat_join_history);
    if limit == 0 || limit > max {
        return Err(Refusal::new(
            ErrorCode::InvalidCursor,
            format!("limit must be between 1 and {max}"),
        ));
    }
    if let (Some(before), Some(after)) = (req.before, req.after)
        && before <= after
    {
        return Err(Refusal::new(
            ErrorCode::InvalidCursor,
            "before must be greater than after",
        ));
    }
    let page = chat
        .history
        .query(
            &req.room,
            HistoryQuery {
                before: req.before,
                after: req.after,
                limit,
            },
        )
        .await
        .map_err(internal)?;
    Ok(HistoryReply {
        messages: page.messages,
        has_more: page.has_more,
    })
}

/// The rooms the caller may see: its own, and the public ones (`--chat-public-rooms`).
async fn rooms<A: NodeAdapter>(socket: &SocketRef<A>, node: &Node) -> Result<RoomsReply, Refusal> {
    let chat = &node.chat;
    let mut counts = std::collections::BTreeMap::new();
    if !chat.config.chat_public_rooms.is_empty() {
        for (room, members) in chat.presence.rooms().await.map_err(internal)? {
            if is_public(&chat.config.chat_public_rooms, &room) {
                counts.insert(room, members);
            }
        }
    }
    for room in own_rooms(socket) {
        if let std::collections::btree_map::Entry::Vacant(entry) = counts.entry(room) {
            let (members, _) = chat
                .presence
                .present(entry.key(), &[])
                .await
                .map_err(internal)?;
            entry.insert(members);
        }
    }
    let mut rooms: Vec<RoomSummary> = counts
        .into_iter()
        .filter(|(_, members)| *members > 0)
        .map(|(room, members)| RoomSummary { room, members })
        .collect();
    rooms.sort_by(|a, b| b.members.cmp(&a.members).then(a.room.cmp(&b.room)));
    Ok(RoomsReply { rooms })
}

/// Whether `room` is named by one of `patterns`: a name, a prefix ending in `*`, or `*`.
pub fn is_public(patterns: &[String], room: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => room.starts_with(prefix),
        None => p == room,
    })
}

/// Emits to everyone in `room`, the sender's other tabs and itself included.
async fn emit_to_room<A: NodeAdapter, T: serde::Serialize + ?Sized>(
    socket: &SocketRef<A>,
    room: &str,
    event: &str,
    data: &T,
) {
    if let Err(e) = delivery::emit(socket.within(room.to_owned()), event, data).await {
        tracing::warn!(room, event, error = %e, "cannot broadcast to room");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_validated() {
        assert!(validate_text("hello\nworld\t!", 20).is_ok());
        let code = |t: &str| validate_text(t, 5).map_err(|e| e.code);
        assert_eq!(code("   "), Err(ErrorCode::InvalidText));
        for invisible in [
            "\u{200B}\u{200B}",
            "\u{202E}",
            "\u{200D} \u{2066}\u{2069}",
            "\u{FEFF}\n",
            "\u{3164}",
            "\u{0301}",
        ] {
            assert_eq!(
                code(invisible),
                Err(ErrorCode::InvalidText),
                "{invisible:?}"
            );
        }
        assert_eq!(
            code("\u{202E}abc"),
            Ok(()),
            "direction controls beside text are fine"
        );
        assert_eq!(code("👍"), Ok(()));
        assert_eq!(code("toolong"), Err(ErrorCode::InvalidText));
        assert_eq!(code("a\u{0}b"), Err(ErrorCode::InvalidText));
        assert_eq!(code("héllo"), Ok(()));
    }

    #[test]
    fn public_room_patterns() {
        let patterns = vec!["lobby".to_owned(), "pub.*".to_owned()];
        assert!(is_public(&patterns, "lobby"));
        assert!(is_public(&patterns, "pub.x"));
        assert!(!is_public(&patterns, "lobby2"));
        assert!(!is_public(&patterns, "secret"));
        assert!(is_public(&["*".to_owned()], "anything"));
        assert!(!is_public(&[], "lobby"));
    }
}
