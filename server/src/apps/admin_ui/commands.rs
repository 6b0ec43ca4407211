//! What the Admin UI may do to sockets: emit, join, leave, disconnect.
//!
//! The UI sends positional arguments (`emit(nsp, filter, event, ...args)`,
//! `join(nsp, room, filter)`, `leave(nsp, room, filter)`,
//! `_disconnect(nsp, close, filter)`); `filter` is a room or a socket id
//! (every socket is in its id room), or empty for the whole namespace. Each
//! acts on the whole cluster through the adapter. A malformed command is
//! logged and ignored: the UI expects no answer.

use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::operators::BroadcastOperators;

use crate::backends::delivery;
use crate::ops::admin_feed;
use crate::protocol::admin_ui::{DISCONNECT, EMIT, JOIN, LEAVE};
use crate::protocol::event_args::EventArgs;
use crate::protocol::{placeholders, validate_relay_event, validate_room};
use crate::socket::{NodeAdapter, guard};

/// Why a command was not carried out (logged, never sent).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// An argument is missing or of the wrong type.
    #[error("argument {0} is missing or not a {1}")]
    Argument(usize, &'static str),
    /// The namespace is not served.
    #[error("no namespace {0:?}")]
    UnknownNamespace(String),
    /// A room, event or argument iorelay refuses from anyone.
    #[error("{0}")]
    Refused(String),
    /// The cluster could not carry it out.
    #[error("the adapter failed: {0}")]
    Adapter(String),
}

/// Registers the command handlers on an admin socket.
pub fn attach<A: NodeAdapter>(socket: &SocketRef<A>, io: &SocketIo<A>) {
    for (event, command) in [
        (EMIT, Command::Emit),
        (JOIN, Command::Join),
        (LEAVE, Command::Leave),
        (DISCONNECT, Command::Disconnect),
    ] {
        let io = io.clone();
        guard::on(
            socket,
            event,
            async move |s: SocketRef<A>, TryData(args): TryData<EventArgs>| {
                let result = match args {
                    Ok(args) => run(&io, command, args).await,
                    Err(_) => Err(CommandError::Argument(0, "list of arguments")),
                };
                match result {
                    Ok(()) => {
                        tracing::info!(admin = %s.id, command = ?command, "admin UI command carried out")
                    }
                    Err(e) => {
                        tracing::warn!(admin = %s.id, command = ?command, error = %e, "admin UI command ignored")
                    }
                }
            },
        );
    }
}

/// The four commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `emit(nsp, filter, event, ...args)`.
    Emit,
    /// `join(nsp, room, filter)`.
    Join,
    /// `leave(nsp, room, filter)`.
    Leave,
    /// `_disconnect(nsp, close, filter)`.
    Disconnect,
}

/// Positional arguments, read with their index in errors.
struct Positional(Vec<rmpv::Value>);

impl Positional {
    fn text(&self, i: usize) -> Result<&str, CommandError> {
        self.0
            .get(i)
            .and_then(rmpv::Value::as_str)
            .ok_or(CommandError::Argument(i, "string"))
    }

    /// A filter: absent, null, `""` or a string.
    fn filter(&self, i: usize) -> Result<Option<&str>, CommandError> {
        match self.0.get(i) {
            None | Some(rmpv::Value::Nil) => Ok(None),
            Some(value) => match value.as_str() {
                Some("") => Ok(None),
                Some(filter) => Ok(Some(filter)),
                None => Err(CommandError::Argument(i, "string or null")),
            },
        }
    }
}

/// Carries out `command` with the UI's `args`.
pub async fn run<A: NodeAdapter>(
    io: &SocketIo<A>,
    command: Command,
    args: EventArgs,
) -> Result<(), CommandError> {
    let args = Positional(args.0);
    let nsp = args.text(0)?;
    let all = io
        .of(nsp)
        .ok_or_else(|| CommandError::UnknownNamespace(nsp.to_owned()))?;
    let refused = |r: crate::protocol::Refusal| CommandError::Refused(r.to_string());
    match command {
        Command::Emit => {
            let filter = args.filter(1)?;
            let event = args.text(2)?;
            validate_relay_event(event).map_err(refused)?;
            let rest = EventArgs(args.0.get(3..).unwrap_or_default().to_vec());
            placeholders::refuse_forged(&rest.0).map_err(refused)?;
            let target = select(all, filter);
            let reached = mirrored_ids(&target).await;
            delivery::emit(target, event, &rest)
                .await
                .map_err(|e| CommandError::Adapter(e.to_string()))?;
            if !reached.is_empty() {
                let shown: Vec<serde_json::Value> = rest
                    .0
                    .iter()
                    .map(|arg| serde_json::to_value(arg).unwrap_or(serde_json::Value::Null))
                    .collect();
                admin_feed::event_sent(nsp, &reached, event, &shown);
            }
            Ok(())
        }
        Command::Join | Command::Leave => {
            let room = args.text(1)?;
            validate_room(room).map_err(refused)?;
            let target = select(all, args.filter(2)?);
            let moved = mirrored_ids(&target).await;
            let done = if command == Command::Join {
                target.join(room.to_owned()).await
            } else {
                target.leave(room.to_owned()).await
            };
            done.map_err(|e| CommandError::Adapter(e.to_string()))?;
            for id in moved {
                if command == Command::Join {
                    admin_feed::room_joined(nsp, room, &id);
                } else {
                    admin_feed::room_left(nsp, room, &id);
                }
            }
            Ok(())
        }
        Command::Disconnect => {
            // `close` (the whole connection) is read but the namespace is what
            // is left: another node's transport cannot be closed through the adapter.
            if !matches!(args.0.get(1), None | Some(rmpv::Value::Boolean(_))) {
                return Err(CommandError::Argument(1, "boolean"));
            }
            select(all, args.filter(2)?)
                .disconnect()
                .await
                .map_err(|e| CommandError::Adapter(e.to_string()))
        }
    }
}

fn select<A: NodeAdapter>(
    all: BroadcastOperators<A>,
    filter: Option<&str>,
) -> BroadcastOperators<A> {
    match filter {
        Some(filter) => all.within(filter.to_owned()),
        None => all,
    }
}

/// The ids a command reaches, cluster-wide, when development mode mirrors it.
async fn mirrored_ids<A: NodeAdapter>(target: &BroadcastOperators<A>) -> Vec<String> {
    if !admin_feed::is_on() {
        return Vec::new();
    }
    match target.clone().fetch_sockets().await {
        Ok(sockets) => sockets.iter().map(|s| s.data().id.to_string()).collect(),
        Err(e) => {
            tracing::debug!(error = %e, "cannot list the sockets an admin command moves");
            Vec::new()
        }
    }
}
