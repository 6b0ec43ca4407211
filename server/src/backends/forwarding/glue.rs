//! What a backend's answers do to sockets: the connect hook decides on a
//! connection, a forwarded event's answer becomes an ack, emits and room
//! changes, and a disconnect is told to the backend.

use std::sync::Arc;

use socketioxide::extract::{AckSender, Event, SocketRef};
use socketioxide::socket::DisconnectReason;

use super::wire::{BackendEmit, ConnectRequest, ForwardReply, ForwardedEvent};
use super::{BackendFailure, FORWARDED_HEADERS, Forwarder};
use crate::backends::publisher::{EmitCommand, Scope};
use crate::protocol::binary_json::{to_json_value, to_socket_value};
use crate::protocol::event_args::EventArgs;
use crate::protocol::placeholders::{self, Checked};
use crate::protocol::{Done, Refusal};
use crate::socket::connect::user_of;
use crate::socket::{NodeAdapter, send_reply};
use url::Url;

/// What the connect hook said about a socket's user, kept in its extensions.
#[derive(Debug, Clone)]
struct BackendUser(serde_json::Value);

/// Rooms the connect hook put the socket in, joined once it is connected.
#[derive(Debug, Clone)]
struct ConnectRooms(Vec<String>);

impl Forwarder {
    /// Forwards one event; returns the backend's answer, not yet applied.
    async fn forward<A: NodeAdapter>(
        &self,
        socket: &SocketRef<A>,
        url: &Url,
        event: String,
        args: EventArgs,
    ) -> Result<ForwardReply, BackendFailure> {
        let user = socket
            .extensions
            .get::<BackendUser>()
            .map(|u| u.0)
            .or_else(|| user_of(socket).and_then(|u| serde_json::to_value(u).ok()))
            .unwrap_or(serde_json::Value::Null);
        let body = ForwardedEvent {
            sid: socket.id.to_string(),
            namespace: socket.ns().to_owned(),
            event,
            args: args.0.into_iter().map(to_json_value).collect(),
            user,
        };
        let (status, reply) = self.post::<_, ForwardReply>(url, &body).await?;
        if !status.is_success() {
            return Err(BackendFailure::Error(format!(
                "the backend answered {status}"
            )));
        }
        reply.ok_or_else(|| {
            BackendFailure::Error(
                "the backend answer is not a JSON object of the documented shape".to_owned(),
            )
        })
    }

    /// Applies a backend answer: rooms first (so emits see them), then emits, then the ack.
    async fn apply<A: NodeAdapter>(
        &self,
        socket: &SocketRef<A>,
        reply: ForwardReply,
    ) -> Result<EventArgs, BackendFailure> {
        let invalid = |e: String| BackendFailure::Error(format!("invalid backend answer: {e}"));
        if !reply.join.is_empty() {
            socket.join(reply.join);
        }
        if !reply.leave.is_empty() {
            socket.leave(reply.leave);
        }
        let sid = socket.id.to_string();
        for emit in reply.emit {
            let (rooms, except) = targets(&emit, &sid);
            let args = emit
                .args
                .into_iter()
                .map(to_socket_value)
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?;
            let command = EmitCommand {
                namespace: socket.ns().to_owned(),
                event: emit.event,
                args: EventArgs(args),
                rooms,
                except,
                ack_timeout: None,
                scope: Scope::Cluster,
            };
            self.publisher
                .emit(command)
                .await
                .map_err(|e| invalid(e.to_string()))?;
        }
        let ack = reply
            .ack
            .unwrap_or_default()
            .into_iter()
            .map(to_socket_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        placeholders::refuse_forged(&ack).map_err(|e| invalid(e.message))?;
        Ok(EventArgs(ack))
    }
}

/// Rooms and exceptions of a backend emit, with Flask's `emit()` defaults:
/// no rooms = the sender alone (everyone with `broadcast`); `rooms: []` = nobody.
fn targets(emit: &BackendEmit, sid: &str) -> (Option<Vec<String>>, Vec<String>) {
    let rooms = match (&emit.rooms, emit.broadcast) {
        (Some(rooms), _) => Some(rooms.clone()),
        (None, true) => None,
        (None, false) => Some(vec![sid.to_owned()]),
    };
    let except = if emit.include_self {
        Vec::new()
    } else {
        vec![sid.to_owned()]
    };
    (rooms, except)
}

/// Connect middleware of a generic namespace: asks its connect hook, if any.
pub async fn connect_hook<A: NodeAdapter>(
    forwarder: Option<Arc<Forwarder>>,
    socket: SocketRef<A>,
    auth: Result<serde_json::Value, socketioxide::ParserError>,
) -> Result<(), Refusal> {
    let Some(forwarder) = forwarder else {
        return Ok(());
    };
    let Some(url) = forwarder.connects.get(socket.ns()) else {
        return Ok(());
    };
    let parts = socket.req_parts();
    let headers = FORWARDED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = parts.headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let request = ConnectRequest {
        sid: socket.id.to_string(),
        namespace: socket.ns().to_owned(),
        auth: auth.unwrap_or(serde_json::Value::Null),
        headers,
    };
    match forwarder.decide(url, &request).await {
        Ok(accepted) => {
            if let Some(user) = accepted.user {
                socket.extensions.insert(BackendUser(user));
            }
            if !accepted.join.is_empty() {
                socket.extensions.insert(ConnectRooms(accepted.join));
            }
            Ok(())
        }
        Err(refusal) => {
            tracing::info!(sid = %socket.id, ns = socket.ns(), refused = refusal.code.as_str(), refusal = %refusal, "connect hook refused a connection");
            Err(refusal)
        }
    }
}

/// Tells the backend that a socket left, as Flask's `@socketio.on("disconnect")`
/// handler learnt it: event `disconnect`, args `[reason]`. Its emits are applied
/// (e.g. "user left" to a room); room changes and the ack are meaningless for a
/// socket that is gone, and joining now would leave it in rooms forever.
pub fn on_disconnect<A: NodeAdapter>(
    socket: &SocketRef<A>,
    reason: &DisconnectReason,
    forwarder: Option<&Arc<Forwarder>>,
) {
    let Some(forwarder) = forwarder
        .filter(|f| f.forwards_events(socket.ns()))
        .cloned()
    else {
        return;
    };
    let socket = socket.clone();
    let args = EventArgs(vec![rmpv::Value::from(flask_reason(reason))]);
    tokio::spawn(async move {
        let Some(url) = forwarder.events.get(socket.ns()) else {
            return;
        };
        let result = match forwarder
            .forward(&socket, url, "disconnect".to_owned(), args)
            .await
        {
            Ok(reply) => {
                let emits_only = ForwardReply {
                    emit: reply.emit,
                    ..ForwardReply::default()
                };
                forwarder.apply(&socket, emits_only).await.map(drop)
            }
            Err(failure) => Err(failure),
        };
        if let Err(failure) = result {
            tracing::warn!(sid = %socket.id, ns = socket.ns(), cause = %failure, "forwarding a disconnect failed");
        }
    });
}

/// The reason as python-socketio names it (what a Flask disconnect handler gets).
fn flask_reason(reason: &DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::ClientNSDisconnect => "client disconnect",
        DisconnectReason::ServerNSDisconnect | DisconnectReason::ClosingServer => {
            "server disconnect"
        }
        DisconnectReason::HeartbeatTimeout => "ping timeout",
        DisconnectReason::TransportClose => "transport close",
        DisconnectReason::TransportError
        | DisconnectReason::MultipleHttpPollingError
        | DisconnectReason::PacketParsingError => "transport error",
    }
}

/// On connect: joins the rooms the connect hook gave, and forwards the
/// socket's events that no built-in handler takes, if its namespace forwards.
pub fn attach<A: NodeAdapter>(socket: &SocketRef<A>, forwarder: Option<Arc<Forwarder>>) {
    // Joined here, not in the hook: the socket is only in the namespace once connected.
    if let Some(ConnectRooms(rooms)) = socket.extensions.get::<ConnectRooms>() {
        socket.join(rooms);
    }
    let Some(forwarder) = forwarder.filter(|f| f.forwards_events(socket.ns())) else {
        return;
    };
    // Behind the event budget like every handler (this replaces the unknown-event fallback).
    socket.on_fallback(crate::socket::guard::guarded(
        async move |s: SocketRef<A>, Event(event): Event, Checked(args): Checked<EventArgs>, ack: AckSender<A>| {
            let Some(url) = forwarder.events.get(s.ns()) else {
                return;
            };
            // What the backend gets may come back in its answer: no forged placeholder goes.
            let checked = args.and_then(|args| placeholders::refuse_forged(&args.0).map(|()| args));
            let args = match checked {
                Ok(args) => args,
                Err(error) => {
                    send_reply::<A, Done>(ack, Err(error));
                    return;
                }
            };
            let answer = match forwarder.forward(&s, url, event.clone(), args).await {
                Ok(reply) => forwarder.apply(&s, reply).await,
                Err(failure) => Err(failure),
            };
            match answer {
                Ok(answer) => {
                    if let Err(e) = ack.send(&answer) {
                        tracing::debug!(error = %e, "cannot send acknowledgement");
                    }
                }
                Err(failure) => {
                    tracing::warn!(sid = %s.id, ns = s.ns(), event, cause = %failure, "event forwarding failed");
                    send_reply::<A, Done>(ack, Err(failure.into()));
                }
            }
        },
    ));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::backends::forwarding::refusal_of;
    use crate::backends::forwarding::wire::ConnectReply;

    #[test]
    fn refusals_carry_message_and_data() {
        let reply: ConnectReply = serde_json::from_value(
            json!({"ok": false, "message": "unauthorized!", "data": {"reason": "bad token"}}),
        )
        .expect("shape");
        assert_eq!(
            refusal_of(reply).to_string(),
            r#"connection_refused: unauthorized! data={"reason":"bad token"}"#
        );
        let bare: ConnectReply = serde_json::from_value(json!({"ok": false})).expect("shape");
        assert_eq!(
            refusal_of(bare).to_string(),
            "connection_refused: the backend refused the connection"
        );
    }

    #[test]
    fn emits_default_to_the_sender_like_flask() {
        let emit = |value: serde_json::Value| -> BackendEmit {
            serde_json::from_value(value).expect("shape")
        };
        assert_eq!(
            targets(&emit(json!({"event": "e"})), "s1"),
            (Some(vec!["s1".to_owned()]), vec![])
        );
        assert_eq!(
            targets(&emit(json!({"event": "e", "broadcast": true})), "s1"),
            (None, vec![])
        );
        assert_eq!(
            targets(
                &emit(json!({"event": "e", "rooms": ["a", "b"], "include_self": false})),
                "s1"
            ),
            (
                Some(vec!["a".to_owned(), "b".to_owned()]),
                vec!["s1".to_owned()]
            )
        );
        for nobody in [
            json!({"event": "e", "rooms": []}),
            json!({"event": "e", "rooms": [], "broadcast": true}),
        ] {
            assert_eq!(targets(&emit(nobody), "s1"), (Some(vec![]), vec![]));
        }
        let reply: ForwardReply = serde_json::from_value(json!({})).expect("all optional");
        assert!(reply.ack.is_none() && reply.emit.is_empty() && reply.join.is_empty());
    }
}
