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
//!
//! An answer's emits, room changes, `close_room` and `disconnect` are applied
//! in the order the handler issued them ([`steps`]), and Flask queue operations
//! on the socket sent while its request runs wait for the answer
//! ([`crate::backends::pending_answers`]). With `--forward-secret`, every
//! request carries `X-Iorelay-Secret` so the backend can refuse calls that did
//! not come from iorelay.
//!
//! Layout: [`wire`] holds what goes to and comes from a backend, this module the
//! client that asks it, [`steps`] an answer's effects in order, [`glue`] what
//! answers do to sockets (connect hook, event forwarding, disconnect notice),
//! [`first_packets`] the connect hook's answer, delivered right after CONNECT.

pub mod first_packets;
pub mod glue;
pub mod steps;
pub mod wire;

pub use first_packets::DeliverHookAnswer;
pub use glue::{attach, connect_hook, on_disconnect};

use crate::protocol::namespace_pattern::NamespaceTable;
use std::sync::Arc;

use serde::Serialize;
use url::Url;

use crate::backends::pending_answers::PendingAnswers;
use crate::backends::publisher::Publisher;
use crate::config::{ForwardingConfig, NamespaceUrl};
use crate::protocol::{ErrorCode, Refusal};
use wire::{ConnectReply, ConnectRequest};

/// Header that carries `--forward-secret` on every backend request.
pub const SECRET_HEADER: &str = "x-iorelay-secret";

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
    events: NamespaceTable<Url>,
    connects: NamespaceTable<Url>,
    secret: Option<String>,
    publisher: Arc<dyn Publisher>,
    pending: Arc<PendingAnswers>,
}

impl Forwarder {
    /// The forwarder of `config`, or `None` when no namespace forwards anything.
    pub fn new(
        config: &ForwardingConfig,
        publisher: Arc<dyn Publisher>,
        pending: Arc<PendingAnswers>,
    ) -> Option<Arc<Self>> {
        let by_namespace = |routes: &[NamespaceUrl]| {
            NamespaceTable::new(
                routes
                    .iter()
                    .map(|route| (route.namespace.clone(), route.url.clone())),
            )
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
            secret: config.forward_secret.clone(),
            publisher,
            pending,
        }))
    }

    /// Whether client events of `namespace` are forwarded.
    pub fn forwards_events(&self, namespace: &str) -> bool {
        self.events.get(namespace).is_some()
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
        let mut request = self.client.post(url.clone()).json(body);
        if let Some(secret) = &self.secret {
            request = request.header(SECRET_HEADER, secret);
        }
        let response = request
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
