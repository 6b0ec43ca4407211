//! Generic namespaces and their optional client relay.
//!
//! A generic namespace accepts connections and leaves the rest to backends
//! (publish API, Flask bridge, event forwarding). With `--client-relay`,
//! clients may also `rooms:join`, `rooms:leave` and `relay` to rooms they are
//! in, so simple collaborative apps need no backend at all.

use std::sync::Arc;
use std::time::Duration;

use crate::socket::NodeAdapter;
use crate::socket::guard;
use crate::socket::rooms::{self, own_rooms, refuse_socket_room};
use futures_util::StreamExt;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide_core::adapter::Spawnable;

use crate::apps::namespace_family::NamespaceFamily;
use crate::backends::forwarding::{self, Forwarder};
use crate::backends::publisher::Recipients;
use crate::protocol::namespace_pattern::NamespacePattern;
use crate::protocol::placeholders::{self, Checked};
use crate::protocol::relay::{RelayReply, RelayRequest, RoomRequest, RoomsReply};
use crate::protocol::{ErrorCode, Refusal, parse_payload, validate_relay_event, validate_room};
use crate::socket::{legacy_auth, lifecycle, send_reply};
use std::convert::Infallible;

/// What generic namespaces allow their clients.
#[derive(Debug, Clone)]
pub struct RelayPolicy {
    /// Whether clients may join rooms and relay events.
    pub enabled: bool,
    /// Rooms one socket may be in at once.
    pub max_rooms: usize,
    /// Rooms clients may make exist at once in one namespace on this node.
    pub max_namespace_rooms: usize,
    /// How long `relay {ack: true}` waits for receivers.
    pub ack_timeout: Duration,
}

/// Registers a generic namespace at `path`, or the family of namespaces of a
/// pattern (`/tenant-*`, through `family`); `forwarder` takes the events no
/// handler here takes.
pub fn register<A: NodeAdapter>(
    io: &SocketIo<A>,
    path: String,
    policy: Arc<RelayPolicy>,
    forwarder: Option<Arc<Forwarder>>,
    family: Arc<NamespaceFamily<A>>,
) {
    let io_for_ns = io.clone();
    let hook = forwarder.clone();
    let deliver = forwarding::DeliverHookAnswer(forwarder.clone());
    let on_leave = family.clone();
    let setup = async move |socket: SocketRef<A>| -> Result<(), Infallible> {
        let family = on_leave.clone();
        on_connect(
            socket,
            io_for_ns.clone(),
            policy.clone(),
            forwarder.clone(),
            family,
        );
        Ok(())
    };
    let connect_hook =
        async move |socket: SocketRef<A>, TryData(auth): TryData<serde_json::Value>| {
            // socket.io-client 2.x: its queries, as the token check read them.
            let auth = legacy_auth::auth_of(&socket, auth.ok());
            forwarding::connect_hook(hook.clone(), socket, auth).await
        };
    // The last `with` runs first: tokens are checked before the connect hook is
    // called, and handlers are set up last, before the client learns it is connected;
    // the hook's answer is delivered right after the CONNECT packet.
    let handler = deliver
        .with(setup)
        .with(connect_hook)
        .with(crate::socket::connect::authenticate::<A>);
    match NamespacePattern::parse(&path) {
        Ok(pattern) if pattern.is_pattern() => {
            let admitting = family.clone();
            let admit = async move |socket: SocketRef<A>| admitting.admit(&socket);
            if let Err(e) = family.serve(&pattern, handler.with(admit)) {
                // The configuration checks patterns with the same router.
                tracing::error!(namespace = %pattern, error = %e, "cannot serve namespace pattern");
            }
        }
        _ => io.ns(path, handler).spawn(),
    }
}

fn on_connect<A: NodeAdapter>(
    socket: SocketRef<A>,
    io: SocketIo<A>,
    policy: Arc<RelayPolicy>,
    forwarder: Option<Arc<Forwarder>>,
    family: Arc<NamespaceFamily<A>>,
) {
    lifecycle::on_connected(&socket);
    let on_leave = forwarder.clone();
    socket.on_disconnect(async move |s: SocketRef<A>, reason: DisconnectReason| {
        // A namespace a pattern made is kept a while after its last socket leaves.
        family.touch(s.ns());
        forwarding::on_disconnect(&s, &reason, on_leave.as_ref());
        lifecycle::on_disconnect(s, reason);
    });
    forwarding::attach(&socket, forwarder);
    if !policy.enabled {
        return;
    }
    let join_policy = policy.clone();
    guard::on(
        &socket,
        "rooms:join",
        async move |s: SocketRef<A>, TryData(req): TryData<RoomRequest>, ack: AckSender<A>| {
            let result = match parse_payload(req) {
                Ok(r) => join(&s, &join_policy, &r.room).await,
                Err(e) => Err(e),
            };
            send_reply(ack, result);
        },
    );
    guard::on(
        &socket,
        "rooms:leave",
        async |s: SocketRef<A>, TryData(req): TryData<RoomRequest>, ack: AckSender<A>| {
            let result = parse_payload(req).and_then(|r| {
                validate_room(&r.room)?;
                if r.room == s.id.as_str() {
                    return Err(Refusal::new(
                        ErrorCode::InvalidRoom,
                        "a connection cannot leave its own id room",
                    ));
                }
                rooms::leave(&s, &r.room);
                Ok(RoomsReply {
                    rooms: own_rooms(&s),
                })
            });
            send_reply(ack, result);
        },
    );
    guard::on(
        &socket,
        "relay",
        async move |s: SocketRef<A>, Checked(req): Checked<RelayRequest>, ack: AckSender<A>| {
            let result = match req {
                Ok(req) => relay(&s, &io, &policy, req).await,
                Err(e) => Err(e),
            };
            send_reply(ack, result);
        },
    );
}

async fn join<A: NodeAdapter>(
    socket: &SocketRef<A>,
    policy: &RelayPolicy,
    room: &str,
) -> Result<RoomsReply, Refusal> {
    validate_room(room)?;
    refuse_socket_room(socket, room).await?;
    rooms::admit_one_more(&own_rooms(socket), room, policy.max_rooms, "rooms")?;
    let is_new_here = socket.within(room.to_owned()).local().sockets().is_empty();
    if is_new_here && namespace_rooms(socket).await >= policy.max_namespace_rooms {
        return Err(Refusal::new(
            ErrorCode::TooManyRooms,
            format!(
                "this namespace has {} rooms; join an existing one",
                policy.max_namespace_rooms
            ),
        ));
    }
    rooms::join(socket, room);
    Ok(RoomsReply {
        rooms: own_rooms(socket),
    })
}

/// Rooms that exist on this node in the socket's namespace, sid rooms excluded
/// (every socket has one). Only counted when a join would make a new room.
async fn namespace_rooms<A: NodeAdapter>(socket: &SocketRef<A>) -> usize {
    // `broadcast()` leaves the socket itself out: the others' rooms, one sid room each…
    let others = socket.broadcast().local();
    let rooms = others.clone().rooms().await.unwrap_or_default();
    let shared = rooms.len().saturating_sub(others.sockets().len());
    // …and the socket's own rooms nobody else is in.
    let own_only = own_rooms(socket)
        .iter()
        .filter(|mine| !rooms.iter().any(|r| r == mine.as_str()))
        .count();
    shared + own_only
}

async fn relay<A: NodeAdapter>(
    socket: &SocketRef<A>,
    io: &SocketIo<A>,
    policy: &RelayPolicy,
    req: RelayRequest,
) -> Result<RelayReply, Refusal> {
    validate_relay_event(&req.event)?;
    placeholders::refuse_forged(&req.args)?;
    let rooms = match Recipients::of(req.to.clone()) {
        Recipients::Nobody => {
            return Ok(RelayReply {
                acks: req.ack.then(Vec::new),
            });
        }
        Recipients::Rooms(rooms) => rooms,
        Recipients::Namespace => Vec::new(),
    };
    let joined = own_rooms(socket);
    for room in &rooms {
        validate_room(room)?;
        if !joined.contains(room) {
            return Err(Refusal::new(
                ErrorCode::NotInRoom,
                format!("join {room:?} before relaying to it"),
            ));
        }
    }
    let operators = match (rooms.is_empty(), req.include_self) {
        (false, false) => socket.to(rooms),
        (false, true) => socket.within(rooms),
        (true, false) => socket.broadcast(),
        (true, true) => io
            .of(socket.ns())
            .ok_or_else(|| Refusal::new(ErrorCode::Internal, "namespace is gone"))?,
    };
    let args = req.emit_args();
    if !req.ack {
        crate::backends::delivery::emit(operators, &req.event, &args)
            .await
            .map_err(|e| {
                tracing::warn!(sid = %socket.id, error = %e, "relay broadcast failed");
                Refusal::new(ErrorCode::Internal, "broadcast failed")
            })?;
        return Ok(RelayReply { acks: None });
    }
    let stream = operators
        .clone()
        .timeout(policy.ack_timeout)
        .emit_with_ack::<_, rmpv::Value>(&req.event, &args)
        .await
        .map_err(|e| {
            tracing::warn!(sid = %socket.id, error = %e, "relay broadcast with ack failed");
            Refusal::new(ErrorCode::Internal, "broadcast failed")
        })?;
    // A receiver's ack goes back to the sender: a forged placeholder in it is left out.
    let acks = stream
        .filter_map(|(sid, result)| {
            let operators = operators.clone();
            async move {
                crate::backends::delivery::answer_or_cut(&operators, sid, result)
                    .filter(|a| !placeholders::forged_in(a))
            }
        })
        .collect::<Vec<_>>()
        .await;
    Ok(RelayReply { acks: Some(acks) })
}
