//! The rooms a client chooses: which it is in, which it may not take, how many.
//!
//! Every socket is also in its sid room (addressing it alone, see
//! [`super::lifecycle`]); the apps (relay rooms, chat rooms, notification
//! topics) read and cap a socket's own rooms here, one rule for all of them.
//! Rooms a client chooses are joined and left through [`join`] and [`leave`],
//! so the Admin UI's development mode sees them.

use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;

use crate::ops::admin_feed;
use crate::protocol::{ErrorCode, Refusal};
use crate::socket::NodeAdapter;

/// Puts `socket` in `room` (this node's sockets join at once).
pub fn join<A: NodeAdapter>(socket: &SocketRef<A>, room: &str) {
    socket.join(room.to_owned());
    admin_feed::room_joined(socket.ns(), room, socket.id.as_str());
}

/// Takes `socket` out of `room`.
pub fn leave<A: NodeAdapter>(socket: &SocketRef<A>, room: &str) {
    socket.leave(room.to_owned());
    admin_feed::room_left(socket.ns(), room, socket.id.as_str());
}

/// Refuses a room that is a socket's own id room (anywhere in the cluster):
/// joining it would receive what is addressed to that socket alone.
pub async fn refuse_socket_room<A: NodeAdapter>(
    socket: &SocketRef<A>,
    room: &str,
) -> Result<(), Refusal> {
    let refused = || {
        Refusal::new(
            ErrorCode::InvalidRoom,
            "that name belongs to a connection; choose another room name",
        )
    };
    if room == socket.id.as_str() {
        return Err(refused());
    }
    let held = holds_socket_id(socket.within(room.to_owned()), room)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot look up a room's sockets");
            Refusal::new(ErrorCode::Internal, "cannot check the room now; try again")
        })?;
    if held {
        return Err(refused());
    }
    Ok(())
}

/// Whether `room` is the id room of one of the sockets `in_room` selects (the
/// sockets in `room`, cluster-wide: the owner may be on another node). Only
/// names shaped like a socket id are looked up; no other name can be one.
pub async fn holds_socket_id<A: NodeAdapter>(
    in_room: BroadcastOperators<A>,
    room: &str,
) -> Result<bool, String> {
    if room.parse::<Sid>().is_err() {
        return Ok(false);
    }
    let holders = in_room.fetch_sockets().await.map_err(|e| e.to_string())?;
    Ok(holders.iter().any(|s| s.data().id.as_str() == room))
}

/// The rooms a socket joined itself, without its sid room.
pub fn own_rooms<A: NodeAdapter>(socket: &SocketRef<A>) -> Vec<String> {
    let sid = socket.id.to_string();
    let mut rooms: Vec<String> = socket
        .rooms()
        .into_iter()
        .map(|r| r.to_string())
        .filter(|r| *r != sid)
        .collect();
    rooms.sort();
    rooms
}

/// Refuses one more room when `current` (the socket's own rooms of that kind)
/// already holds `max` and `room` is not among them; `what` names them ("rooms",
/// "topics") in the message.
pub fn admit_one_more(
    current: &[String],
    room: &str,
    max: usize,
    what: &str,
) -> Result<(), Refusal> {
    if current.iter().any(|r| r == room) || current.len() < max {
        return Ok(());
    }
    Err(Refusal::new(
        ErrorCode::TooManyRooms,
        format!("a socket may be in {max} {what} at most"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_more_room_is_refused_at_the_cap_but_a_current_one_is_not() {
        let current = vec!["a".to_owned(), "b".to_owned()];
        assert!(admit_one_more(&current, "c", 3, "rooms").is_ok());
        assert!(admit_one_more(&current, "a", 2, "rooms").is_ok());
        let refused = admit_one_more(&current, "c", 2, "topics").expect_err("at the cap");
        assert_eq!(refused.code, ErrorCode::TooManyRooms);
        assert_eq!(refused.message, "a socket may be in 2 topics at most");
    }
}
