//! The official Socket.IO Admin UI (`@socket.io/admin-ui`, admin.socket.io)
//! driving iorelay, cluster-wide.
//!
//! Node's `instrument()` and python-socketio's `sio.instrument()` serve the
//! UI's protocol on an admin namespace; teams moving to iorelay keep their
//! live view. Off unless configured (`--admin-password-hash` or
//! `--admin-no-auth`).
//!
//! - [`login`]: the bcrypt password login and its sessions.
//! - [`password_check`]: bcrypt off the async workers, a bounded number at once.
//! - [`stats`]: each node's `server_stats`, broadcast to every admin socket.
//! - [`commands`]: emit, join, leave, disconnect, through the adapter.
//! - [`mirror`]: development mode's live records of sockets, rooms, events.
//! - [`census`]: development mode's socket list, from every node.

pub mod census;
pub mod commands;
pub mod login;
pub mod mirror;
pub mod password_check;
pub mod stats;

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide_core::adapter::Spawnable;
use tokio_util::sync::CancellationToken;

use crate::cluster::RedisLink;
use crate::config::{AdminMode, AdminUiConfig};
use crate::ops::{activity, admin_feed, metrics};
use crate::protocol::admin_ui::{ALL_SOCKETS, CONFIG, Feature, SERVER_STATS, SESSION, UiConfig};
use crate::socket::{NodeAdapter, guard, lifecycle};
use census::Census;
use login::{Login, LoginRefused};
use stats::NodeFacts;

/// The admin namespace of one node.
struct AdminUi {
    login: Login,
    features: Vec<Feature>,
    read_only: bool,
    development: bool,
    facts: NodeFacts,
    census: Option<Census>,
}

/// A session id made by this connect's password login, for the `session` event.
#[derive(Debug, Clone)]
struct NewSession(String);

/// Serves the admin namespace when `config` turns it on; with `link`, sessions
/// and the socket census go through Redis.
pub async fn register<A: NodeAdapter>(
    io: &SocketIo<A>,
    config: &AdminUiConfig,
    node_id: &str,
    link: Option<&RedisLink>,
    stop: CancellationToken,
) -> Result<(), redis::RedisError> {
    if !config.enabled() {
        return Ok(());
    }
    if config.admin_no_auth {
        tracing::warn!(namespace = %config.admin_namespace, "the admin UI namespace has no login: whoever reaches it can read and drive every socket");
    }
    let development = config.admin_mode == AdminMode::Development;
    let admin_ns = config.admin_namespace.clone();
    activity::enable();
    let census = match (development, link) {
        (true, Some(link)) => Some(Census::start(link, io.clone(), stop.clone()).await?),
        _ => None,
    };
    if development && let Some(records) = admin_feed::start(config.admin_mirror_capacity, &admin_ns)
    {
        mirror::spawn(io.clone(), admin_ns.clone(), records, stop.clone());
    }
    let facts = NodeFacts::here(node_id);
    stats::spawn(io.clone(), admin_ns.clone(), facts.clone(), stop);
    let admin = Arc::new(AdminUi {
        login: Login::new(
            &config.admin_username,
            config.admin_password_hash.clone(),
            link.cloned(),
        ),
        features: Feature::supported(config.admin_read_only, development),
        read_only: config.admin_read_only,
        development,
        facts,
        census,
    });
    tracing::info!(namespace = %admin_ns, mode = ?config.admin_mode, read_only = config.admin_read_only, "serving the admin UI namespace");
    let (for_login, for_setup, for_connect) = (admin.clone(), admin.clone(), admin);
    let (io_setup, io_connect) = (io.clone(), io.clone());
    let login = async move |socket: SocketRef<A>, TryData(auth): TryData<serde_json::Value>| {
        log_in(&for_login, &socket, auth.ok().as_ref()).await
    };
    let setup = async move |socket: SocketRef<A>| -> Result<(), LoginRefused> {
        lifecycle::on_connected(&socket);
        socket.on_disconnect(async |s: SocketRef<A>, reason: DisconnectReason| {
            lifecycle::on_disconnect(s, reason);
        });
        if !for_setup.read_only {
            commands::attach(&socket, &io_setup);
        }
        Ok(())
    };
    let on_connect = async move |socket: SocketRef<A>| {
        greet(&for_connect, &io_connect, socket).await;
    };
    // The last `with` runs first: log in, then set up handlers before the CONNECT packet.
    io.ns(admin_ns, on_connect.with(setup).with(login)).spawn();
    Ok(())
}

/// The connect middleware: charges the CONNECT, then checks the login.
async fn log_in<A: NodeAdapter>(
    admin: &AdminUi,
    socket: &SocketRef<A>,
    auth: Option<&serde_json::Value>,
) -> Result<(), LoginRefused> {
    if !guard::charge_connect(socket) {
        return Err(LoginRefused::RateLimited);
    }
    match admin.login.check(auth).await {
        Ok(session) => {
            if let Some(id) = session {
                socket.extensions.insert(NewSession(id));
            }
            Ok(())
        }
        Err(refused) => {
            let code = match refused {
                LoginRefused::LoginsBusy => "admin_logins_busy",
                _ => "admin_credentials",
            };
            metrics::auth_failure(code);
            tracing::info!(sid = %socket.id, ns = socket.ns(), refused = code, "admin UI login refused");
            Err(refused)
        }
    }
}

/// What a connected admin socket is told first: its session, what it may do,
/// this node's stats and, in development mode, every socket of the cluster.
async fn greet<A: NodeAdapter>(admin: &AdminUi, io: &SocketIo<A>, socket: SocketRef<A>) {
    if let Some(NewSession(id)) = socket.extensions.get::<NewSession>()
        && let Err(e) = socket.emit(SESSION, &id)
    {
        tracing::debug!(error = %e, "cannot send the admin session");
    }
    let config = UiConfig {
        supported_features: admin.features.clone(),
    };
    if let Err(e) = socket.emit(CONFIG, &config) {
        tracing::debug!(error = %e, "cannot send the admin UI config");
    }
    // The other nodes' rows, and the activity, arrive with their next tick.
    let stats = stats::collect(io, &admin.facts, Vec::new());
    if let Err(e) = socket.emit(SERVER_STATS, &stats) {
        tracing::debug!(error = %e, "cannot send server_stats");
    }
    if admin.development {
        let all = match &admin.census {
            Some(census) => census.everyone(io).await,
            None => census::local_sockets(io),
        };
        if let Err(e) = socket.emit(ALL_SOCKETS, &all) {
            tracing::debug!(error = %e, "cannot send all_sockets");
        }
    }
}
