//! The built-in `/chat` namespace: rooms, history, typing, presence, catch-up.
//!
//! The contract (event names, payloads, acks) lives in [`crate::events::chat`];
//! this module enforces it. Storage sits behind [`HistoryStore`] and
//! [`PresenceStore`], so the same handlers serve one node (memory) or a
//! cluster (shared stores).

pub mod history;
pub mod presence;
pub mod redis_store;

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide_core::adapter::Spawnable;

use crate::config::ChatConfig;
use crate::delivery;
use crate::events::chat::{
    HistoryReply, HistoryRequest, JoinReply, PresenceEvent, RoomRequest, RoomSummary, RoomsReply,
    SendReply, SendRequest, TypingEvent, TypingRequest, User,
};
use crate::events::{Done, ErrorCode, EventError, parse_payload, validate_room};
use crate::identity::{self, user_of};
use crate::limits;
use crate::namespaces::relay::{own_rooms, refuse_socket_room};
use crate::namespaces::{NodeAdapter, connected, lifecycle, send_reply};
use history::{HistoryQuery, HistoryStore, StoreError};
use presence::PresenceStore;
use std::convert::Infallible;

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

/// Registers `/chat`.
pub fn register<A: NodeAdapter>(io: &SocketIo<A>, chat: Arc<Chat>) {
    let setup = async move |socket: SocketRef<A>| -> Result<(), Infallible> {
        on_connect(socket, chat.clone());
        Ok(())
    };
    io.ns(
        NAMESPACE,
        connected.with(setup).with(identity::identify::<A>),
    )
    .spawn();
}

fn on_connect<A: NodeAdapter>(socket: SocketRef<A>, chat: Arc<Chat>) {
    lifecycle::on_connected(&socket);
    let Some(user) = user_of(&socket) else {
        tracing::error!(sid = %socket.id, "chat socket without identity");
        let _ = socket.disconnect();
        return;
    };
    let user = Arc::new(user);

    macro_rules! on {
        ($event:literal, $request:ty, $handler:ident) => {{
            let chat = chat.clone();
            let user = user.clone();
            limits::events::on(
                &socket,
                $event,
                async move |s: SocketRef<A>, TryData(req): TryData<$request>, ack: AckSender<A>| {
                    let result = match parse_payload(req) {
                        Ok(req) => $handler(&s, &chat, &user, req).await,
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
    let rooms_chat = chat.clone();
    limits::events::on(&socket, "rooms", async move |ack: AckSender<A>| {
        send_reply(ack, rooms(&rooms_chat).await);
    });

    let joined = JoinedRooms::default();
    socket.extensions.insert(joined.clone());
    socket.on_disconnect(async move |s: SocketRef<A>, reason: DisconnectReason| {
        lifecycle::on_disconnect(s.clone(), reason);
        // Not the adapter's view of the socket's rooms: it may be cleared already.
        for room in joined.take() {
            if let Err(e) = announce_leave(&s, &chat, &user, &room).await {
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

fn internal(e: StoreError) -> EventError {
    tracing::error!(error = %e, "chat store failed");
    EventError::new(
        ErrorCode::Internal,
        "the chat store is unavailable; try again",
    )
}

fn require_joined<A: NodeAdapter>(socket: &SocketRef<A>, room: &str) -> Result<(), EventError> {
    validate_room(room)?;
    if own_rooms(socket).iter().any(|r| r == room) {
        Ok(())
    } else {
        Err(EventError::new(
            ErrorCode::NotInRoom,
            format!("join {room:?} first"),
        ))
    }
}

async fn join<A: NodeAdapter>(
    socket: &SocketRef<A>,
    chat: &Chat,
    user: &User,
    req: RoomRequest,
) -> Result<JoinReply, EventError> {
    validate_room(&req.room)?;
    refuse_socket_room(socket, &req.room).await?;
    let joined = own_rooms(socket);
    let already = joined.contains(&req.room);
    if !already && joined.len() >= chat.config.max_rooms_per_socket {
        return Err(EventError::new(
            ErrorCode::TooManyRooms,
            format!(
                "a socket may be in {} rooms at most",
                chat.config.max_rooms_per_socket
            ),
        ));
    }
    socket.join(req.room.clone());
    if let Some(joined) = socket.extensions.get::<JoinedRooms>() {
        joined.insert(&req.room);
    }
    let sid = socket.id.to_string();
    let members = chat
        .presence
        .join(&req.room, &sid, user)
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
    if !already {
        let event = PresenceEvent {
            room: req.room.clone(),
            joined: Some(user.clone()),
            left: None,
            members: members.clone(),
        };
        emit_to_room(socket, &req.room, "presence", &event).await;
    }
    Ok(JoinReply {
        room: req.room,
        members,
        messages: page.messages,
    })
}

async fn leave<A: NodeAdapter>(
    socket: &SocketRef<A>,
    chat: &Chat,
    user: &User,
    req: RoomRequest,
) -> Result<Done, EventError> {
    require_joined(socket, &req.room)?;
    socket.leave(req.room.clone());
    if let Some(joined) = socket.extensions.get::<JoinedRooms>() {
        joined.remove(&req.room);
    }
    announce_leave(socket, chat, user, &req.room)
        .await
        .map_err(internal)?;
    Ok(Done {})
}

/// Removes the socket from the room's members and tells those who remain.
async fn announce_leave<A: NodeAdapter>(
    socket: &SocketRef<A>,
    chat: &Chat,
    user: &User,
    room: &str,
) -> Result<(), StoreError> {
    let members = chat.presence.leave(room, &socket.id.to_string()).await?;
    let event = PresenceEvent {
        room: room.to_owned(),
        joined: None,
        left: Some(user.clone()),
        members,
    };
    if let Err(e) = delivery::emit(socket.to(room.to_owned()), "presence", &event).await {
        tracing::warn!(room, error = %e, "cannot broadcast presence");
    }
    Ok(())
}

/// Checks a chat message text: not blank, at most `max_chars`, no control characters but newline and tab.
pub fn validate_text(text: &str, max_chars: usize) -> Result<(), EventError> {
    if text.trim().is_empty() {
        return Err(EventError::new(
            ErrorCode::InvalidText,
            "the message is empty",
        ));
    }
    if text.chars().count() > max_chars {
        return Err(EventError::new(
            ErrorCode::InvalidText,
            format!("messages have at most {max_chars} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(EventError::new(
            ErrorCode::InvalidText,
            "messages may not contain control characters",
        ));
    }
    Ok(())
}

async fn send<A: NodeAdapter>(
    socket: &SocketRef<A>,
    chat: &Chat,
    user: &User,
    req: SendRequest,
) -> Result<SendReply, EventError> {
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
    _chat: &Chat,
    user: &User,
    req: TypingRequest,
) -> Result<Done, EventError> {
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
    chat: &Chat,
    _user: &User,
    req: HistoryRequest,
) -> Result<HistoryReply, EventError> {
    require_joined(socket, &req.room)?;
    let max = chat.config.chat_history_size;
    let limit = req.limit.unwrap_or(chat.config.chat_join_history);
    if limit == 0 || limit > max {
        return Err(EventError::new(
            ErrorCode::InvalidCursor,
            format!("limit must be between 1 and {max}"),
        ));
    }
    if let (Some(before), Some(after)) = (req.before, req.after)
        && before <= after
    {
        return Err(EventError::new(
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

async fn rooms(chat: &Chat) -> Result<RoomsReply, EventError> {
    let mut rooms: Vec<RoomSummary> = chat
        .presence
        .rooms()
        .await
        .map_err(internal)?
        .into_iter()
        .map(|(room, members)| RoomSummary { room, members })
        .collect();
    rooms.sort_by(|a, b| b.members.cmp(&a.members).then(a.room.cmp(&b.room)));
    Ok(RoomsReply { rooms })
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
        assert_eq!(code("toolong"), Err(ErrorCode::InvalidText));
        assert_eq!(code("a\u{0}b"), Err(ErrorCode::InvalidText));
        assert_eq!(code("héllo"), Ok(()));
    }
}
