//! Event forwarding: Flask-SocketIO handlers become plain HTTP routes.
//!
//! A Flask app's `@socketio.on('x')` handlers hold the business logic a
//! migration must keep. With `--forward-url NS=URL`, a client event that no
//! built-in handler takes is POSTed to the backend as JSON, and the backend's
//! answer is applied the way the handler's return value and its `emit`,
//! `join_room` and `leave_room` calls were: acknowledgement, emits, room
//! changes. With `--connect-url NS=URL`, the backend also decides on every
//! connection, like a connect handler that may raise `ConnectionRefusedError`.
//!
//! A slow or failing backend never leaves a client hanging: the event is
//! acknowledged with `{ok: false, error: {code: "backend_unavailable" |
//! "backend_error", message}}`, and a connection is refused with a code.
//!
//! Refusals reach the client as `connect_error` whose `message` is
//! `"<code>: <explanation>"` ([`Refusal`]): socketioxide sends no
//! `data` field in CONNECT_ERROR packets, so the backend's `message` becomes
//! the explanation and its `data`, when given, follows as ` data=<JSON>`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use socketioxide::extract::{AckSender, Event, SocketRef};
use socketioxide::socket::DisconnectReason;
use url::Url;

use crate::backends::api::payloads::{to_json_value, to_socket_value};
use crate::backends::publisher::{EmitCommand, Publisher, Scope};
use crate::config::{ForwardingConfig, NamespaceUrl};
use crate::protocol::event_args::EventArgs;
use crate::protocol::placeholders::{self, Checked};
use crate::protocol::{Done, ErrorCode, Refusal};
use crate::socket::connect::user_of;
use crate::socket::{NodeAdapter, send_reply};

/// Largest backend answer read, in bytes.
const MAX_REPLY_BYTES: usize = 1 << 20;

/// Request headers passed to the connect hook (what Flask's `request` would show).
const FORWARDED_HEADERS: [&str; 6] = [
    "authorization",
    "cookie",
    "origin",
    "user-agent",
    "x-forwarded-for",
    "x-request-id",
];

/// `POST forward_url` body: one client event.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardedEvent {
    /// Socket id of the sender (a room addressing it alone).
    pub sid: String,
    /// Namespace path.
    pub namespace: String,
    /// Event name.
    pub event: String,
    /// The event's arguments; bytes as `{"$binary": "<base64>"}`.
    pub args: Vec<serde_json::Value>,
    /// What the connect hook returned as `user`, else the identified user, else null.
    pub user: serde_json::Value,
}

/// The backend's answer to a forwarded event; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ForwardReply {
    /// Arguments of the acknowledgement (a handler's return value); none = an empty ack.
    #[serde(default)]
    pub ack: Option<Vec<serde_json::Value>>,
    /// Emits to make, in order, after the room changes.
    #[serde(default)]
    pub emit: Vec<BackendEmit>,
    /// Rooms the sender joins (`join_room`).
    #[serde(default)]
    pub join: Vec<String>,
    /// Rooms the sender leaves (`leave_room`).
    #[serde(default)]
    pub leave: Vec<String>,
}

/// One emit a backend asks for, with Flask-SocketIO's `emit()` defaults.
#[serde_with::serde_as]
#[derive(Debug, Clone, Deserialize)]
pub struct BackendEmit {
    /// Event name.
    pub event: String,
    /// Arguments; `{"$binary": "<base64>"}` = bytes.
    #[serde(default)]
    pub args: Vec<serde_json::Value>,
    /// Rooms or sids (Flask's `to=`); absent = the sender alone, unless `broadcast`.
    #[serde(default)]
    #[serde_as(as = "Option<serde_with::OneOrMany<_>>")]
    pub rooms: Option<Vec<String>>,
    /// Without `rooms`: everyone in the namespace.
    #[serde(default)]
    pub broadcast: bool,
    /// Whether the sender receives it too when it is in the target (Flask default: yes).
    #[serde(default = "yes")]
    pub include_self: bool,
}

fn yes() -> bool {
    true
}

/// `POST connect_url` body: a connection waiting for the backend's decision.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectRequest {
    /// Socket id the connection will have.
    pub sid: String,
    /// Namespace path.
    pub namespace: String,
    /// The handshake's `auth` payload (null when none).
    pub auth: serde_json::Value,
    /// A few request headers (cookie, authorization, origin, user agent, ...).
    pub headers: BTreeMap<String, String>,
}

/// The backend's decision on a connection.
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectReply {
    /// Accept (`true`) or refuse.
    pub ok: bool,
    /// Accepted: who the user is; sent with each forwarded event.
    #[serde(default)]
    pub user: Option<serde_json::Value>,
    /// Accepted: rooms the socket joins (`join_room` in a connect handler).
    #[serde(default)]
    pub join: Vec<String>,
    /// Refused: the explanation (`ConnectionRefusedError`'s first argument).
    #[serde(default)]
    pub message: Option<String>,
    /// Refused: extra data (`ConnectionRefusedError`'s second argument).
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// What the connect hook said about a socket's user, kept in its extensions.
#[derive(Debug, Clone)]
struct BackendUser(serde_json::Value);

/// Rooms the connect hook put the socket in, joined once it is connected.
#[derive(Debug, Clone)]
struct ConnectRooms(Vec<String>);

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendFailure {
    /// No answer in time, or no connection.
    #[error("{0}")]
    Unavailable(String),
    /// An answer that is not a success or not of the documented shape.
    #[error("{0}")]
    Error(String),
}

impl From<BackendFailure> for Refusal {
    fn from(failure: BackendFailure) -> Self {
        let code = match failure {
            BackendFailure::Unavailable(_) => ErrorCode::BackendUnavailable,
            BackendFailure::Error(_) => ErrorCode::BackendError,
        };
        Refusal::new(code, failure.to_string())
    }
}

/// The backends of each generic namespace and the client that reaches them.
pub struct Forwarder {
    client: reqwest::Client,
    timeout: std::time::Duration,
    events: HashMap<String, Url>,
    connects: HashMap<String, Url>,
    publisher: Arc<dyn Publisher>,
}

impl Forwarder {
    /// The forwarder of `config`, or `None` when no namespace forwards anything.
    pub fn new(config: &ForwardingConfig, publisher: Arc<dyn Publisher>) -> Option<Arc<Self>> {
        let by_namespace = |routes: &[NamespaceUrl]| -> HashMap<String, Url> {
            routes
                .iter()
                .map(|route| (route.namespace.clone(), route.url.clone()))
                .collect()
        };
        let events = by_namespace(&config.forward_url);
        let connects = by_namespace(&config.connect_url);
        if events.is_empty() && connects.is_empty() {
            return None;
        }
        let client = reqwest::Client::builder()
            .timeout(config.forward_timeout())
            .connect_timeout(config.forward_timeout())
            .build()
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot configure the backend client; using defaults");
                reqwest::Client::new()
            });
        Some(Arc::new(Self {
            client,
            timeout: config.forward_timeout(),
            events,
            connects,
            publisher,
        }))
    }

    /// Whether client events of `namespace` are forwarded.
    pub fn forwards_events(&self, namespace: &str) -> bool {
        self.events.contains_key(namespace)
    }

    /// POSTs `body`; the whole exchange, body included, is bounded by the forward timeout.
    async fn post<B: Serialize, R: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        body: &B,
    ) -> Result<(reqwest::StatusCode, Option<R>), BackendFailure> {
        tokio::time::timeout(self.timeout, self.exchange(url, body))
            .await
            .unwrap_or_else(|_| {
                Err(BackendFailure::Unavailable(format!(
                    "the backend did not answer within {} ms",
                    self.timeout.as_millis()
                )))
            })
    }

    async fn exchange<B: Serialize, R: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        body: &B,
    ) -> Result<(reqwest::StatusCode, Option<R>), BackendFailure> {
        let response = self
            .client
            .post(url.clone())
            .json(body)
            .send()
            .await
            .map_err(|e| BackendFailure::Unavailable(describe(&e)))?;
        let status = response.status();
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| BackendFailure::Unavailable(describe(&e)))?
        {
            if bytes.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(BackendFailure::Error(format!(
                    "the backend answer is larger than {MAX_REPLY_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, serde_json::from_slice(&bytes).ok()))
    }

    /// Asks the backend about a connection; `Ok` is its acceptance.
    async fn decide(&self, url: &Url, request: &ConnectRequest) -> Result<ConnectReply, Refusal> {
        let (status, reply) = self.post::<_, ConnectReply>(url, request).await?;
        match reply {
            Some(reply) if reply.ok && status.is_success() => Ok(reply),
            Some(reply) if !reply.ok => Err(refusal_of(reply)),
            _ => Err(BackendFailure::Error(format!(
                "the connect hook answered {status} without a JSON {{ok}} body"
            ))
            .into()),
        }
    }

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

/// What the client's `connect_error` says when the backend refuses:
/// `connection_refused: <message>[ data=<JSON>]`.
fn refusal_of(reply: ConnectReply) -> Refusal {
    let mut message = reply
        .message
        .unwrap_or_else(|| "the backend refused the connection".to_owned());
    if let Some(data) = reply.data.filter(|d| !d.is_null()) {
        message.push_str(" data=");
        message.push_str(&data.to_string());
    }
    Refusal::new(ErrorCode::ConnectionRefused, message)
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

/// The cause of a reqwest error, with its source (reqwest's own text is terse).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "the backend did not answer in time"
    } else if e.is_connect() {
        "cannot connect to the backend"
    } else {
        "the backend request failed"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{what}: {source}"),
        None => what.to_owned(),
    }
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
