//! Applying a queue message to this node's sockets through the [`Publisher`].
//!
//! Every node subscribes to the channel and receives every message, so each
//! applies it with [`Scope::Local`]: to its own sockets only. Together the
//! nodes then deliver each message exactly once, as python-socketio servers
//! sharing a queue do. Room and sid addressing relies on every socket being
//! in a room named by its sid (see `namespaces::lifecycle`).

use crate::event_args::EventArgs;
use crate::publisher::{EmitCommand, PublishError, Publisher, Scope};

use super::message::{QueueMessage, Rejection};
use super::stats::RejectReason;

/// What applying a valid message came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acted on this node's sockets (possibly none of them matched).
    Applied,
    /// Nothing to do by design (`callback`, an empty room list).
    Ignored,
}

fn rejection(e: PublishError) -> Rejection {
    let reason = match e {
        PublishError::UnknownNamespace(_) => RejectReason::UnknownNamespace,
        PublishError::InvalidEvent(_) => RejectReason::InvalidEvent,
        PublishError::Delivery(_) => RejectReason::DeliveryFailed,
    };
    Rejection::new(reason, e.to_string())
}

/// Applies `message` to this node's sockets.
pub async fn apply(publisher: &dyn Publisher, message: QueueMessage) -> Result<Outcome, Rejection> {
    match message {
        QueueMessage::Emit(emit) => {
            let rooms = match emit.rooms {
                // python-socketio addresses nobody with an empty list; an
                // empty list means everyone to the publisher, so stop here.
                Some(rooms) if rooms.is_empty() => return Ok(Outcome::Ignored),
                Some(rooms) => rooms,
                None => Vec::new(),
            };
            if emit.wants_callback {
                tracing::debug!(
                    event = emit.event,
                    "callbacks through the message queue are not supported; emitting without"
                );
            }
            let command = EmitCommand {
                namespace: emit.namespace,
                event: emit.event,
                args: EventArgs(emit.args),
                rooms,
                except: emit.skip_sids,
                ack_timeout: None,
                scope: Scope::Local,
            };
            publisher.emit(command).await.map_err(rejection)?;
        }
        QueueMessage::EnterRoom(change) => publisher
            .join(
                &change.namespace,
                &change.sid,
                vec![change.room],
                Scope::Local,
            )
            .await
            .map_err(rejection)?,
        QueueMessage::LeaveRoom(change) => publisher
            .leave(
                &change.namespace,
                &change.sid,
                vec![change.room],
                Scope::Local,
            )
            .await
            .map_err(rejection)?,
        QueueMessage::CloseRoom { namespace, room } => publisher
            .leave(&namespace, &room, vec![room.clone()], Scope::Local)
            .await
            .map_err(rejection)?,
        QueueMessage::Disconnect { namespace, sid } => publisher
            .disconnect(&namespace, &sid, Scope::Local)
            .await
            .map_err(rejection)?,
        QueueMessage::Callback => return Ok(Outcome::Ignored),
    }
    Ok(Outcome::Applied)
}
