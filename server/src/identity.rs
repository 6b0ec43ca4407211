//! Who is connecting: the user a `/chat` or `/notifications` socket acts as.
//!
//! Resolved once, in the namespace's connect middleware, and kept in the
//! socket's extensions so every handler reads the same [`User`]: a valid
//! token's user (see [`crate::auth`]) or, where the namespace takes guests, a
//! guest named in the handshake. A refusal becomes the client's `connect_error`.

use std::fmt;
use std::sync::Arc;

use socketioxide::extract::{SocketRef, State, TryData};

use crate::auth::{self, Admission, AuthGate, expiry};
use crate::limits;

use crate::events::chat::{GuestAuth, User};
use crate::namespaces::NodeAdapter;

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Why a connection was refused; its `Display` is what the client's
/// `connect_error` carries as `message`: `"<code>: <explanation>"`.
///
/// socketioxide sends only `{message}` in a CONNECT_ERROR packet (no `data`
/// field), so the stable code leads the message, where programs can split it off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRefusal {
    /// Stable code, e.g. `invalid_name`.
    pub code: &'static str,
    /// Explanation for people.
    pub message: String,
}

impl fmt::Display for ConnectRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ConnectRefusal {
    pub(crate) fn invalid_name(message: &str) -> Self {
        Self {
            code: "invalid_name",
            message: message.to_owned(),
        }
    }
}

/// Checks a display name and returns it trimmed.
pub fn validate_name(name: &str) -> Result<String, ConnectRefusal> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ConnectRefusal::invalid_name("a display name is required"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ConnectRefusal::invalid_name(&format!(
            "display names have at most {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ConnectRefusal::invalid_name(
            "display names may not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// The user a guest handshake (`auth: {name}`) stands for.
pub fn guest(auth: &GuestAuth) -> Result<User, ConnectRefusal> {
    let name = validate_name(auth.name.as_deref().unwrap_or_default())?;
    Ok(User {
        id: format!("guest:{}", name.to_lowercase()),
        name,
    })
}

/// Connect middleware of `/chat` and `/notifications`: resolves the user (a
/// valid token's, or a guest's where the namespace takes guests) or refuses.
pub async fn identify<A: NodeAdapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<serde_json::Value>,
    State(gate): State<Arc<AuthGate>>,
) -> Result<(), ConnectRefusal> {
    let user = match admit(&socket, auth.as_ref().ok(), &gate)? {
        Admission::User(grant) => {
            expiry::grant(&socket, grant.expires_at);
            grant.user
        }
        Admission::Guest => {
            let guest_auth = auth
                .ok()
                .and_then(|value| serde_json::from_value::<GuestAuth>(value).ok())
                .ok_or_else(|| {
                    ConnectRefusal::invalid_name(
                        "the handshake auth must be an object like {\"name\": \"Ada\"}",
                    )
                })?;
            guest(&guest_auth)?
        }
    };
    socket.extensions.insert(user);
    Ok(())
}

/// Connect middleware of generic namespaces: refuses bad tokens (and missing
/// ones where the namespace is private); a valid token's user is kept.
pub async fn authenticate<A: NodeAdapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<serde_json::Value>,
    State(gate): State<Arc<AuthGate>>,
) -> Result<(), ConnectRefusal> {
    if let Admission::User(grant) = admit(&socket, auth.as_ref().ok(), &gate)? {
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
) -> Result<Admission, ConnectRefusal> {
    charge_connect(socket)?;
    let token = auth::presented_token(auth, socket.req_parts());
    Ok(gate.admit(socket.ns(), token)?)
}

/// A CONNECT costs a token of the connection's event budget: each one runs the
/// token check, so a client that floods CONNECTs is refused like one that floods events.
fn charge_connect<A: NodeAdapter>(socket: &SocketRef<A>) -> Result<(), ConnectRefusal> {
    if limits::events::charge_connect(socket) {
        return Ok(());
    }
    Err(ConnectRefusal {
        code: "rate_limited",
        message: "too many connection attempts; slow down".to_owned(),
    })
}

/// The user resolved at connect time.
pub fn user_of<A: NodeAdapter>(socket: &SocketRef<A>) -> Option<User> {
    socket.extensions.get::<User>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(name: &str) -> GuestAuth {
        GuestAuth {
            name: Some(name.to_owned()),
            token: None,
        }
    }

    #[test]
    fn guests_get_a_stable_id() {
        let user = guest(&auth("  Ada ")).expect("valid");
        assert_eq!(user.name, "Ada");
        assert_eq!(user.id, "guest:ada");
    }

    #[test]
    fn bad_names_are_refused_with_a_code() {
        for name in ["", "   ", "a\u{7}b", &"x".repeat(33)] {
            let refusal = guest(&auth(name)).expect_err(name);
            assert_eq!(refusal.code, "invalid_name");
            assert!(refusal.to_string().starts_with("invalid_name: "));
        }
        assert!(guest(&GuestAuth::default()).is_err());
    }
}
