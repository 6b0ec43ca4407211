//! Running one node: build the engine and namespaces, serve, drain on shutdown.
//!
//! The caller binds the listener (tests bind port 0) and supplies the
//! shutdown trigger (the binary passes SIGTERM/SIGINT). On shutdown the node
//! reports not ready, stops accepting, closes every Engine.IO connection so
//! clients reconnect elsewhere, and waits a bounded time for HTTP to drain.

pub mod shutdown;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::socket::NodeAdapter;
use socketioxide::{SocketIo, SocketIoBuilder, TransportType};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::apps::chat::history::HistoryStore;
use crate::apps::chat::history::{HistoryLimits, MemoryHistory};
use crate::apps::chat::presence::MemoryPresence;
use crate::apps::chat::presence::PresenceStore;
use crate::apps::chat::redis_store::{RedisHistory, RedisPresence};
use crate::apps::chat::{self, Chat};
use crate::apps::relay::{self, RelayPolicy};
use crate::backends::forwarding::Forwarder;
use crate::backends::notifier::Notifier;
use crate::backends::publisher::{Publisher, SocketIoPublisher};
use crate::cluster::driver::ResilientDriver;
use crate::cluster::{self, RedisLink};
use crate::config::{AdapterKind, Config};
use crate::ops::health::Health;
use crate::security::auth::AuthGate;
use crate::security::limits::connections::IpNet;
use crate::security::limits::tcp::{self, TcpAdmission};
use crate::transport::listener::{self, Serving};
use crate::transport::sessions::Sessions;
use crate::transport::tls;
use crate::{
    apps::conformance, apps::notifications, backends::api, backends::flask_bridge, ops::metrics,
    transport::engine, transport::router,
};
use axum::Router;
use socketioxide::adapter::Emitter;
use socketioxide_redis::drivers::redis::ClusterDriver;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

/// Why a node could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP server failed while running.
    #[error("server error: {0}")]
    Serve(std::io::Error),
    /// The JWT key cannot be used.
    #[error("cannot verify tokens: {0}")]
    Auth(#[from] crate::security::auth::AuthSetupError),
    /// The TLS certificate or key cannot be used.
    #[error("cannot serve TLS: {0}")]
    Tls(#[from] crate::transport::tls::TlsError),
    /// Redis is unreachable or refused us at start.
    #[error("cannot use Redis at {url}: {source}")]
    Redis {
        /// The URL (password masked).
        url: String,
        /// Why.
        source: redis::RedisError,
    },
}

/// What a node shares with its peers: the chat stores and, clustered, the Redis link.
struct Shared {
    node_id: String,
    history: Arc<dyn HistoryStore>,
    presence: Arc<dyn PresenceStore>,
    redis: Option<RedisLink>,
    /// The adapter's pub/sub driver when it is ours (not sharded), for the monitor.
    pubsub: Option<ResilientDriver>,
}

/// Which set of namespaces a node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apps {
    /// Generic namespaces and the built-in apps.
    Production,
    /// The reference behaviour of the protocol test suite.
    Conformance,
}

/// Binds `config.server.listen`.
pub async fn bind(config: &Config) -> Result<TcpListener, StartupError> {
    let addr = config.server.listen;
    let bind_error = |source| StartupError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(bind_error)?;
    socket.set_reuseaddr(true).map_err(bind_error)?;
    socket.bind(addr).map_err(bind_error)?;
    // Tokio's default backlog (128) overflows when thousands of clients reconnect at
    // once (a node restart): the kernel drops SYNs and clients wait a 1 s retransmit.
    socket.listen(LISTEN_BACKLOG).map_err(bind_error)
}

/// Pending connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

/// Serves on `listener` until `shutdown` resolves, then drains and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    apps: Apps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let node_id = config
        .cluster
        .node_id
        .clone()
        .unwrap_or_else(random_node_id);
    // Installed first so that nothing counted at start is lost.
    metrics::handle();
    let gate = Arc::new(AuthGate::from_config(&config.auth)?);
    let builder = engine::configure(SocketIo::builder(), &config.engine).with_state(gate);
    let Some(url) = config
        .cluster
        .redis_url
        .clone()
        .filter(|_| config.cluster.adapter == AdapterKind::Redis)
    else {
        let shared = Shared {
            node_id,
            history: Arc::new(MemoryHistory::new(HistoryLimits {
                per_room: config.chat.chat_history_size,
                max_bytes: config.chat.chat_history_max_bytes,
                max_rooms: config.chat.chat_history_max_rooms,
                ttl: (config.chat.chat_history_ttl_secs > 0)
                    .then(|| Duration::from_secs(config.chat.chat_history_ttl_secs)),
            })),
            presence: Arc::new(MemoryPresence::default()),
            redis: None,
            pubsub: None,
        };
        return run_with(builder, shared, config, listener, apps, shutdown).await;
    };
    let redis_error = |source| StartupError::Redis {
        url: config.to_redacted_redis_url(),
        source,
    };
    let prefix = config.cluster.redis_prefix.clone();
    let link = RedisLink::connect(&url, config.cluster.redis_sharded, &prefix, &node_id)
        .await
        .map_err(redis_error)?;
    let mut shared = Shared {
        node_id,
        pubsub: None,
        history: Arc::new(RedisHistory::new(
            link.clone(),
            config.chat.chat_history_size,
            config.chat.chat_history_ttl_secs,
        )),
        presence: Arc::new(RedisPresence::new(link.clone())),
        redis: Some(link.clone()),
    };
    let adapter_config = RedisAdapterConfig::new()
        .with_prefix(prefix)
        .with_request_timeout(config.engine.ack_timeout());
    tracing::info!(sharded = config.cluster.redis_sharded, node = %shared.node_id, "using the Redis adapter");
    if config.cluster.redis_sharded {
        let client = redis::cluster::ClusterClientBuilder::new(vec![url.as_str()])
            .use_protocol(redis::ProtocolVersion::RESP3)
            .build()
            .map_err(redis_error)?;
        let driver = ClusterDriver::new(&client).await.map_err(redis_error)?;
        let ctr = RedisAdapterCtr::new_with_driver(driver, adapter_config);
        let builder = builder.with_adapter::<CustomRedisAdapter<Emitter, ClusterDriver>>(ctr);
        run_with(builder, shared, config, listener, apps, shutdown).await
    } else {
        let driver = ResilientDriver::connect(link.client.clone())
            .await
            .map_err(redis_error)?;
        shared.pubsub = Some(driver.clone());
        let ctr = RedisAdapterCtr::new_with_driver(driver, adapter_config);
        let builder = builder.with_adapter::<CustomRedisAdapter<Emitter, ResilientDriver>>(ctr);
        run_with(builder, shared, config, listener, apps, shutdown).await
    }
}

async fn run_with<A: NodeAdapter>(
    builder: SocketIoBuilder<A>,
    shared: Shared,
    config: Config,
    listener: TcpListener,
    apps: Apps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let health = Health::for_node(&shared.node_id);
    let stop_background = CancellationToken::new();
    if let Some(link) = &shared.redis {
        cluster::spawn_monitor(
            link.clone(),
            shared.pubsub.clone(),
            health.clone(),
            stop_background.clone(),
        );
    }
    let (layer, io) = builder.build_layer();
    let mut bridge_stats = None;
    let routes = match apps {
        Apps::Conformance => {
            conformance::register(&io);
            Router::new()
        }
        Apps::Production => {
            let publisher = register_production(&io, &config, &shared);
            bridge_stats = flask_bridge::spawn(
                &config.flask,
                publisher.clone(),
                health.clone(),
                stop_background.clone(),
            );
            api::routes(&config.api, publisher)
        }
    };
    let stop_accepting = CancellationToken::new();
    let metrics_routes = metrics::routes(socket_census(&io));
    let routes = match config.metrics.metrics_listen {
        Some(addr) => {
            let metrics_listener = TcpListener::bind(addr)
                .await
                .map_err(|source| StartupError::Bind { addr, source })?;
            let local = metrics_listener.local_addr().map_err(StartupError::Serve)?;
            tracing::info!("metrics on http://{local}/metrics");
            let serve_metrics = axum::serve(metrics_listener, metrics_routes)
                .with_graceful_shutdown(stop_accepting.clone().cancelled_owned())
                .into_future();
            tokio::spawn(serve_metrics);
            routes
        }
        None => routes.merge(metrics_routes),
    };
    let polling_only = config.engine.transports == [crate::config::Transport::Polling];
    let sessions = Sessions::new(
        &config.engine.path,
        config.engine.max_queued_bytes,
        polling_only,
    )
    .map_err(|_| StartupError::Serve(std::io::Error::other("no system randomness")))?;
    let router = router::build(&config, layer, sessions.clone(), health.clone(), routes);
    sessions.set_router(router.clone());

    let local = listener.local_addr().map_err(StartupError::Serve)?;
    let tls = tls::load(&config.tls)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        addr = %local,
        path = %config.engine.path,
        parser = ?config.engine.parser,
        eio3 = config.engine.allow_eio3,
        "listening on {scheme}://{local}"
    );
    let serving = Serving {
        app: router,
        tls: tls.map(tls::acceptor),
        admission: tcp_admission(&config.limits),
        header_read_timeout: Duration::from_millis(config.server.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(config.server.idle_timeout_ms),
        body_read_timeout: Duration::from_millis(config.server.body_read_timeout_ms),
    };
    let mut serve = tokio::spawn(listener::serve(listener, serving, stop_accepting.clone()));

    tokio::select! {
        () = shutdown => {}
        result = &mut serve => {
            return match result {
                Ok(()) => Ok(()),
                Err(e) => Err(StartupError::Serve(std::io::Error::other(e))),
            };
        }
    }

    let deadline = Duration::from_millis(config.server.shutdown_timeout_ms);
    health.set_draining();
    stop_background.cancel();
    if let Some(stats) = bridge_stats {
        let totals = stats.snapshot();
        tracing::info!(
            received = totals.received,
            applied = totals.applied,
            ignored = totals.ignored,
            rejected = ?totals.rejected.iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>(),
            "Flask bridge stopped"
        );
    }
    stop_accepting.cancel();
    let sockets: usize = io.nsps().iter().map(|ns| ns.clone().sockets().len()).sum();
    tracing::info!(
        sockets,
        "draining: closing every connection so clients reconnect elsewhere"
    );
    let drained = tokio::time::timeout(deadline, async {
        io.close().await;
        // Then the sessions socketioxide's drain does not see: those in no namespace.
        sessions.close_polling_sessions().await;
        let _ = serve.await;
    })
    .await;
    match drained {
        Ok(()) => tracing::info!("shutdown complete"),
        Err(_) => tracing::warn!(
            ?deadline,
            "shutdown deadline reached; exiting with connections open"
        ),
    }
    Ok(())
}

/// Registers every production namespace; returns the publisher backends act through.
fn register_production<A: NodeAdapter>(
    io: &SocketIo<A>,
    config: &Config,
    shared: &Shared,
) -> Arc<dyn Publisher> {
    let publisher: Arc<dyn Publisher> = Arc::new(SocketIoPublisher::new(
        io.clone(),
        Notifier::new(io.clone(), &shared.node_id),
    ));
    let policy = Arc::new(RelayPolicy {
        enabled: config.namespaces.client_relay,
        max_rooms: config.chat.max_rooms_per_socket,
        max_namespace_rooms: config.namespaces.max_rooms_per_namespace,
        ack_timeout: config.engine.ack_timeout(),
    });
    let forwarder = Forwarder::new(&config.forwarding, publisher.clone());
    for path in config.namespaces.generic_paths() {
        relay::register(io, path, policy.clone(), forwarder.clone());
    }
    let chat = Arc::new(Chat {
        config: config.chat.clone(),
        history: shared.history.clone(),
        presence: shared.presence.clone(),
    });
    chat::register(io, chat);
    notifications::register(io, Arc::new(config.notifications.clone()));
    publisher
}

/// Counts this node's sockets by namespace and transport, for `/metrics`.
fn socket_census<A: NodeAdapter>(io: &SocketIo<A>) -> metrics::SocketCensus {
    let io = io.clone();
    Arc::new(move || {
        let mut counts = Vec::new();
        for ns in io.nsps() {
            let path = ns.ns_path().to_owned();
            let sockets = ns.sockets();
            for transport in [TransportType::Polling, TransportType::Websocket] {
                let n = sockets
                    .iter()
                    .filter(|s| s.transport_type() == transport)
                    .count();
                counts.push((path.clone(), transport, n));
            }
        }
        counts
    })
}

/// A random per-process node id (8 hex digits).
fn random_node_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    // RandomState is seeded randomly per process; hashing the pid and time gives a fresh id.
    let hash = RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now()));
    format!("{:08x}", hash & 0xffff_ffff)
}

/// The TCP admission the limits describe; without a cap, the open-file limit
/// (raised to its hard maximum first) sets one.
fn tcp_admission(limits: &crate::config::LimitsConfig) -> Arc<TcpAdmission> {
    let max_total = match limits.max_tcp_connections {
        0 => {
            let open_files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
            tcp::default_max_connections(open_files)
        }
        n => n,
    };
    let exempt = limits
        .trusted_proxies
        .iter()
        .filter_map(|p| IpNet::parse(p))
        .collect();
    TcpAdmission::new(max_total, limits.max_tcp_connections_per_ip, exempt)
}
