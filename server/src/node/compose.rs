//! Putting a node together: namespaces, backends, metrics, sessions, the router
//! and how its connections are served.
//!
//! Everything here is built once at start; [`super::run`] then serves what
//! [`compose`] returns and drains it ([`super::drain`]) on shutdown.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use socketioxide::{SocketIo, SocketIoBuilder, TransportType};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::apps::admin_ui;
use crate::apps::chat::{self, Chat};
use crate::apps::conformance;
use crate::apps::namespace_family::NamespaceFamily;
use crate::apps::notifications::{self, Notifications, sse};
use crate::apps::relay::{self, RelayPolicy};
use crate::backends::api;
use crate::backends::django_bridge::{self, groups::GroupMap, membership};
use crate::backends::flask_bridge::{self, AnswerOrder, stats::BridgeStats};
use crate::backends::forwarding::Forwarder;
use crate::backends::notifier::Notifier;
use crate::backends::notifier::fanout::Fanout;
use crate::backends::notifier::hub::Hub;
use crate::backends::pending_answers::PendingAnswers;
use crate::backends::publisher::{Publisher, SocketIoPublisher};
use crate::cluster;
use crate::config::{BUILTIN_NAMESPACES, Config};
use crate::ops::health::Health;
use crate::ops::metrics;
use crate::security::auth::AuthGate;
use crate::security::limits::tcp::{self, TcpAdmission};
use crate::socket::NodeAdapter;
use crate::transport::listener::Serving;
use crate::transport::router;
use crate::transport::sessions::Sessions;
use crate::transport::tls;

use super::stores::Stores;
use super::{Apps, StartupError};

/// A node ready to serve.
pub(super) struct Composed<A: NodeAdapter> {
    /// The Socket.IO server.
    pub io: SocketIo<A>,
    /// Its health, reported by `/healthz` and `/readyz`.
    pub health: Health,
    /// Its Engine.IO sessions as the HTTP layer knows them.
    pub sessions: Arc<Sessions>,
    /// Stops the background tasks (Redis monitor, Flask and Django bridges).
    pub background: CancellationToken,
    /// Stops accepting (main and metrics listeners).
    pub stop_accepting: CancellationToken,
    /// The Flask bridge's counters, when it runs.
    pub bridge: Option<Arc<BridgeStats>>,
    /// The Django bridge's task that leaves the layer's groups once stopped (core layer).
    pub django: Option<JoinHandle<()>>,
}

/// Builds the node `apps` asks for on `builder`'s engine, and how its
/// listener is to serve it.
pub(super) async fn compose<A: NodeAdapter>(
    builder: SocketIoBuilder<A>,
    stores: &Stores,
    config: &Config,
    apps: Apps,
    gate: Arc<AuthGate>,
) -> Result<(Composed<A>, Serving), StartupError> {
    let health = Health::for_node(&stores.node_id);
    let background = CancellationToken::new();
    if let Some(link) = &stores.redis {
        cluster::spawn_monitor(
            link.clone(),
            stores.pubsub.clone(),
            health.clone(),
            background.clone(),
        );
    }
    let (layer, io) = builder.build_layer();
    let mut bridge = None;
    let mut django = None;
    let routes = match apps {
        Apps::Conformance => {
            conformance::register(&io);
            Router::new()
        }
        Apps::Production => {
            let hub = Hub::new(io.clone(), stores.notifications.clone());
            let fanout = match &stores.redis {
                Some(link) => Some(
                    Fanout::start(link, hub.clone(), background.clone())
                        .await
                        .map_err(|source| StartupError::Redis {
                            url: config.to_redacted_redis_url(),
                            source,
                        })?,
                ),
                None => None,
            };
            let notifier = Notifier::new(hub.clone(), fanout, &stores.node_id);
            let app = Arc::new(Notifications {
                config: config.notifications.clone(),
                hub,
            });
            // Shared by event forwarding (marks) and the Flask bridge (waits).
            let pending = PendingAnswers::new();
            let publisher = register_production(
                &io,
                config,
                stores,
                notifier,
                app.clone(),
                pending.clone(),
                &background,
            );
            admin_ui::register(
                &io,
                &config.admin_ui,
                &stores.node_id,
                stores.redis.as_ref(),
                background.clone(),
            )
            .await
            .map_err(|source| StartupError::Redis {
                url: config.to_redacted_redis_url(),
                source,
            })?;
            bridge = flask_bridge::spawn(
                &config.flask,
                publisher.clone(),
                AnswerOrder {
                    pending,
                    wait: config.forwarding.forward_timeout(),
                },
                health.clone(),
                background.clone(),
            );
            let members = membership::local_groups(
                io.clone(),
                config.django.django_namespace.clone(),
                GroupMap::new(&config.django.django_user_group),
            );
            django = django_bridge::spawn(
                &config.django,
                publisher.clone(),
                members,
                &stores.node_id,
                health.clone(),
                background.clone(),
            );
            api::routes(&config.api, publisher).merge(sse::routes(sse::SseRoute {
                app,
                gate,
                heartbeat: Duration::from_secs(config.notifications.sse_heartbeat_secs),
                stop: background.clone(),
            }))
        }
    };
    let stop_accepting = CancellationToken::new();
    let routes = with_metrics(routes, &io, config, &stop_accepting).await?;
    let polling_only = config.engine.transports == [crate::config::Transport::Polling];
    let sessions = Sessions::new(
        &config.engine.path,
        config.engine.max_queued_bytes,
        polling_only,
    )
    .map_err(|_| StartupError::Serve(std::io::Error::other("no system randomness")))?;
    let app = router::build(config, layer, sessions.clone(), health.clone(), routes);
    sessions.set_router(app.clone());
    let serving = Serving {
        app,
        tls: tls::load(&config.tls)?.map(tls::acceptor),
        admission: tcp_admission(&config.limits),
        header_read_timeout: Duration::from_millis(config.server.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(config.server.idle_timeout_ms),
        body_read_timeout: Duration::from_millis(config.server.body_read_timeout_ms),
    };
    let node = Composed {
        io,
        health,
        sessions,
        background,
        stop_accepting,
        bridge,
        django,
    };
    Ok((node, serving))
}

/// `/metrics` beside `routes`, or on a listener of its own (`--metrics-listen`).
async fn with_metrics<A: NodeAdapter>(
    routes: Router,
    io: &SocketIo<A>,
    config: &Config,
    stop_accepting: &CancellationToken,
) -> Result<Router, StartupError> {
    let metrics_routes = metrics::routes(socket_census(io));
    let Some(addr) = config.metrics.metrics_listen else {
        return Ok(routes.merge(metrics_routes));
    };
    let metrics_listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let local = metrics_listener.local_addr().map_err(StartupError::Serve)?;
    tracing::info!("metrics on http://{local}/metrics");
    let serve_metrics = axum::serve(metrics_listener, metrics_routes)
        .with_graceful_shutdown(stop_accepting.clone().cancelled_owned())
        .into_future();
    tokio::spawn(serve_metrics);
    Ok(routes)
}

/// Registers every production namespace; returns the publisher backends act through.
fn register_production<A: NodeAdapter>(
    io: &SocketIo<A>,
    config: &Config,
    stores: &Stores,
    notifier: Notifier<A>,
    notifications: Arc<Notifications<A>>,
    pending: Arc<PendingAnswers>,
    background: &CancellationToken,
) -> Arc<dyn Publisher> {
    let generic = config.namespaces.generic_paths();
    // Every namespace registered by name, so that none is counted under a pattern.
    let admin = config
        .admin_ui
        .enabled()
        .then(|| config.admin_ui.admin_namespace.clone());
    let served = generic
        .iter()
        .cloned()
        .chain(BUILTIN_NAMESPACES.iter().map(|ns| (*ns).to_owned()))
        .chain(admin);
    metrics::label_namespaces(served.clone());
    let family = NamespaceFamily::new(
        io.clone(),
        &generic,
        config.namespaces.max_pattern_namespaces,
    );
    family.clone().spawn_sweeper(background.clone());
    let publisher: Arc<dyn Publisher> = Arc::new(
        SocketIoPublisher::new(io.clone(), notifier)
            .serving(served)
            .opening(family.clone()),
    );
    let policy = Arc::new(RelayPolicy {
        enabled: config.namespaces.client_relay,
        max_rooms: config.chat.max_rooms_per_socket,
        max_namespace_rooms: config.namespaces.max_rooms_per_namespace,
        ack_timeout: config.engine.ack_timeout(),
    });
    let forwarder = Forwarder::new(&config.forwarding, publisher.clone(), pending);
    for path in generic {
        relay::register(io, path, policy.clone(), forwarder.clone(), family.clone());
    }
    let chat = Arc::new(Chat {
        config: config.chat.clone(),
        history: stores.history.clone(),
        presence: stores.presence.clone(),
    });
    chat::register(io, chat);
    notifications::register(io, notifications);
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
    TcpAdmission::new(
        max_total,
        limits.max_tcp_connections_per_ip,
        limits.trusted_proxies.clone(),
    )
}
