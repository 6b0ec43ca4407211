//! The connect middlewares: every namespace CONNECT is charged, its token
//! checked, and its user resolved before the socket exists for anyone.
//!
//! A CONNECT costs a token of the connection's event budget (so a client that
//! floods CONNECTs is refused like one that floods events), then the token the
//! client presented (auth payload, header or query) is checked by
//! [`AuthGate`] (for socket.io-client 2.x, whose queries stand in for `auth`:
//! [`legacy_auth`]); a token's expiry is scheduled ([`super::expiry`]). `/chat` and
//! `/notifications` also resolve a guest's name ([`identity::guest`]).

use std::sync::Arc;

use socketioxide::extract::{SocketRef, State, TryData};

use crate::protocol::user::{GuestAuth, User};
use crate::protocol::{ErrorCode, Refusal};
use crate::security::auth::{self, Admission, AuthGate};
use crate::security::identity::{self, Provenance};
use socketioxide::SocketIo;
use socketioxide::handler::{ConnectHandler, ConnectMiddleware};
use socketioxide_core::adapter::Spawnable;

use crate::socket::{NodeAdapter, connected, expiry, guard, legacy_auth};

/// Serves `path` for users: every connection is charged and identified
/// ([`identify`]), then `setup` (the app's last middleware: its handlers, its
/// state) runs before the CONNECT packet goes out.
pub fn serve_users<A, S, T>(io: &SocketIo<A>, path: &'static str, setup: S)
where
    A: NodeAdapter,
    S: ConnectMiddleware<A, T>,
    T: Send + Sync + 'static,
{
    serve_users_then(io, path, setup, connected);
}

/// [`serve_users`], with `then` run once the CONNECT packet is out (where the
/// app may emit to the socket).
pub fn serve_users_then<A, S, T, H, U>(io: &SocketIo<A>, path: &'static str, setup: S, then: H)
where
    A: NodeAdapter,
    S: ConnectMiddleware<A, T>,
    T: Send + Sync + 'static,
    H: ConnectHandler<A, U>,
    U: Send + Sync + 'static,
{
    io.ns(path, then.with(setup).with(identify::<A>)).spawn();
}

/// Connect middleware of `/chat` and `/notifications`: resolves the user (a
/// valid token's, or a guest's where the namespace takes guests) or refuses.
pub async fn identify<A: NodeAdapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<serde_json::Value>,
    State(gate): State<Arc<AuthGate>>,
) -> Result<(), Refusal> {
    let auth = legacy_auth::auth_of(&socket, auth.ok());
    let (user, provenance) = match admit(&socket, auth.as_ref(), &gate)? {
        Admission::User(grant) => {
            expiry::grant(&socket, grant.expires_at);
            (grant.user, Provenance::Token)
        }
        Admission::Guest => {
            let guest_auth = auth
                .and_then(|value| serde_json::from_value::<GuestAuth>(value).ok())
                .ok_or_else(|| {
                    Refusal::new(
                        ErrorCode::InvalidName,
                        "the handshake auth must be an object like {\"name\": \"Ada\"}",
                    )
                })?;
            (identity::guest(&guest_auth)?, Provenance::Guest)
        }
    };
    socket.extensions.insert(user);
    socket.extensions.insert(provenance);
    Ok(())
}

/// Connect middleware of generic namespaces: refuses bad tokens (and missing
/// ones where the namespace is private); a valid token's user is kept.
pub async fn authenticate<A: NodeAdapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<serde_json::Value>,
    State(gate): State<Arc<AuthGate>>,
) -> Result<(), Refusal> {
    let auth = legacy_auth::auth_of(&socket, auth.ok());
    if let Admission::User(grant) = admit(&socket, auth.as_ref(), &gate)? {
        expiry::grant(&socket, grant.expires_at);
        socket.extensions.insert(grant.user);
    }
    Ok(())
}

/// What every connect middleware does first: charge the CONNECT, then check
/// the token the client presented (auth payload, header or query).
fn admit<A: NodeAdapter>(
    socket: &SocketRef<A>,
    auth: Option<&serde_json::Value>,
    gate: &AuthGate,
) -> Result<Admission, Refusal> {
    charge_connect(socket)?;
    let token = auth::presented_token(auth, socket.req_parts());
    Ok(gate.admit(socket.ns(), token)?)
}

/// A CONNECT costs a token of the connection's event budget: each one runs the
/// token check, so a client that floods CONNECTs is refused like one that floods events.
fn charge_connect<A: NodeAdapter>(socket: &SocketRef<A>) -> Result<(), Refusal> {
    if guard::charge_connect(socket) {
        return Ok(());
    }
    Err(Refusal::new(
        ErrorCode::RateLimited,
        "too many connection attempts; slow down",
    ))
}

/// The user resolved at connect time.
pub fn user_of<A: NodeAdapter>(socket: &SocketRef<A>) -> Option<User> {
    socket.extensions.get::<User>()
}

/// How the user of `socket` was established.
pub fn provenance_of<A: NodeAdapter>(socket: &SocketRef<A>) -> Option<Provenance> {
    socket.extensions.get::<Provenance>()
}
