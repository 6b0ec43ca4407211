//! Payloads of token refresh, on every namespace a socket joined with a token.
//!
//! A token is checked at connect and its expiry is enforced while the socket
//! stays connected (see `socket::expiry`): the socket gets the notice
//! [`expiry_notice`] as an `error` event, then a namespace disconnect. A client
//! that renews its token in time sends it with [`REFRESH_EVENT`].

use serde::{Deserialize, Serialize};

use crate::protocol::{ErrorCode, Refusal};

/// Client → server: replace the connection's token with a fresh one of the same user.
pub const REFRESH_EVENT: &str = "auth:refresh";

/// `auth:refresh {token}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// A token of the same `sub` as the one the socket connected with.
    pub token: String,
}

/// Ack of `auth:refresh`: when the socket's token now expires.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshReply {
    /// The new token's `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
}

/// The `error` notice a socket gets when its token expired, just before the
/// namespace disconnect.
pub fn expiry_notice() -> Refusal {
    Refusal::new(
        ErrorCode::TokenExpired,
        "the token has expired: connect again with a new one",
    )
}
