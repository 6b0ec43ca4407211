//! Who may connect, and how much any one client may cost the others.
//!
//! - [`origin`]: which browser origins may connect (CORS, WebSocket origin check).
//! - [`auth`]: JWT verification, private namespaces, demo tokens, token expiry.
//! - [`identity`]: who a connecting user is (a token's user, or a guest).
//! - [`limits`]: TCP connections, Engine.IO connections, handshake and event rates.

pub mod auth;
pub mod identity;
pub mod limits;
pub mod origin;
