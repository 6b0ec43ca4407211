//! The connect hook's answer, delivered first: what a Flask connect handler
//! emits reaches the new socket right after its CONNECT packet.
//!
//! A connect middleware cannot send to the socket (it is not connected yet),
//! and socketioxide runs async connect handlers in a task of their own, after
//! the CONNECT packet: packets for the socket could slip in between. So the
//! namespace's connect handler is [`DeliverHookAnswer`], a synchronous one
//! that socketioxide calls in the same breath as it sends CONNECT: it puts the
//! new socket's share of each emit into its queue, in the answer's order and
//! following the rooms the answer gives it (`join`, then the ops), and only
//! then makes those room changes, so no other task can reach it through those
//! rooms before its last packet. What concerns other sockets
//! (the rest of a broadcast, their room changes) follows in a task, in order.
//! The socket stays marked in [`PendingAnswers`] until all of it is applied, so
//! Flask queue operations on it sent meanwhile wait (they were lost before:
//! the socket was not in the namespace yet).
//!
//! A namespace-wide broadcast made in the very instant socketioxide adds the
//! socket to the namespace can still come first; everything addressed to its
//! rooms or to it comes after.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::handler::{ConnectHandler, Value};
use socketioxide::socket::Socket;

use super::Forwarder;
use super::steps::{self, Step};
use crate::backends::pending_answers::PendingGuard;
use crate::backends::publisher::EmitCommand;
use crate::socket::NodeAdapter;

/// An accepted connection's answer, kept in the socket's extensions until it is connected.
#[derive(Debug, Clone)]
pub(super) struct HookAnswer(Arc<Mutex<Option<Answer>>>);

#[derive(Debug)]
pub(super) struct Answer {
    /// Rooms joined first.
    pub join: Vec<String>,
    /// Emits then ops, resolved.
    pub steps: Vec<Step>,
    /// The socket's mark, cleared once everything is applied.
    pub pending: PendingGuard,
}

impl HookAnswer {
    pub(super) fn new(answer: Answer) -> Self {
        Self(Arc::new(Mutex::new(Some(answer))))
    }

    fn take(&self) -> Option<Answer> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Marks [`DeliverHookAnswer`]'s `ConnectHandler` impl apart from socketioxide's closures.
#[derive(Debug, Clone, Copy)]
pub struct Synchronous;

/// The connect handler of generic namespaces: applies the hook's answer at once.
#[derive(Clone)]
pub struct DeliverHookAnswer(pub Option<Arc<Forwarder>>);

impl<A: NodeAdapter> ConnectHandler<A, Synchronous> for DeliverHookAnswer {
    fn call(&self, socket: Arc<Socket<A>>, _auth: Option<Value>) {
        let socket = SocketRef::from(socket);
        let Some(answer) = socket.extensions.get::<HookAnswer>().and_then(|a| a.take()) else {
            return;
        };
        let Some(forwarder) = self.0.clone() else {
            return;
        };
        let rest = apply_to_self(&socket, answer.join, answer.steps);
        let pending = answer.pending;
        if rest.is_empty() {
            return;
        }
        let (sid, ns) = (socket.id.to_string(), socket.ns().to_owned());
        tokio::spawn(async move {
            if let Err(e) = steps::run(forwarder.publisher.as_ref(), rest).await {
                tracing::warn!(sid, ns, error = %e, "applying the connect hook's answer failed");
            }
            drop(pending);
        });
    }
}

/// The new socket's rooms as the answer changes them, and the changes to make
/// once its packets are queued.
struct Membership {
    rooms: HashSet<String>,
    moves: Vec<(bool, String)>,
}

impl Membership {
    fn join(&mut self, room: String) {
        self.rooms.insert(room.clone());
        self.moves.push((true, room));
    }

    fn leave(&mut self, room: String) {
        if self.rooms.remove(&room) {
            self.moves.push((false, room));
        }
    }
}

/// Applies, now, what the answer does to `socket`; returns the steps left for other sockets.
///
/// The socket's packets are queued first, following its rooms as the answer
/// changes them; the room changes themselves are made after, so that no
/// broadcast to a room it joins can slip in before its last packet.
fn apply_to_self<A: Adapter>(
    socket: &SocketRef<A>,
    join: Vec<String>,
    all: Vec<Step>,
) -> Vec<Step> {
    let sid = socket.id.to_string();
    let ns = socket.ns().to_owned();
    let mine = |namespace: &str, id: &str| namespace == ns && id == sid;
    let mut member = Membership {
        rooms: socket.rooms().iter().map(|r| r.to_string()).collect(),
        moves: Vec::new(),
    };
    for room in join {
        member.join(room);
    }
    let mut disconnect = false;
    let mut rest = Vec::new();
    for step in all {
        match step {
            Step::Emit(mut command) => {
                if !disconnect
                    && command.namespace == ns
                    && reaches(&member.rooms, &sid, &command)
                    && let Err(e) = socket.emit(&command.event, &command.args)
                {
                    tracing::debug!(%sid, error = %e, "cannot send the connect hook's emit");
                }
                let only_me = command
                    .rooms
                    .as_ref()
                    .is_some_and(|targets| targets.iter().all(|r| *r == sid));
                if command.namespace != ns || !only_me {
                    if command.namespace == ns {
                        command.except.push(sid.clone());
                    }
                    rest.push(Step::Emit(command));
                }
            }
            Step::Join {
                namespace,
                sid: id,
                room,
            } if mine(&namespace, &id) => member.join(room),
            Step::Leave {
                namespace,
                sid: id,
                room,
            } if mine(&namespace, &id) => member.leave(room),
            Step::CloseRoom { namespace, room } => {
                if namespace == ns {
                    member.leave(room.clone());
                }
                rest.push(Step::CloseRoom { namespace, room });
            }
            Step::Disconnect { namespace, sid: id } if mine(&namespace, &id) => disconnect = true,
            other => rest.push(other),
        }
    }
    if disconnect {
        // After its packets; its room changes are moot.
        if let Err(e) = socket.clone().disconnect() {
            tracing::debug!(%sid, error = %e, "cannot disconnect as the connect hook asked");
        }
        return rest;
    }
    for (joins, room) in member.moves {
        if joins {
            socket.join(room);
        } else {
            socket.leave(room);
        }
    }
    rest
}

/// Whether an emit's recipients include the socket `sid`, in `rooms` (and not excepted).
fn reaches(rooms: &HashSet<String>, sid: &str, command: &EmitCommand) -> bool {
    let in_any = |list: &[String]| list.iter().any(|r| r == sid || rooms.contains(r));
    let addressed = match &command.rooms {
        None => true,
        Some(list) => in_any(list),
    };
    addressed && !in_any(&command.except)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::publisher::Scope;
    use crate::protocol::event_args::EventArgs;

    fn emit(rooms: Option<&[&str]>, except: &[&str]) -> EmitCommand {
        let owned = |list: &[&str]| list.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
        EmitCommand {
            namespace: "/".to_owned(),
            event: "e".to_owned(),
            args: EventArgs::default(),
            rooms: rooms.map(owned),
            except: owned(except),
            ack_timeout: None,
            scope: Scope::Cluster,
        }
    }

    #[test]
    fn the_new_socket_follows_the_rooms_the_answer_gives_it() {
        let mut member = Membership {
            rooms: HashSet::from(["s1".to_owned()]),
            moves: Vec::new(),
        };
        assert!(!reaches(&member.rooms, "s1", &emit(Some(&["lobby"]), &[])));
        member.join("lobby".to_owned());
        assert!(reaches(&member.rooms, "s1", &emit(Some(&["lobby"]), &[])));
        assert!(reaches(&member.rooms, "s1", &emit(None, &[])), "everyone");
        assert!(
            reaches(&member.rooms, "s1", &emit(Some(&["s1"]), &[])),
            "its id"
        );
        assert!(
            !reaches(&member.rooms, "s1", &emit(Some(&["lobby"]), &["s1"])),
            "include_self: false"
        );
        assert!(
            !reaches(&member.rooms, "s1", &emit(Some(&[]), &[])),
            "nobody"
        );
        member.leave("lobby".to_owned());
        member.leave("never-joined".to_owned());
        assert!(!reaches(&member.rooms, "s1", &emit(Some(&["lobby"]), &[])));
        assert_eq!(
            member.moves,
            [(true, "lobby".to_owned()), (false, "lobby".to_owned())],
            "only real changes are made"
        );
    }
}
