//! No backend joins a socket into another socket's id room.
//!
//! Every socket is in a room named by its id, and what is addressed to that
//! socket alone goes there. Backends are trusted, but the room names they join
//! often come from clients (Flask's `join_room(data["room"])`), and socket ids
//! are public (presence, relay targets, listings). So a join of a room that is
//! a connected socket's id, other than the joiner's own, is refused, from the
//! forwarding answers, the Flask and Django bridges and the publish API alike,
//! as `rooms:join` refuses it to clients. Only names shaped like a socket id
//! are looked up (cluster-wide: the owner may be on another node).

use socketioxide::operators::BroadcastOperators;

use super::forwarding::steps::Step;
use super::publisher::PublishError;
use crate::socket::NodeAdapter;
use crate::socket::rooms::holds_socket_id;

/// Refuses joining the sockets of `target` into `room` of the namespace whose
/// sockets `namespace` reaches when `room` is the id room of a connected
/// socket other than `target`.
pub async fn refuse<A: NodeAdapter>(
    namespace: BroadcastOperators<A>,
    target: &str,
    room: &str,
) -> Result<(), PublishError> {
    if room == target {
        return Ok(());
    }
    if holds_socket_id(namespace.within(room.to_owned()), room)
        .await
        .map_err(PublishError::Delivery)?
    {
        return Err(PublishError::ConnectionRoom(room.to_owned()));
    }
    Ok(())
}

/// Refuses a forwarding answer that would join anyone of the sender's
/// namespace (`namespace`: its sockets but the sender) into another socket's id room: the sender's `join`
/// list and the `join` ops in that namespace, some of which are applied to the
/// sender directly rather than through the publisher.
pub async fn refuse_in_answer<A: NodeAdapter>(
    namespace: &BroadcastOperators<A>,
    sender: (&str, &str),
    join: &[String],
    steps: &[Step],
) -> Result<(), PublishError> {
    let (sender_ns, sender_sid) = sender;
    for room in join {
        refuse(namespace.clone(), sender_sid, room).await?;
    }
    for step in steps {
        if let Step::Join {
            namespace: ns,
            sid,
            room,
        } = step
            && ns == sender_ns
        {
            // `namespace` leaves the sender out: its own id room is checked here.
            if room == sender_sid && sid != sender_sid {
                return Err(PublishError::ConnectionRoom(room.clone()));
            }
            refuse(namespace.clone(), sid, room).await?;
        }
    }
    Ok(())
}
