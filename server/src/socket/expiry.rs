//! Tokens expire on live connections too, not only at connect.
//!
//! A socket that connected with a token holds a [`Lease`] until the token's
//! `exp` (plus the [`CLOCK_SKEW_SECS`] the connect check allows). When the
//! lease runs out the socket gets `error {code: "token_expired", message}`
//! and a namespace disconnect, so it stops receiving what its user may no
//! longer see; socket.io-client does not reconnect by itself after that, so
//! clients connect again with a new token. Before then a client may send
//! `auth:refresh {token}` with a fresh token of the same user (`sub`): the
//! ack `{ok: true, expires_at}` moves the lease to the new token's expiry.
//!
//! Each lease is watched by one task that sleeps until the deadline, wakes
//! early when a refresh moves it, and ends when the socket disconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ops::metrics;
use crate::protocol::auth::{REFRESH_EVENT, RefreshReply, RefreshRequest, expiry_notice};
use crate::protocol::clock::now_ms;
use crate::protocol::error::ERROR_EVENT;
use crate::protocol::user::User;
use crate::protocol::{ErrorCode, Refusal, parse_payload};
use crate::security::auth::{AuthError, AuthGate, CLOCK_SKEW_SECS};
use crate::socket::guard;

/// How long a socket's token still counts; kept in the socket's extensions.
#[derive(Clone)]
pub struct Lease(Arc<LeaseState>);

struct LeaseState {
    /// The token's `exp`, seconds since the Unix epoch.
    expires_at: AtomicU64,
    /// Woken when a refresh moves `expires_at`.
    moved: Notify,
    /// Cancelled when the socket disconnects.
    gone: CancellationToken,
}

impl Lease {
    fn new(expires_at: u64) -> Self {
        Self(Arc::new(LeaseState {
            expires_at: AtomicU64::new(expires_at),
            moved: Notify::new(),
            gone: CancellationToken::new(),
        }))
    }

    /// The current token's `exp`.
    pub fn expires_at(&self) -> u64 {
        self.0.expires_at.load(Ordering::Acquire)
    }

    fn renew(&self, expires_at: u64) {
        self.0.expires_at.store(expires_at, Ordering::Release);
        self.0.moved.notify_one();
    }
}

/// How long until a token of `expires_at` stops counting, `now_ms` after the epoch.
pub fn remaining(expires_at: u64, now_ms: u128) -> Duration {
    let deadline_ms = u128::from(expires_at.saturating_add(CLOCK_SKEW_SECS)) * 1000;
    let left = deadline_ms.saturating_sub(now_ms);
    Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX))
}

/// Connect middleware: the socket's token counts until `expires_at`.
pub fn grant<A: Adapter>(socket: &SocketRef<A>, expires_at: u64) {
    socket.extensions.insert(Lease::new(expires_at));
}

/// Once connected: enforces the socket's lease, if it has one, and takes `auth:refresh`.
pub fn watch<A: Adapter>(socket: &SocketRef<A>) {
    let Some(lease) = socket.extensions.get::<Lease>() else {
        return;
    };
    tokio::spawn(enforce(socket.clone(), lease));
    guard::on(
        socket,
        REFRESH_EVENT,
        async |s: SocketRef<A>,
               TryData(req): TryData<RefreshRequest>,
               State(gate): State<Arc<AuthGate>>,
               ack: AckSender<A>| {
            let result = parse_payload(req).and_then(|r| refresh(&s, &gate, &r.token));
            crate::socket::send_reply(ack, result);
        },
    );
}

/// On disconnect: the lease's watch ends.
pub fn release<A: Adapter>(socket: &SocketRef<A>) {
    if let Some(lease) = socket.extensions.get::<Lease>() {
        lease.0.gone.cancel();
    }
}

async fn enforce<A: Adapter>(socket: SocketRef<A>, lease: Lease) {
    loop {
        let expires_at = lease.expires_at();
        tokio::select! {
            () = lease.0.gone.cancelled() => return,
            () = lease.0.moved.notified() => {}
            () = tokio::time::sleep(remaining(expires_at, u128::from(now_ms()))) => {
                if lease.expires_at() == expires_at {
                    expire(socket);
                    return;
                }
            }
        }
    }
}

/// Tells the socket why, then disconnects it from the namespace (in its packet order).
fn expire<A: Adapter>(socket: SocketRef<A>) {
    if !socket.connected() {
        return;
    }
    metrics::token_expired(socket.ns());
    tracing::info!(sid = %socket.id, ns = socket.ns(), "token expired; socket disconnected");
    if let Err(e) = socket.emit(ERROR_EVENT, &expiry_notice()) {
        tracing::debug!(sid = %socket.id, error = %e, "cannot send the token expiry notice");
    }
    if let Err(e) = socket.disconnect() {
        tracing::debug!(error = %e, "cannot disconnect a socket whose token expired");
    }
}

/// `auth:refresh {token}`: a valid token of the same user moves the lease.
fn refresh<A: Adapter>(
    socket: &SocketRef<A>,
    gate: &AuthGate,
    token: &str,
) -> Result<RefreshReply, Refusal> {
    let lease = socket.extensions.get::<Lease>().ok_or_else(|| {
        Refusal::new(
            ErrorCode::TokenInvalid,
            "this connection has no token to refresh",
        )
    })?;
    let grant = match gate.verify(token) {
        Some(Ok(grant)) => grant,
        Some(Err(AuthError::Expired)) => {
            return Err(Refusal::new(
                ErrorCode::TokenExpired,
                "the new token has expired already",
            ));
        }
        Some(Err(e)) => return Err(e.into()),
        None => {
            return Err(Refusal::new(
                ErrorCode::TokenInvalid,
                "this server does not verify tokens",
            ));
        }
    };
    let same_user = socket
        .extensions
        .get::<User>()
        .is_some_and(|user| user.id == grant.user.id);
    if !same_user {
        return Err(Refusal::new(
            ErrorCode::TokenInvalid,
            "the new token is another user's (sub differs)",
        ));
    }
    lease.renew(grant.expires_at);
    Ok(RefreshReply {
        expires_at: grant.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_exp_plus_the_connect_skew() {
        let exp = 1_700_000_000;
        let at = |secs: u64| u128::from(secs) * 1000;
        assert_eq!(
            remaining(exp, at(exp)),
            Duration::from_secs(CLOCK_SKEW_SECS)
        );
        assert_eq!(
            remaining(exp, at(exp - 60) + 250),
            Duration::from_millis(89_750)
        );
        assert_eq!(remaining(exp, at(exp + CLOCK_SKEW_SECS)), Duration::ZERO);
        assert_eq!(remaining(exp, at(exp + 3600)), Duration::ZERO);
        assert_eq!(
            remaining(u64::MAX, 0),
            Duration::from_millis(u64::MAX),
            "saturates"
        );
    }

    #[tokio::test]
    async fn a_renewed_lease_wakes_its_watch_and_a_cancelled_one_ends_it() {
        let lease = Lease::new(10);
        let moved = tokio::spawn({
            let lease = lease.clone();
            async move { lease.0.moved.notified().await }
        });
        lease.renew(20);
        moved.await.expect("woken");
        assert_eq!(lease.expires_at(), 20);
        let gone = tokio::spawn({
            let lease = lease.clone();
            async move { lease.0.gone.cancelled().await }
        });
        lease.0.gone.cancel();
        gone.await.expect("ended");
    }
}
