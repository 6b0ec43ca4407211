//! `GET /sse/notifications`: the same notifications as a Server-Sent Events
//! stream, for consumers that do not speak Socket.IO (`EventSource`, `curl -N`).
//!
//! The same rules as a `/notifications` connect: a token (`Authorization:
//! Bearer` or `?token=`) or, where the namespace takes guests, `?name=`;
//! topics (`?topics=a,b`) checked against `--notify-topics`; the connection
//! limits and origin policy of the Socket.IO endpoint (applied by the router's
//! layers, which count this path as a connection). Each event's `id:` is the
//! stream's cursor, so `Last-Event-ID` (or `?lastEventId=`) on reconnect
//! resumes through the hub's catch-up exactly like `auth.since`. The stream
//! ends at the token's expiry, on shutdown, or when the client cannot keep up
//! (it then resumes from its last id).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Notifications, allowed_topic};
use crate::backends::notifier::hub::{Feed, Sink};
use crate::protocol::error::HttpRefusal;
use crate::protocol::notifications::{
    Cursor, NAMESPACE, SSE_PATH, decode_cursor, encode_cursor, topic_room, user_room,
};
use crate::protocol::user::{GuestAuth, User};
use crate::protocol::{ErrorCode, Refusal};
use crate::security::auth::{self, Admission, AuthGate};
use crate::security::identity;
use crate::security::limits::connections::ConnectionPermit;
use crate::socket::NodeAdapter;

/// What the SSE route needs.
pub struct SseRoute<A: NodeAdapter> {
    /// The namespace's settings and hub.
    pub app: Arc<Notifications<A>>,
    /// Token checks, as for a connect.
    pub gate: Arc<AuthGate>,
    /// Heartbeat comment interval.
    pub heartbeat: Duration,
    /// Cancelled when the node drains: streams end so clients move on.
    pub stop: CancellationToken,
}

/// The route `GET /sse/notifications`.
pub fn routes<A: NodeAdapter>(route: SseRoute<A>) -> Router {
    Router::new()
        .route(SSE_PATH, get(open::<A>))
        .with_state(Arc::new(route))
}

#[derive(Debug, Default, Deserialize)]
struct Params {
    #[serde(default)]
    topics: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "lastEventId")]
    last_event_id: Option<String>,
}

fn refused(refusal: Refusal) -> HttpRefusal {
    HttpRefusal::api(refusal.code, refusal.message)
}

/// The user a request stands for, by the rules of a `/notifications` connect.
fn identify(
    gate: &AuthGate,
    headers: &HeaderMap,
    query: &str,
    name: Option<String>,
) -> Result<(User, Option<u64>), HttpRefusal> {
    let token = auth::bearer_token(headers)
        .map(str::to_owned)
        .or_else(|| auth::token_from_query(query));
    match gate
        .admit(NAMESPACE, Ok(token))
        .map_err(|e| refused(e.into()))?
    {
        Admission::User(grant) => Ok((grant.user, Some(grant.expires_at))),
        Admission::Guest => identity::guest(&GuestAuth { name })
            .map(|user| (user, None))
            .map_err(refused),
    }
}

async fn open<A: NodeAdapter>(
    State(route): State<Arc<SseRoute<A>>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    permit: Option<Extension<ConnectionPermit>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, HttpRefusal> {
    let (user, expires_at) = identify(
        &route.gate,
        &headers,
        uri.query().unwrap_or_default(),
        params.name,
    )?;
    let config = &route.app.config;
    let mut topics: Vec<String> = params
        .topics
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    topics.sort();
    topics.dedup();
    if topics.len() > config.max_topics_per_socket {
        return Err(HttpRefusal::api(
            ErrorCode::TooManyRooms,
            format!("at most {} topics per stream", config.max_topics_per_socket),
        ));
    }
    for topic in &topics {
        allowed_topic(config, topic).map_err(refused)?;
    }
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(params.last_event_id);
    let since: Option<Cursor> = match last.as_deref() {
        Some(id) => Some(decode_cursor(id).map_err(|e| {
            HttpRefusal::api(ErrorCode::InvalidCursor, format!("Last-Event-ID: {e}"))
        })?),
        None => None,
    };
    let mut streams = vec![user_room(&user.id)];
    streams.extend(topics.iter().map(|t| topic_room(t)));
    let wanted: Vec<(String, Option<u64>)> = streams
        .into_iter()
        .map(|s| {
            let position = since.as_ref().map(|c| c.get(&s).copied().unwrap_or(0));
            (s, position)
        })
        .collect();
    // Room for a whole catch-up, so a client that is merely behind is not cut.
    let capacity = (wanted.len() * config.notify_history_size).saturating_add(256);
    let (tx, rx) = mpsc::channel(capacity);
    let hub = route.app.hub.clone();
    let id = hub.sse_id();
    hub.open_sse();
    let closer = Closer {
        hub: hub.clone(),
        id,
        _permit: permit.map(|Extension(p)| p),
    };
    let reply = hub
        .catch_up(&Sink::Sse(id, tx.clone()), &user.id, &wanted)
        .await;
    // Ready comes after the caught-up notifications; a full channel here means
    // the stream was cut already and its end tells the client to resume.
    let _ = tx.try_send(Feed::Ready(reply));
    drop(tx);
    tracing::debug!(user = %user.id, sse = id, "SSE stream opened");
    let mut cursor = since.unwrap_or_default();
    let feed = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let events = feed.map(move |item| {
        let _keep = &closer;
        Ok(event(&mut cursor, item))
    });
    let stop = route.stop.clone();
    let expiry = async move {
        match expires_at {
            Some(at) => {
                let left = at.saturating_sub(jsonwebtoken::get_current_timestamp());
                tokio::time::sleep(Duration::from_secs(left)).await;
            }
            None => std::future::pending().await,
        }
    };
    let ends = async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = expiry => {}
        }
    };
    let events = events.take_until(Box::pin(ends));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(route.heartbeat)))
}

/// One SSE event; its id is the cursor after it.
fn event(cursor: &mut Cursor, item: Feed) -> Event {
    let (name, data, positions) = match &item {
        Feed::Notification(n) => ("notification", serde_json::to_string(&**n), &n.positions),
        Feed::Ready(reply) => ("ready", serde_json::to_string(reply), &reply.positions),
    };
    for (stream, position) in positions {
        let p = cursor.entry(stream.clone()).or_insert(0);
        *p = (*p).max(*position);
    }
    Event::default()
        .event(name)
        .id(encode_cursor(cursor))
        .data(data.unwrap_or_default())
}

/// Closes the stream's hub entry (and gives back its connection permit) when
/// the response body is dropped: client gone, node draining or token expired.
struct Closer<A: NodeAdapter> {
    hub: Arc<crate::backends::notifier::hub::Hub<A>>,
    id: u64,
    _permit: Option<ConnectionPermit>,
}

impl<A: NodeAdapter> Drop for Closer<A> {
    fn drop(&mut self) {
        let hub = self.hub.clone();
        let id = self.id;
        tokio::spawn(async move { hub.close_sse(id).await });
    }
}
