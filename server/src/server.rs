//! Running one node: build the engine and namespaces, serve, drain on shutdown.
//!
//! The caller binds the listener (tests bind port 0) and supplies the
//! shutdown trigger (the binary passes SIGTERM/SIGINT). On shutdown the node
//! reports not ready, stops accepting, closes every Engine.IO connection so
//! clients reconnect elsewhere, and waits a bounded time for HTTP to drain.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::namespaces::NodeAdapter;
use socketioxide::{SocketIo, SocketIoBuilder};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::chat::history::MemoryHistory;
use crate::chat::presence::MemoryPresence;
use crate::chat::{self, Chat};
use crate::config::Config;
use crate::health::Health;
use crate::namespaces::relay::{self, RelayPolicy};
use crate::notifications::Notifier;
use crate::publisher::{Publisher, SocketIoPublisher};
use crate::{api, app, conformance, engine, notifications};
use axum::Router;

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
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })
}

/// Serves on `listener` until `shutdown` resolves, then drains and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    apps: Apps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let builder = engine::configure(SocketIo::builder(), &config.engine);
    run_with(builder, config, listener, apps, shutdown).await
}

async fn run_with<A: NodeAdapter>(
    builder: SocketIoBuilder<A>,
    config: Config,
    listener: TcpListener,
    apps: Apps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let health = Health::default();
    let (layer, io) = builder.build_layer();
    let routes = match apps {
        Apps::Conformance => {
            conformance::register(&io);
            Router::new()
        }
        Apps::Production => {
            let publisher = register_production(&io, &config);
            api::routes(&config.api, publisher)
        }
    };
    let router = app::router(&config, layer, health.clone(), routes);

    let local = listener.local_addr().map_err(StartupError::Serve)?;
    tracing::info!(
        addr = %local,
        path = %config.engine.path,
        parser = ?config.engine.parser,
        eio3 = config.engine.allow_eio3,
        "listening on http://{local}"
    );
    let stop_accepting = CancellationToken::new();
    let serve = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop_accepting.clone().cancelled_owned())
    .into_future();
    let mut serve = tokio::spawn(serve);

    tokio::select! {
        () = shutdown => {}
        result = &mut serve => {
            return match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(StartupError::Serve(e)),
                Err(e) => Err(StartupError::Serve(std::io::Error::other(e))),
            };
        }
    }

    let deadline = Duration::from_millis(config.server.shutdown_timeout_ms);
    health.set_draining();
    stop_accepting.cancel();
    let sockets: usize = io.nsps().iter().map(|ns| ns.clone().sockets().len()).sum();
    tracing::info!(
        sockets,
        "draining: closing every connection so clients reconnect elsewhere"
    );
    let drained = tokio::time::timeout(deadline, async {
        io.close().await;
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
fn register_production<A: NodeAdapter>(io: &SocketIo<A>, config: &Config) -> Arc<dyn Publisher> {
    let policy = Arc::new(RelayPolicy {
        enabled: config.namespaces.client_relay,
        max_rooms: config.chat.max_rooms_per_socket,
        ack_timeout: config.engine.ack_timeout(),
    });
    for path in config.namespaces.generic_paths() {
        relay::register(io, path, policy.clone());
    }
    let chat = Arc::new(Chat {
        config: config.chat.clone(),
        history: Arc::new(MemoryHistory::new(config.chat.chat_history_size)),
        presence: Arc::new(MemoryPresence::default()),
    });
    chat::register(io, chat);
    notifications::register(io, Arc::new(config.notifications.clone()));
    let node = format!("{:08x}", rand_node_id());
    Arc::new(SocketIoPublisher::new(
        io.clone(),
        Notifier::new(io.clone(), &node),
    ))
}

/// A per-process id, so notification ids from different nodes never collide.
fn rand_node_id() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    // RandomState is seeded from the OS per process; hashing the pid gives a random-enough id.
    let hash = RandomState::new().hash_one(std::process::id());
    (hash & 0xffff_ffff) as u32
}
