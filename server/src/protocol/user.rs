//! Who a client is on the wire: the user every app names (chat senders and
//! members, notification recipients, forwarded events), and the handshake
//! `auth` a guest names itself with.

use serde::{Deserialize, Serialize};

/// Handshake `auth` of `/chat` and `/notifications` when no token is used.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GuestAuth {
    /// Display name (a `token` beside it is read by the auth checks, not here).
    #[serde(default)]
    pub name: Option<String>,
}

/// Who a chat user is: stable id and display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User {
    /// Stable id: the JWT subject, or `guest:<name>` for guests.
    pub id: String,
    /// Display name.
    pub name: String,
}
