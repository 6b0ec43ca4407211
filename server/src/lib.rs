//! iorelay: a production Socket.IO server on socketioxide, axum and tokio.
//!
//! # Layout
//! - [`config`]: the one typed configuration (flags, `IORELAY_*`, TOML file).
//! - [`server`]: running a node: engine, namespaces, listener, graceful shutdown.
//! - [`api`]: the HTTP publish API (`/api/v1`) with its OpenAPI document.
//! - [`publisher`]: the one path backends act on sockets through (API, bridge).
//! - [`flask_bridge`]: the Flask-SocketIO message queue (Redis) applied to sockets.
//! - [`forwarding`]: client events POSTed to HTTP backends; connect hooks.
//! - [`app`]: the HTTP router of a node (Socket.IO layer, health, static files).
//! - [`engine`]: engine settings applied to socketioxide; the Engine.IO v3 gate.
//! - [`origin`]: which browser origins may connect (CORS and WebSocket origin check).
//! - [`owned_head`]: a session keeps its own copy of its first request's head.
//! - [`namespaces`]: what each namespace does (generic relay, lifecycle).
//! - [`cluster`]: running as one of N nodes: the Redis link, its driver and monitor.
//! - [`chat`]: the built-in `/chat` app: rooms, bounded history, typing, batched
//!   presence and paged members, display names guests may not borrow.
//! - [`notifications`]: the built-in `/notifications` app and its one delivery path.
//! - [`identity`]: who a connecting user is (a token's user, or a guest).
//! - [`auth`]: JWT verification, private namespaces, demo tokens.
//! - [`limits`]: connections per node and address, handshake and event rates.
//! - [`metrics`]: Prometheus metrics, every name in one place, and `/metrics`.
//! - [`tls`]: serving HTTPS and WSS from a PEM certificate and key.
//! - [`transport`]: accepting connections, slow consumers, session ids.
//! - [`fuzz_logic`]: the decoders we own, as functions fuzz targets and tests drive.
//! - [`events`]: the event contract: names, payloads, acks, error codes.
//! - [`event_args`]: an event's arguments, however many, binary included.
//! - [`placeholders`]: binary placeholders clients and backends may not forge.
//! - [`conformance`]: the official protocol test suite's reference server.
//! - [`delivery`]: broadcasts that fall back to this node while Redis is down.
//! - [`health`]: `/healthz` and `/readyz`.
//! - [`shutdown`]: waiting for SIGTERM or SIGINT.
//! - [`telemetry`]: structured logs.

pub mod api;
pub mod app;
pub mod auth;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod conformance;
pub mod delivery;
pub mod engine;
pub mod event_args;
pub mod events;
pub mod flask_bridge;
pub mod forwarding;
pub mod fuzz_logic;
pub mod health;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod namespaces;
pub mod notifications;
pub mod origin;
pub mod owned_head;
pub mod placeholders;
pub mod publisher;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod transport;
