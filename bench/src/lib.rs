//! Load tool for iorelay and other Socket.IO servers: a lean Socket.IO v5
//! client (WebSocket and HTTP long-polling), worker processes that hold tens
//! of thousands of clients (or drive real socket.io-client processes), the
//! idle / fan-out / chat / cluster / join-storm / slow-consumer scenarios, and
//! the report (table, target check, chart).
//!
//! Every load targets loopback (127.0.0.0/8) only and is bounded in clients
//! and time.

pub mod client;
pub mod delivery;
pub mod http;
pub mod net;
pub mod notify;
pub mod proto;
pub mod report;
pub mod sampler;
pub mod scenario;
pub mod stats;
pub mod worker;
pub mod ws;
