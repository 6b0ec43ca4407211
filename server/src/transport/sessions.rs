//! Engine.IO sessions as the HTTP layer sees them: who may continue one, and
//! what a session that cannot keep up is told.
//!
//! Every engine request passes [`guard`]:
//! - A request that continues a session must present the id its handshake
//!   gave ([`session_ids`]); anything else is answered like an unknown session
//!   (400, Engine.IO code 1) and never reaches the engine.
//! - A handshake gets a [`SessionState`] in its extensions; socketioxide keeps
//!   the handshake's request parts for the session's life, so the state lives
//!   exactly as long as the session and every socket of it can reach it.
//! - A connection that carries an Engine.IO WebSocket switches to the
//!   slow-consumer policy of [`crate::transport::conn`]: a bounded backlog,
//!   cut past the bound.
//! - Polling sessions are tracked while they poll: a long-polling client that
//!   is not polling when a broadcast finds its queue full is closed
//!   ([`cut_full_polling_sockets`]) and reconnects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use socketioxide::TransportType;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use tower::ServiceExt;

use crate::ops::metrics;
use crate::protocol::engine_io;
use crate::transport::conn::{ConnHandle, CutReason, WeakConnHandle};
use crate::transport::session_ids::{self, SessionKey};

/// Engine.IO's answer to a request for a session it does not know.
const UNKNOWN_SESSION: &str = r#"{"code":"1","message":"Session ID unknown"}"#;

/// How many registrations pass between two sweeps of ended sessions.
const SWEEP_EVERY: u64 = 256;

/// Marks the node's own requests to the engine (clients cannot set extensions).
#[derive(Clone, Copy)]
struct InternalClose;

/// The sessions of one node, as the HTTP layer knows them.
pub struct Sessions {
    key: SessionKey,
    engine_path: String,
    max_queued_bytes: usize,
    no_upgrades: bool,
    // A std lock: held for a map update, never across an await.
    polling: Mutex<HashMap<String, Weak<SessionState>>>,
    registrations: AtomicU64,
    /// The node's router: the one engine instance sessions live in.
    router: OnceLock<Router>,
}

/// What the HTTP layer knows of one Engine.IO session.
pub struct SessionState {
    sessions: Arc<Sessions>,
    sid: OnceLock<String>,
    eio: u8,
    polls_in_flight: AtomicU32,
    /// When the session's last poll ended, in ms since `born` (its handshake counts).
    last_poll_end_ms: AtomicU64,
    born: Instant,
    cut: OnceLock<CutReason>,
    /// The connection carrying the session once it is a WebSocket.
    websocket: OnceLock<WeakConnHandle>,
}

impl Sessions {
    /// Sessions of the endpoint at `engine_path`; WebSocket backlogs bounded to
    /// `max_queued_bytes`; `no_upgrades` removes the upgrade offer (polling only).
    pub fn new(
        engine_path: &str,
        max_queued_bytes: usize,
        no_upgrades: bool,
    ) -> Result<Arc<Self>, ring::error::Unspecified> {
        Ok(Arc::new(Self {
            key: SessionKey::generate()?,
            engine_path: engine_path.to_owned(),
            max_queued_bytes,
            no_upgrades,
            polling: Mutex::default(),
            registrations: AtomicU64::new(0),
            router: OnceLock::new(),
        }))
    }

    /// Sets the router whose engine the sessions live in (socketioxide makes one
    /// engine per service it builds, so closes must go through the same router).
    pub fn set_router(&self, router: Router) {
        let _ = self.router.set(router);
    }

    /// Makes the engine close session `sid` (Engine.IO `eio`), as the client's
    /// own close packet over polling would.
    fn close(&self, sid: &str, eio: u8) -> BoxFuture<'static, ()> {
        let body = if eio == 3 { "1:1" } else { "1" };
        let path = self.engine_path.trim_end_matches('/');
        let client_id = self.key.client_id(sid);
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!(
                "{path}/?EIO={eio}&transport=polling&sid={client_id}"
            ))
            .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
            .extension(InternalClose)
            .body(Body::from(body));
        let router = self.router.get().cloned();
        Box::pin(async move {
            if let (Some(router), Ok(request)) = (router, request) {
                let _ = router.oneshot(request).await;
            }
        })
    }

    /// Closes every polling session of the node (shutdown): socketioxide's own
    /// drain closes only sessions that are in a namespace, and a long-poll of any
    /// other would hold the drain until its deadline.
    pub async fn close_polling_sessions(&self) {
        let live: Vec<Arc<SessionState>> = match self.polling.lock() {
            Ok(polling) => polling.values().filter_map(Weak::upgrade).collect(),
            Err(_) => return,
        };
        tracing::debug!(sessions = live.len(), "closing polling sessions");
        let closes = live
            .iter()
            .filter_map(|state| Some(self.close(state.sid()?, state.eio)));
        futures_util::future::join_all(closes).await;
    }

    fn register(&self, sid: &str, state: &Arc<SessionState>) {
        let Ok(mut polling) = self.polling.lock() else {
            return;
        };
        if self
            .registrations
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            polling.retain(|_, state| state.strong_count() > 0);
        }
        polling.insert(sid.to_owned(), Arc::downgrade(state));
    }

    fn lookup(&self, sid: &str) -> Option<Arc<SessionState>> {
        let polling = self.polling.lock().ok()?;
        polling.get(sid).and_then(Weak::upgrade)
    }

    fn new_state(self: &Arc<Self>, eio: u8) -> Arc<SessionState> {
        Arc::new(SessionState {
            sessions: self.clone(),
            sid: OnceLock::new(),
            eio,
            polls_in_flight: AtomicU32::new(0),
            last_poll_end_ms: AtomicU64::new(0),
            born: Instant::now(),
            cut: OnceLock::new(),
            websocket: OnceLock::new(),
        })
    }
}

impl SessionState {
    /// The session's engine sid, once known.
    pub fn sid(&self) -> Option<&str> {
        self.sid.get().map(String::as_str)
    }

    /// Names the session (first name wins); WebSocket sessions learn it on connect.
    pub fn set_sid(&self, sid: &str) {
        let _ = self.sid.set(sid.to_owned());
    }

    /// Why the server cut the session, if it did.
    pub fn cut_reason(&self) -> Option<CutReason> {
        self.cut.get().copied()
    }

    /// Whether a long-poll of the session is waiting now.
    pub fn polling_now(&self) -> bool {
        self.polls_in_flight.load(Ordering::Acquire) > 0
    }

    /// Whether the session is between a WebSocket upgrade's 101 and its completion.
    fn upgrading(&self) -> bool {
        self.websocket.get().is_some()
    }

    /// How long since the session's last poll ended (zero while one is waiting).
    pub fn not_polling_for(&self) -> Duration {
        if self.polling_now() {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_poll_end_ms.load(Ordering::Acquire));
        self.born.elapsed().saturating_sub(last)
    }

    fn mark_cut(&self, reason: CutReason) -> bool {
        self.cut.set(reason).is_ok()
    }

    /// Closes a polling session that cannot keep up.
    fn cut_polling(self: &Arc<Self>) {
        let Some(sid) = self.sid().map(str::to_owned) else {
            return;
        };
        if !self.mark_cut(CutReason::SlowConsumer) {
            return;
        }
        metrics::slow_consumer_disconnect("polling");
        tracing::warn!(
            sid,
            transport = "polling",
            "slow consumer: its queue is full and it is not polling; closing the session"
        );
        if let Some(conn) = self.websocket.get().and_then(WeakConnHandle::upgrade) {
            conn.cut(CutReason::SlowConsumer);
        }
        tokio::spawn(self.sessions.close(&sid, self.eio));
    }
}

/// The state of the session a socket belongs to.
pub fn state_of<A: Adapter>(socket: &SocketRef<A>) -> Option<Arc<SessionState>> {
    socket
        .req_parts()
        .extensions
        .get::<Arc<SessionState>>()
        .cloned()
}

/// After a broadcast found `full` recipients' queues full: closes that many
/// long-polling recipients, most likely full first. A waiting poll empties its
/// queue at once, so a full queue belongs to a session that is upgrading (the
/// engine answers its polls with a no-op and holds its queue until the
/// WebSocket takes over, or the upgrade times out) or that is not polling; it
/// takes `--max-buffer-size` packets of not polling to fill one, so healthy
/// clients between two polls come last. Returns how many were closed.
pub fn cut_full_polling_sockets<A: Adapter>(recipients: &[SocketRef<A>], full: usize) -> usize {
    let polling: Vec<Arc<SessionState>> = recipients
        .iter()
        .filter(|socket| socket.transport_type() == TransportType::Polling)
        .filter_map(state_of)
        .collect();
    // Sessions cut already stay full until the engine has closed them.
    let already = polling.iter().filter(|s| s.cut_reason().is_some()).count();
    let mut candidates: Vec<((bool, Duration), Arc<SessionState>)> = polling
        .into_iter()
        .filter(|state| state.cut_reason().is_none())
        .filter(|state| state.upgrading() || !state.polling_now())
        .map(|state| ((state.upgrading(), state.not_polling_for()), state))
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    let mut cut = 0;
    for (_, state) in candidates.into_iter().take(full.saturating_sub(already)) {
        state.cut_polling();
        cut += 1;
    }
    cut
}

/// A recipient a send found full (an acknowledged emit reports which one):
/// closed as a slow consumer, whatever its transport.
pub fn cut_full_socket<A: Adapter>(socket: &SocketRef<A>) {
    let Some(state) = state_of(socket) else {
        return;
    };
    if state.cut_reason().is_some() {
        return;
    }
    match state.websocket.get().and_then(WeakConnHandle::upgrade) {
        Some(conn) if socket.transport_type() == TransportType::Websocket => {
            conn.cut(CutReason::SlowConsumer);
        }
        _ => state.cut_polling(),
    }
}

/// Decrements a session's polls in flight when the poll ends, however it ends.
struct PollInFlight(Arc<SessionState>);

impl Drop for PollInFlight {
    fn drop(&mut self) {
        let state = &self.0;
        let now = u64::try_from(state.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        state.last_poll_end_ms.store(now, Ordering::Release);
        state.polls_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

fn unknown_session() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        UNKNOWN_SESSION,
    )
        .into_response()
}

fn with_query(uri: &Uri, query: &str) -> Option<Uri> {
    let path = uri.path();
    Uri::try_from(format!("{path}?{query}")).ok()
}

/// Whether the engine accepted a WebSocket (only then does the connection carry one).
fn switched(response: &Response) -> bool {
    response.status() == StatusCode::SWITCHING_PROTOCOLS
}

/// The connection now carries the session's WebSocket: bounded backlog, and a
/// cut that is counted and logged with the session it carried.
fn carry_websocket(sessions: &Sessions, handle: &ConnHandle, state: Option<Arc<SessionState>>) {
    let limit = sessions.max_queued_bytes;
    handle.carry_websocket(limit);
    let Some(state) = state else {
        return;
    };
    let _ = state.websocket.set(handle.downgrade());
    handle.on_cut(move |handle, reason, queued| {
        if !state.mark_cut(reason) {
            // Cut already (a polling session closed while upgrading): told once.
            return;
        }
        let sid = state.sid().or(handle.session());
        if reason == CutReason::SlowConsumer {
            metrics::slow_consumer_disconnect("websocket");
            tracing::warn!(
                sid,
                transport = "websocket",
                queued_bytes = queued,
                limit,
                "slow consumer: closing its connection"
            );
        } else {
            tracing::debug!(
                sid,
                cause = reason.as_str(),
                queued_bytes = queued,
                "WebSocket connection cut"
            );
        }
    });
}

/// Middleware in front of the engine (see the module doc).
pub async fn guard(sessions: Arc<Sessions>, mut request: Request<Body>, next: Next) -> Response {
    if !engine_io::is_engine_path(request.uri().path(), &sessions.engine_path) {
        return next.run(request).await;
    }
    let query = request.uri().query().unwrap_or_default().to_owned();
    let websocket = engine_io::query_param(&query, "transport") == Some("websocket");
    let eio = engine_io::query_param(&query, "EIO")
        .and_then(|v| v.parse::<u8>().ok())
        .unwrap_or(4);
    let handle = request
        .extensions()
        .get::<WeakConnHandle>()
        .and_then(WeakConnHandle::upgrade);

    let Some(client_id) = engine_io::query_sid(&query) else {
        // A handshake (or a request the engine refuses on its own).
        let state = sessions.new_state(eio);
        request.extensions_mut().insert(state.clone());
        if websocket {
            let response = next.run(request).await;
            if let Some(handle) = handle.filter(|_| switched(&response)) {
                carry_websocket(&sessions, &handle, Some(state));
            }
            return response;
        }
        let is_polling_open = request.method() == Method::GET;
        let response = next.run(request).await;
        if !is_polling_open || response.status() != StatusCode::OK {
            return response;
        }
        return finish_polling_handshake(&sessions, &state, response).await;
    };

    let Some(sid) = sessions.key.verify(client_id).map(str::to_owned) else {
        metrics::forged_session_id();
        return unknown_session();
    };
    let Some(uri) = with_query(request.uri(), &session_ids::with_sid(&query, &sid)) else {
        return unknown_session();
    };
    *request.uri_mut() = uri;
    let state = sessions.lookup(&sid);
    let internal = request.extensions().get::<InternalClose>().is_some();
    if !internal && state.as_ref().is_some_and(|s| s.cut_reason().is_some()) {
        // Closed as a slow consumer: from now on, as unknown as the engine will say.
        return unknown_session();
    }
    if websocket {
        let response = next.run(request).await;
        if let Some(handle) = handle.filter(|_| switched(&response)) {
            handle.set_session(&sid);
            carry_websocket(&sessions, &handle, state);
        }
        return response;
    }
    let _in_flight = match state {
        Some(state) if request.method() == Method::GET => {
            state.polls_in_flight.fetch_add(1, Ordering::AcqRel);
            Some(PollInFlight(state))
        }
        _ => None,
    };
    next.run(request).await
}

/// Gives the client its id in the handshake body and starts tracking the session.
async fn finish_polling_handshake(
    sessions: &Sessions,
    state: &Arc<SessionState>,
    response: Response,
) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "handshake too large").into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    let Some(sid) = session_ids::handshake_sid(&text).map(str::to_owned) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "handshake without a sid").into_response();
    };
    state.set_sid(&sid);
    sessions.register(&sid, state);
    let client_id = sessions.key.client_id(&sid);
    let body = session_ids::rewrite_handshake(&text, &sid, &client_id, sessions.no_upgrades);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
