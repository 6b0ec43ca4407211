//! The connect hook's answer, delivered first: what a Flask connect handler
//! emits reaches the new socket right after its CONNECT packet.
//!
//! A connect middleware cannot send to the socket (it is not connected yet),
//! and socketioxide runs async connect handlers in a task of their own, after
//! the CONNECT packet: packets for the socket could slip in between. So the
//! namespace's connect handler is [`DeliverHookAnswer`], a synchronous one
//! that socketioxide calls in the same breath as it sends CONNECT: it joins the
//! answer's rooms, then puts the new socket's share of each emit into its
//! queue and applies the steps that concern it, in the answer's order, before
//! any other task can reach it through those rooms. What concerns other sockets
//! (the rest of a broadcast, their room changes) follows in a task, in order.
//! The socket stays marked in [`PendingAnswers`] until all of it is applied, so
//! Flask queue operations on it sent meanwhile wait (they were lost before:
//! the socket was not in the namespace yet).
//!
//! A namespace-wide broadcast made in the very instant socketioxide adds the
//! socket to the namespace can still come first; everything addressed to its
//! rooms or to it comes after.

use std::sync::{Arc, Mutex};

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::handler::{ConnectHandler, Value};
use socketioxide::socket::Socket;

use super::Forwarder;
use super::steps::{self, Step};
use crate::backends::pending_answers::PendingGuard;
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

/// Applies, now, what the answer does to `socket`; returns the steps left for other sockets.
fn apply_to_self<A: Adapter>(
    socket: &SocketRef<A>,
    join: Vec<String>,
    all: Vec<Step>,
) -> Vec<Step> {
    if !join.is_empty() {
        socket.join(join);
    }
    let sid = socket.id.to_string();
    let ns = socket.ns().to_owned();
    let mine = |namespace: &str, id: &str| namespace == ns && id == sid;
    let mut connected = true;
    let mut rest = Vec::new();
    for step in all {
        match step {
            Step::Emit(mut command) => {
                if connected
                    && command.namespace == ns
                    && reaches(socket, &command)
                    && let Err(e) = socket.emit(&command.event, &command.args)
                {
                    tracing::debug!(%sid, error = %e, "cannot send the connect hook's emit");
                }
                let only_me = command
                    .rooms
                    .as_ref()
                    .is_some_and(|rooms| rooms.iter().all(|r| *r == sid));
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
            } if mine(&namespace, &id) => socket.join(room),
            Step::Leave {
                namespace,
                sid: id,
                room,
            } if mine(&namespace, &id) => socket.leave(room),
            Step::CloseRoom { namespace, room } => {
                if namespace == ns {
                    socket.leave(room.clone());
                }
                rest.push(Step::CloseRoom { namespace, room });
            }
            Step::Disconnect { namespace, sid: id } if mine(&namespace, &id) => {
                if connected && let Err(e) = socket.clone().disconnect() {
                    tracing::debug!(%sid, error = %e, "cannot disconnect as the connect hook asked");
                }
                connected = false;
            }
            other => rest.push(other),
        }
    }
    rest
}

/// Whether an emit's recipients include `socket` (one of its rooms, and not excepted).
fn reaches<A: Adapter>(
    socket: &SocketRef<A>,
    command: &crate::backends::publisher::EmitCommand,
) -> bool {
    let rooms = socket.rooms();
    let sid = socket.id.as_str();
    let in_any = |list: &[String]| {
        list.iter()
            .any(|r| r == sid || rooms.iter().any(|own| own.as_ref() == r.as_str()))
    };
    let addressed = match &command.rooms {
        None => true,
        Some(list) => in_any(list),
    };
    addressed && !in_any(&command.except)
}
