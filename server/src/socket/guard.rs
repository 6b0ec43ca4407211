//! The per-socket guard: every event is charged to the connection's budget before any handler runs.
//!
//! socketioxide has no per-message middleware, so every handler is registered
//! through [`on`], which wraps it in [`Guarded`]: a [`MessageHandler`] that
//! spends a token of the connection's [`EventBudget`] (a token bucket from the
//! `governor` crate) before it extracts anything. Over the limit the event is
//! dropped (its ack never comes), the socket gets `error {code: "rate_limited",
//! message}` once per streak of drops, and a client that keeps flooding is
//! disconnected. Events no handler takes go
//! through [`drop_unknown`], so they cost the flooder too. The same wrapper
//! times every handler for the `iorelay_event_handling_seconds` histogram.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::handler::{FromMessage, FromMessageParts, MessageHandler};
use socketioxide::socket::Socket;
use socketioxide_core::Value;

use crate::ops::metrics::{self, EventOutcome};
use crate::ops::{activity, admin_feed};
use crate::protocol::error::ERROR_EVENT;
use crate::protocol::{ErrorCode, Refusal};
use crate::security::limits::budget::Verdict;
use crate::security::limits::connections::ConnectionPermit;
use crate::socket::ordering::EventQueue;

/// Tries to queue a flooder's disconnect (50 ms apart) before giving up.
const DISCONNECT_TRIES: usize = 100;

/// Spends a token for an event on `socket`; false when the event must be dropped
/// (the client has then been told, and disconnected if it kept flooding).
fn admit<A: Adapter>(socket: &Arc<Socket<A>>) -> bool {
    let Some(permit) = socket.req_parts().extensions.get::<ConnectionPermit>() else {
        return true;
    };
    let budget = permit.budget();
    let (notify, disconnect) = match budget.spend() {
        Verdict::Admit => return true,
        Verdict::Drop { notify } => (notify, false),
        Verdict::Disconnect => (false, true),
    };
    metrics::event_received(socket.ns(), EventOutcome::RateLimited);
    metrics::rate_limited("event_rate");
    // With the packet buffer full (the flooder does not read its answers) the
    // notice cannot be queued: the next dropped event tries again.
    if notify && tell(socket, "too many events: this one was dropped; slow down").is_err() {
        budget.renotify();
    }
    if disconnect && socket.connected() && socket.extensions.get::<Disconnecting>().is_none() {
        socket.extensions.insert(Disconnecting);
        disconnect_flooder(socket.clone());
    }
    false
}

/// Spends a token of the connection's budget for a namespace CONNECT; false when
/// the client is over its rate (the connect middleware then refuses it).
pub fn charge_connect<A: Adapter>(socket: &SocketRef<A>) -> bool {
    let verdict = socket
        .req_parts()
        .extensions
        .get::<ConnectionPermit>()
        .map_or(Verdict::Admit, |permit| permit.budget().spend());
    if verdict == Verdict::Admit {
        return true;
    }
    metrics::rate_limited("connect_rate");
    false
}

/// Disconnects a flooding socket; while its packet buffer is full (it is being
/// flooded with answers too) the disconnect cannot be queued, so it is retried
/// a bounded number of times.
fn disconnect_flooder<A: Adapter>(socket: Arc<Socket<A>>) {
    tokio::spawn(async move {
        for _ in 0..DISCONNECT_TRIES {
            if !socket.connected() {
                return;
            }
            // The notice first, then the disconnect, both in the socket's packet order.
            if tell(&socket, "too many events for too long: disconnected").is_ok() {
                match socket.clone().disconnect() {
                    Ok(()) => {
                        tracing::warn!(sid = %socket.id, ns = socket.ns(), "disconnected a socket that kept flooding");
                        metrics::flood_disconnect();
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(sid = %socket.id, error = %e, "cannot disconnect a flooding socket yet")
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

/// Marks a socket whose flood disconnect is under way (one task per socket).
#[derive(Debug, Clone, Copy)]
struct Disconnecting;

/// Sends the `error {code: "rate_limited", message}` notice.
fn tell<A: Adapter>(socket: &Arc<Socket<A>>, message: &str) -> Result<(), ()> {
    socket
        .emit(ERROR_EVENT, &Refusal::new(ErrorCode::RateLimited, message))
        .map_err(|_| ())
}

/// A handler behind the event budget; build it with [`guarded`] or register with [`on`].
#[derive(Clone)]
pub struct Guarded<F> {
    handler: F,
}

/// Wraps `handler` so it runs only within the connection's event budget.
pub fn guarded<F>(handler: F) -> Guarded<F> {
    Guarded { handler }
}

/// Registers `handler` for `event` on `socket`, behind the event budget.
pub fn on<A, H, T>(socket: &SocketRef<A>, event: impl Into<Cow<'static, str>>, handler: H)
where
    A: Adapter,
    Guarded<H>: MessageHandler<A, T>,
    T: Send + Sync + 'static,
{
    socket.on(event, guarded(handler));
}

/// Marker of [`Guarded`] handler impls (keeps them apart from socketioxide's own).
#[derive(Debug, Clone, Copy)]
pub struct ViaGuard;

/// Counts an admitted event for the Admin UI and mirrors it in development mode.
fn observe<A: Adapter>(socket: &Arc<Socket<A>>, value: &Value) {
    if !activity::enabled() && !admin_feed::is_on() {
        return;
    }
    let bytes = match value {
        Value::Str(text, binaries) => {
            text.len()
                + binaries
                    .as_ref()
                    .map_or(0, |b| b.iter().map(|b| b.len()).sum())
        }
        Value::Bytes(bytes) => bytes.len(),
    };
    activity::received(bytes);
    let packet = value.as_str().map(|text| text.as_str());
    admin_feed::event_received(socket.ns(), socket.id.as_str(), packet, bytes);
}

fn malformed<A: Adapter>(socket: &Arc<Socket<A>>, error: &dyn std::error::Error) {
    metrics::event_received(socket.ns(), EventOutcome::Malformed);
    tracing::debug!(sid = %socket.id, error = %error, "cannot extract an event's arguments");
}

fn spawn_timed<A: Adapter, Fut: Future<Output = ()> + Send + 'static>(
    socket: &Arc<Socket<A>>,
    fut: Fut,
) {
    let namespace = socket.ns().to_owned();
    metrics::event_received(&namespace, EventOutcome::Handled);
    let start = Instant::now();
    let timed = async move {
        fut.await;
        metrics::event_handled(&namespace, start.elapsed());
    };
    // In arrival order when the socket has its queue (every namespace sets one up).
    match socket.extensions.get::<EventQueue>() {
        Some(queue) => queue.push(Box::pin(timed)),
        None => {
            tokio::spawn(timed);
        }
    }
}

impl<A, F, Fut> MessageHandler<A, (ViaGuard,)> for Guarded<F>
where
    F: FnOnce() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    A: Adapter,
{
    fn call(&self, s: Arc<Socket<A>>, v: Value, _: Option<i64>) {
        if admit(&s) {
            observe(&s, &v);
            spawn_timed(&s, (self.handler.clone())());
        }
    }
}

macro_rules! impl_guarded {
    ([$($ty:ident),*], $last:ident) => {
        #[allow(non_snake_case, unused_mut)]
        impl<A, F, M, $($ty,)* $last, Fut> MessageHandler<A, (ViaGuard, M, $($ty,)* $last,)> for Guarded<F>
        where
            F: FnOnce($($ty,)* $last,) -> Fut + Send + Sync + Clone + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            A: Adapter,
            $( $ty: FromMessageParts<A> + Send, )*
            $last: FromMessage<A, M> + Send,
        {
            fn call(&self, s: Arc<Socket<A>>, mut v: Value, ack_id: Option<i64>) {
                if !admit(&s) {
                    return;
                }
                observe(&s, &v);
                $(
                    let $ty = match $ty::from_message_parts(&s, &mut v, &ack_id) {
                        Ok(value) => value,
                        Err(e) => return malformed(&s, &e),
                    };
                )*
                let socket = s.clone();
                let last = match $last::from_message(s, v, ack_id) {
                    Ok(value) => value,
                    Err(e) => return malformed(&socket, &e),
                };
                spawn_timed(&socket, (self.handler.clone())($($ty,)* last));
            }
        }
    };
}

impl_guarded!([], T1);
impl_guarded!([T1], T2);
impl_guarded!([T1, T2], T3);
impl_guarded!([T1, T2, T3], T4);
impl_guarded!([T1, T2, T3, T4], T5);

/// The fallback handler that drops events no handler takes, after charging them.
#[derive(Debug, Clone, Copy)]
pub struct DropUnknown;

impl<A: Adapter> MessageHandler<A, (ViaGuard, DropUnknown)> for DropUnknown {
    fn call(&self, s: Arc<Socket<A>>, v: Value, _: Option<i64>) {
        if admit(&s) {
            observe(&s, &v);
            metrics::event_received(s.ns(), EventOutcome::Unknown);
        }
    }
}

/// Makes `socket` charge and drop events no handler takes (a later `on_fallback` replaces it).
pub fn drop_unknown<A: Adapter>(socket: &SocketRef<A>) {
    socket.on_fallback(DropUnknown);
}
