//! How backends act on sockets: one publisher, and every way into it.
//!
//! - [`publisher`]: the one path backends act through (emit, rooms, disconnect, notify).
//! - [`notifier`]: notifications to `/notifications` users and topics.
//! - [`delivery`]: broadcasts that survive a lost cluster link and never leave holes.
//! - [`api`]: the HTTP publish API (`/api/v1`) with its OpenAPI document.
//! - [`flask_bridge`]: the Flask-SocketIO message queue (Redis) applied to sockets.
//! - [`django_bridge`]: Django Channels `group_send` (a `channels_redis` layer) applied to sockets.
//! - [`backlog`]: what a bridge received and has not applied yet, bounded.
//! - [`forwarding`]: client events POSTed to HTTP backends, and connect hooks.
//! - [`connection_rooms`]: no backend joins a socket into another socket's id room.
//! - [`pending_answers`]: sockets whose backend answer is on its way; queue operations on them wait.

pub mod api;
pub mod backlog;
pub mod connection_rooms;
pub mod delivery;
pub mod django_bridge;
pub mod flask_bridge;
pub mod forwarding;
pub mod notifier;
pub mod pending_answers;
pub mod publisher;
