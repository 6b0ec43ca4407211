//! The namespaces iorelay serves and what happens in them.
//!
//! - [`relay`]: generic namespaces (`/`, `--namespaces`): where backends push,
//!   and, with `--client-relay`, clients join rooms and relay events.
//! - [`namespace_family`]: the namespaces patterns of `--namespaces` make on demand.
//! - [`chat`]: the built-in `/chat` app: rooms, history, typing, presence.
//! - [`notifications`]: the built-in `/notifications` app: per-user and topic pushes.
//! - [`conformance`]: the reference server of the official protocol test suite.
//! - [`admin_ui`]: the official Socket.IO Admin UI's namespace: stats, commands, live view.

pub(crate) mod admin_ui;
pub(crate) mod chat;
pub mod conformance;
pub(crate) mod namespace_family;
pub(crate) mod notifications;
pub(crate) mod relay;
