//! The one way backends act on sockets: emit, disconnect, rooms, notify.
//!
//! The HTTP publish API and the Flask message-queue bridge both drive a
//! [`Publisher`], so what a Celery worker does through Redis and what a
//! `curl` does through HTTP take the same path. It is a trait object so the
//! callers need not be generic over the adapter (memory or Redis).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use socketioxide::SocketIo;
use socketioxide::operators::BroadcastOperators;

use crate::backends::connection_rooms;
use crate::backends::notifier::{Audience, Draft, Notifier};
use crate::ops::metrics;
use crate::protocol::RESERVED_EVENTS;
use crate::protocol::event_args::EventArgs;
use crate::protocol::namespace_pattern::NamespaceTable;
use crate::protocol::notifications::Notification;
use crate::socket::NodeAdapter;

/// An emit a backend asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct EmitCommand {
    /// Namespace path, e.g. `/` or `/chat`.
    pub namespace: String,
    /// Event name.
    pub event: String,
    /// Arguments, binary ones included.
    pub args: EventArgs,
    /// Rooms (or socket ids) to deliver to: `None` = the whole namespace, an
    /// empty list = nobody (see [`Recipients`]).
    pub rooms: Option<Vec<String>>,
    /// Rooms (or socket ids) to leave out.
    pub except: Vec<String>,
    /// Wait this long for every receiver's acknowledgement.
    pub ack_timeout: Option<Duration>,
    /// Which sockets the rooms are looked up among.
    pub scope: Scope,
}

/// Whom an emit addresses, from its optional room list.
///
/// socketioxide (like Socket.IO) broadcasts to the whole namespace when the
/// room list is empty. A backend that computed an empty list of recipients
/// means nobody, as python-socketio reads it, so every path (publish API,
/// Flask bridge, forwarding answers, client relay) decides here: only a
/// missing list addresses everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// No room list: every socket of the namespace.
    Namespace,
    /// The sockets in these rooms (never empty).
    Rooms(Vec<String>),
    /// An empty room list.
    Nobody,
}

impl Recipients {
    /// The recipients a room list names.
    pub fn of(rooms: Option<Vec<String>>) -> Self {
        match rooms {
            None => Recipients::Namespace,
            Some(rooms) if rooms.is_empty() => Recipients::Nobody,
            Some(rooms) => Recipients::Rooms(rooms),
        }
    }
}

/// Which sockets an operation reaches.
///
/// The HTTP API acts once, on one node, for the whole cluster. The Flask
/// bridge gets every queue message on every node, so each node must act on
/// its own sockets only, or a message would be applied once per node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    /// Every node's sockets (through the adapter).
    #[default]
    Cluster,
    /// This node's sockets only.
    Local,
}

/// One socket, as the API lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    /// Socket id.
    pub id: String,
    /// Id of the node that holds it (for clustered deployments).
    pub node: String,
    /// Whether this node holds it.
    pub local: bool,
}

/// Why a publish was refused or failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PublishError {
    /// No such namespace on this server.
    #[error("unknown namespace {0:?}")]
    UnknownNamespace(String),
    /// Empty, too long or reserved event name.
    #[error("invalid event name {0:?}: 1 to 64 characters, not reserved by Socket.IO")]
    InvalidEvent(String),
    /// An argument holds an object with a `_placeholder` key (see [`crate::protocol::placeholders`]).
    #[error("{0}")]
    InvalidArgs(String),
    /// The adapter could not deliver (e.g. the Redis link is down).
    #[error("delivery failed: {0}")]
    Delivery(String),
    /// A join of another connected socket's id room ([`super::connection_rooms`]).
    #[error(
        "room {0:?} belongs to a connection: joining it would receive what is addressed to that socket alone"
    )]
    ConnectionRoom(String),
}

/// The acknowledgements of an emit that asked for them, per receiver.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AckReport {
    /// Each receiver that answered: its socket id and its ack's arguments (maybe none).
    pub answers: Vec<(String, EventArgs)>,
    /// Receivers that did not answer in time (or went away first).
    pub timed_out: Vec<String>,
}

/// Rooms that sockets join or leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomMove {
    /// Join these rooms.
    Join(Vec<String>),
    /// Leave these rooms.
    Leave(Vec<String>),
}

/// Acts on the sockets of a node (and, with the Redis adapter, of the cluster).
pub trait Publisher: Send + Sync + 'static {
    /// Emits an event; with `ack_timeout`, returns the receivers' acknowledgements.
    fn emit(&self, command: EmitCommand) -> BoxFuture<'_, Result<Option<AckReport>, PublishError>>;
    /// Disconnects the sockets in `room` (a socket id addresses one socket).
    fn disconnect<'a>(
        &'a self,
        namespace: &'a str,
        room: &'a str,
        scope: Scope,
    ) -> BoxFuture<'a, Result<(), PublishError>>;
    /// Makes the sockets in `target` (a room or socket id) join or leave `rooms`.
    fn move_rooms<'a>(
        &'a self,
        namespace: &'a str,
        target: &'a str,
        change: RoomMove,
        scope: Scope,
    ) -> BoxFuture<'a, Result<(), PublishError>>;
    /// The rooms of socket `sid` (its own room included); `None` when no such socket is connected.
    fn rooms_of<'a>(
        &'a self,
        namespace: &'a str,
        sid: &'a str,
        scope: Scope,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, PublishError>>;
    /// Lists the sockets in `room` (all sockets when `None`).
    fn sockets<'a>(
        &'a self,
        namespace: &'a str,
        room: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<SocketInfo>, PublishError>>;
    /// Delivers a `/notifications` notification.
    fn notify<'a>(
        &'a self,
        audience: &'a Audience,
        draft: Draft,
    ) -> BoxFuture<'a, Result<Notification, PublishError>>;
    /// Delivers a notification that came in a message every node received
    /// (`message` identifies it): appended once cluster-wide, delivered by
    /// each node to its own subscribers.
    fn notify_once<'a>(
        &'a self,
        message: &'a [u8],
        audience: &'a Audience,
        draft: Draft,
    ) -> BoxFuture<'a, Result<(), PublishError>>;
}

/// Closes a room, as Flask-SocketIO's `close_room`: every socket in it leaves it.
pub async fn close_room(
    publisher: &dyn Publisher,
    namespace: &str,
    room: &str,
    scope: Scope,
) -> Result<(), PublishError> {
    publisher
        .move_rooms(
            namespace,
            room,
            RoomMove::Leave(vec![room.to_owned()]),
            scope,
        )
        .await
}

/// Checks an event name a backend wants to emit (the rule clients relay by,
/// Socket.IO's reserved names only).
pub fn validate_event(event: &str) -> Result<(), PublishError> {
    crate::protocol::validate_event_name(event, &RESERVED_EVENTS)
        .map_err(|_| PublishError::InvalidEvent(event.to_owned()))
}

/// Gives a cluster-wide operation the namespace a pattern stands for when
/// this node has no socket in it (other nodes may have some).
pub trait PatternNamespaces<A: NodeAdapter>: Send + Sync + 'static {
    /// The namespace at `path`, made now if need be; `None` when no pattern admits the name.
    fn open<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<BroadcastOperators<A>>, String>>;
    /// Notes that an operation addressed `path`, which this node has.
    fn touch(&self, path: &str);
}

/// The [`Publisher`] of a socketioxide server.
pub struct SocketIoPublisher<A: NodeAdapter> {
    io: SocketIo<A>,
    notifier: Notifier<A>,
    /// Namespaces and patterns served; a namespace a pattern stands for
    /// exists on this node while it has sockets here, or a publish opened it.
    served: NamespaceTable<()>,
    /// Opens a namespace of a pattern that has no socket here for a
    /// cluster-wide publish (other nodes may have some).
    family: Option<Arc<dyn PatternNamespaces<A>>>,
}

impl<A: NodeAdapter> SocketIoPublisher<A> {
    /// A publisher acting through `io`.
    pub fn new(io: SocketIo<A>, notifier: Notifier<A>) -> Self {
        Self {
            io,
            notifier,
            served: NamespaceTable::default(),
            family: None,
        }
    }

    /// This publisher, asking `family` for the namespaces of patterns that have
    /// no socket here when a cluster-wide operation addresses them.
    pub fn opening(mut self, family: Arc<dyn PatternNamespaces<A>>) -> Self {
        self.family = Some(family);
        self
    }

    /// This publisher, knowing the namespaces and patterns the node serves.
    pub fn serving(mut self, served: impl IntoIterator<Item = String>) -> Self {
        self.served = NamespaceTable::new(served.into_iter().map(|ns| (ns, ())));
        self
    }

    /// The namespace at `path`; `None` for one a pattern stands for that has
    /// nobody to reach: no socket on this node, and no other node (no shared
    /// adapter) or only this node's sockets asked for.
    async fn target(
        &self,
        path: &str,
        scope: Scope,
    ) -> Result<Option<BroadcastOperators<A>>, PublishError> {
        let operators = match self.io.of(path) {
            Some(operators) => {
                if let Some(family) = &self.family {
                    family.touch(path);
                }
                operators
            }
            None if self.served.pattern_of(path).is_none() => {
                return Err(PublishError::UnknownNamespace(path.to_owned()));
            }
            None => match (&self.family, scope) {
                (Some(family), Scope::Cluster) if A::SHARED => {
                    match family.open(path).await.map_err(delivery)? {
                        Some(operators) => operators,
                        None => return Ok(None),
                    }
                }
                _ => return Ok(None),
            },
        };
        Ok(Some(match scope {
            Scope::Cluster => operators,
            Scope::Local => operators.local(),
        }))
    }
}

fn delivery(e: impl std::fmt::Display) -> PublishError {
    PublishError::Delivery(e.to_string())
}

impl<A: NodeAdapter> Publisher for SocketIoPublisher<A> {
    fn emit(&self, command: EmitCommand) -> BoxFuture<'_, Result<Option<AckReport>, PublishError>> {
        Box::pin(async move {
            validate_event(&command.event)?;
            crate::protocol::placeholders::refuse_forged(&command.args.0)
                .map_err(|e| PublishError::InvalidArgs(e.message))?;
            let mut target = match self.target(&command.namespace, command.scope).await? {
                Some(operators) => operators,
                None => return Ok(command.ack_timeout.map(|_| AckReport::default())),
            };
            match Recipients::of(command.rooms) {
                Recipients::Namespace => {}
                Recipients::Rooms(rooms) => target = target.to(rooms),
                Recipients::Nobody => return Ok(command.ack_timeout.map(|_| AckReport::default())),
            }
            if !command.except.is_empty() {
                target = target.except(command.except);
            }
            let started = Instant::now();
            metrics::broadcast(&command.namespace, target.clone().local().sockets().len());
            let Some(timeout) = command.ack_timeout else {
                crate::backends::delivery::emit(target, &command.event, &command.args)
                    .await
                    .map_err(delivery)?;
                metrics::published("emit", started.elapsed());
                return Ok(None);
            };
            // Decoded as the whole argument list: an ack without arguments is an answer too.
            let results = target
                .clone()
                .timeout(timeout)
                .emit_with_ack::<_, EventArgs>(&command.event, &command.args)
                .await
                .map_err(delivery)?
                .collect::<Vec<_>>()
                .await;
            let mut report = AckReport::default();
            for (sid, ack) in results {
                match crate::backends::delivery::answer_or_cut(&target, sid, ack) {
                    Some(args) => report.answers.push((sid.to_string(), args)),
                    None => report.timed_out.push(sid.to_string()),
                }
            }
            Ok(Some(report))
        })
    }

    fn disconnect<'a>(
        &'a self,
        namespace: &'a str,
        room: &'a str,
        scope: Scope,
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let Some(operators) = self.target(namespace, scope).await? else {
                return Ok(());
            };
            operators
                .within(room.to_owned())
                .disconnect()
                .await
                .map_err(delivery)
        })
    }

    fn move_rooms<'a>(
        &'a self,
        namespace: &'a str,
        target: &'a str,
        change: RoomMove,
        scope: Scope,
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let Some(operators) = self.target(namespace, scope).await? else {
                return Ok(());
            };
            if let RoomMove::Join(rooms) = &change {
                for room in rooms {
                    connection_rooms::refuse(operators.clone(), target, room).await?;
                }
            }
            let sockets = operators.within(target.to_owned());
            match change {
                RoomMove::Join(rooms) => sockets.join(rooms).await,
                RoomMove::Leave(rooms) => sockets.leave(rooms).await,
            }
            .map_err(delivery)
        })
    }

    fn rooms_of<'a>(
        &'a self,
        namespace: &'a str,
        sid: &'a str,
        scope: Scope,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, PublishError>> {
        Box::pin(async move {
            // A room name is no socket id: only a well-formed id can name one socket.
            let target = self.target(namespace, scope).await?;
            let (Some(target), Ok(_)) = (target, sid.parse::<socketioxide::socket::Sid>()) else {
                return Ok(None);
            };
            let mut rooms: Vec<String> = target
                .within(sid.to_owned())
                .rooms()
                .await
                .map_err(delivery)?
                .into_iter()
                .map(|room| room.to_string())
                .collect();
            // Every socket is in its own room: without it, no such socket.
            if !rooms.iter().any(|room| room == sid) {
                return Ok(None);
            }
            rooms.sort();
            rooms.dedup();
            Ok(Some(rooms))
        })
    }

    fn sockets<'a>(
        &'a self,
        namespace: &'a str,
        room: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<SocketInfo>, PublishError>> {
        Box::pin(async move {
            let Some(mut target) = self.target(namespace, Scope::Cluster).await? else {
                return Ok(Vec::new());
            };
            if let Some(room) = room {
                target = target.within(room.to_owned());
            }
            let local: Vec<String> = target
                .clone()
                .local()
                .sockets()
                .iter()
                .map(|s| s.id.to_string())
                .collect();
            let sockets = target.fetch_sockets().await.map_err(delivery)?;
            let mut sockets: Vec<SocketInfo> = sockets
                .into_iter()
                .map(|s| {
                    let data = s.into_data();
                    let id = data.id.to_string();
                    SocketInfo {
                        local: local.contains(&id),
                        id,
                        node: data.server_id.to_string(),
                    }
                })
                .collect();
            sockets.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(sockets)
        })
    }

    fn notify<'a>(
        &'a self,
        audience: &'a Audience,
        draft: Draft,
    ) -> BoxFuture<'a, Result<Notification, PublishError>> {
        Box::pin(async move {
            let started = Instant::now();
            let notification = self
                .notifier
                .deliver(audience, draft)
                .await
                .map_err(delivery)?;
            metrics::published("notify", started.elapsed());
            Ok(notification)
        })
    }

    fn notify_once<'a>(
        &'a self,
        message: &'a [u8],
        audience: &'a Audience,
        draft: Draft,
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let started = Instant::now();
            self.notifier
                .deliver_once(message, audience, draft)
                .await
                .map_err(delivery)?;
            metrics::published("notify", started.elapsed());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_room_list_addresses_everyone() {
        assert_eq!(Recipients::of(None), Recipients::Namespace);
        assert_eq!(Recipients::of(Some(Vec::new())), Recipients::Nobody);
        assert_eq!(
            Recipients::of(Some(vec!["a".to_owned()])),
            Recipients::Rooms(vec!["a".to_owned()])
        );
    }
}
