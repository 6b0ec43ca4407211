//! Running one node: compose it, serve, drain on shutdown.
//!
//! The caller binds the listener (tests bind port 0) and supplies the
//! shutdown trigger (the binary passes SIGTERM/SIGINT). [`run`] picks where
//! shared state lives ([`stores`]: memory, or Redis and its adapter),
//! [`compose`] builds the namespaces, backends and router, the listener serves
//! until shutdown, and [`drain`] ends it: not ready, stop accepting, close
//! every Engine.IO connection so clients reconnect elsewhere, wait a bounded
//! time for HTTP to drain.

mod compose;
mod drain;
pub mod shutdown;
mod stores;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socketioxide::adapter::Emitter;
use socketioxide::{SocketIo, SocketIoBuilder};
use socketioxide_redis::drivers::redis::ClusterDriver;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;

use crate::cluster::RedisLink;
use crate::cluster::driver::ResilientDriver;
use crate::cluster::ordered::Ordered;
use crate::config::{AdapterKind, Config};
use crate::ops::metrics;
use crate::security::auth::AuthGate;
use crate::socket::NodeAdapter;
use crate::transport::engine;
use crate::transport::listener;
use stores::{Stores, random_node_id};

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
    let builder = engine::configure(SocketIo::builder(), &config.engine).with_state(gate.clone());
    let Some(url) = config
        .cluster
        .redis_url
        .clone()
        .filter(|_| config.cluster.adapter == AdapterKind::Redis)
    else {
        let stores = Stores::memory(&config, node_id);
        return run_with(builder, stores, config, listener, apps, gate, shutdown).await;
    };
    let redis_error = |source| StartupError::Redis {
        url: config.to_redacted_redis_url(),
        source,
    };
    let prefix = config.cluster.redis_prefix.clone();
    let link = RedisLink::connect(&url, config.cluster.redis_sharded, &prefix, &node_id)
        .await
        .map_err(redis_error)?;
    let mut stores = Stores::redis(&config, node_id, link.clone());
    let adapter_config = RedisAdapterConfig::new()
        .with_prefix(prefix)
        .with_request_timeout(config.engine.ack_timeout());
    tracing::info!(sharded = config.cluster.redis_sharded, node = %stores.node_id, "using the Redis adapter");
    if config.cluster.redis_sharded {
        let client = redis::cluster::ClusterClientBuilder::new(vec![url.as_str()])
            .use_protocol(redis::ProtocolVersion::RESP3)
            .build()
            .map_err(redis_error)?;
        let driver = ClusterDriver::new(&client).await.map_err(redis_error)?;
        let ctr = RedisAdapterCtr::new_with_driver(Ordered::new(driver), adapter_config);
        let builder =
            builder.with_adapter::<CustomRedisAdapter<Emitter, Ordered<ClusterDriver>>>(ctr);
        run_with(builder, stores, config, listener, apps, gate, shutdown).await
    } else {
        let driver = ResilientDriver::connect(link.client.clone())
            .await
            .map_err(redis_error)?;
        stores.pubsub = Some(driver.clone());
        let ctr = RedisAdapterCtr::new_with_driver(Ordered::new(driver), adapter_config);
        let builder =
            builder.with_adapter::<CustomRedisAdapter<Emitter, Ordered<ResilientDriver>>>(ctr);
        run_with(builder, stores, config, listener, apps, gate, shutdown).await
    }
}

async fn run_with<A: NodeAdapter>(
    builder: SocketIoBuilder<A>,
    stores: Stores,
    config: Config,
    listener: TcpListener,
    apps: Apps,
    gate: Arc<AuthGate>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let (node, serving) = compose::compose(builder, &stores, &config, apps, gate).await?;
    let local = listener.local_addr().map_err(StartupError::Serve)?;
    let scheme = if serving.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        addr = %local,
        path = %config.engine.path,
        parser = ?config.engine.parser,
        eio3 = config.engine.allow_eio3,
        "listening on {scheme}://{local}"
    );
    let mut serve = tokio::spawn(listener::serve(
        listener,
        serving,
        node.stop_accepting.clone(),
    ));
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
    drain::drain(node, serve, deadline).await;
    Ok(())
}
