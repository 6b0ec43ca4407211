//! What a backend's answers do to sockets: the connect hook decides on a
//! connection, a forwarded event's answer becomes an ack, emits and room
//! changes, and a disconnect is told to the backend.

use std::sync::Arc;

use socketioxide::extract::{AckSender, Event, SocketRef};
use socketioxide::socket::DisconnectReason;

use super::first_packets::{Answer, HookAnswer};
use super::steps::{self, Sender};
use super::wire::{ConnectRequest, ForwardReply, ForwardedEvent};
use super::{BackendFailure, FORWARDED_HEADERS, Forwarder};
use crate::backends::connection_rooms;
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

fn sender_of<A: NodeAdapter>(socket: &SocketRef<A>) -> Sender {
    Sender {
        namespace: socket.ns().to_owned(),
        sid: socket.id.to_string(),
    }
}

fn invalid(e: impl std::fmt::Display) -> BackendFailure {
    BackendFailure::Error(format!("invalid backend answer: {e}"))
}

/// An answer that would join someone of the sender's namespace into another
/// socket's id room is invalid ([`connection_rooms`]).
async fn refuse_connection_rooms<A: NodeAdapter>(
    socket: &SocketRef<A>,
    join: &[String],
    steps: &[steps::Step],
) -> Result<(), BackendFailure> {
    let sender = (socket.ns(), socket.id.as_str());
    connection_rooms::refuse_in_answer(&socket.broadcast(), sender, join, steps)
        .await
        .map_err(invalid)
}

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

    /// Applies a backend answer: the sender's rooms first (so emits see them),
    /// then emits, then ops in order, and returns the ack. Everything is
    /// checked before anything is applied.
    async fn apply<A: NodeAdapter>(
        &self,
        socket: &SocketRef<A>,
        reply: ForwardReply,
    ) -> Result<EventArgs, BackendFailure> {
        let ack = reply
            .ack
            .unwrap_or_default()
            .into_iter()
            .map(to_socket_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        placeholders::refuse_forged(&ack).map_err(|e| invalid(e.message))?;
        let steps = steps::resolve(reply.emit, reply.ops, &sender_of(socket)).map_err(invalid)?;
        refuse_connection_rooms(socket, &reply.join, &steps).await?;
        if !reply.join.is_empty() {
            socket.join(reply.join);
        }
        if !reply.leave.is_empty() {
            socket.leave(reply.leave);
        }
        steps::run(self.publisher.as_ref(), steps)
            .await
            .map_err(invalid)?;
        Ok(EventArgs(ack))
    }
}

/// Connect middleware of a generic namespace: asks its connect hook, if any.
pub async fn connect_hook<A: NodeAdapter>(
    forwarder: Option<Arc<Forwarder>>,
    socket: SocketRef<A>,
    auth: Option<serde_json::Value>,
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
    // Queue operations on this socket sent while the hook runs wait for its answer.
    let pending = forwarder.pending.begin(socket.ns(), socket.id.as_str());
    let decided = forwarder.decide(url, &request).await.and_then(|accepted| {
        let steps = steps::resolve(accepted.emit, accepted.ops, &sender_of(&socket))
            .map_err(|e| Refusal::from(invalid(e)))?;
        Ok((accepted.user, accepted.join, steps))
    });
    let decided = match decided {
        Ok((user, join, steps)) => refuse_connection_rooms(&socket, &join, &steps)
            .await
            .map(|()| (user, join, steps))
            .map_err(Refusal::from),
        Err(refusal) => Err(refusal),
    };
    match decided {
        Ok((user, join, steps)) => {
            if let Some(user) = user {
                socket.extensions.insert(BackendUser(user));
            }
            socket.extensions.insert(HookAnswer::new(Answer {
                join,
                steps,
                pending,
            }));
            Ok(())
        }
        Err(refusal) => {
            tracing::info!(sid = %socket.id, ns = socket.ns(), refused = refusal.code.as_str(), refusal = %refusal, "connect hook refused a connection");
            Err(refusal)
        }
    }
}

/// Tells the backend that a socket left, as Flask's `@socketio.on("disconnect")`
/// handler learnt it: event `disconnect`, args `[reason]`. Its emits and ops are
/// applied (e.g. "user left" to a room) but those about the gone socket alone:
/// its room changes and the ack are meaningless, and joining now would leave
/// it in rooms forever.
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
                let sender = sender_of(&socket);
                match steps::resolve(reply.emit, reply.ops, &sender) {
                    Ok(steps) => {
                        let others = steps.into_iter().filter(|s| !s.only_for(&sender)).collect();
                        steps::run(forwarder.publisher.as_ref(), others)
                            .await
                            .map_err(invalid)
                    }
                    Err(e) => Err(invalid(e)),
                }
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

/// Forwards the socket's events that no built-in handler takes, if its
/// namespace forwards (the connect hook's rooms are joined by
/// [`super::DeliverHookAnswer`], once the socket is connected).
pub fn attach<A: NodeAdapter>(socket: &SocketRef<A>, forwarder: Option<Arc<Forwarder>>) {
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
            // Queue operations on this socket sent meanwhile wait until the answer
            // is applied and acknowledged (the guard lives to the end of the handler).
            let _pending = forwarder.pending.begin(s.ns(), s.id.as_str());
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
}
