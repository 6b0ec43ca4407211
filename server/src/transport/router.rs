//! The HTTP surface of one node: Socket.IO endpoint, health, static files
//! (the demo, and a local copy of the Admin UI).
//!
//! Kept apart from the listener so routes can be tested with
//! `tower::ServiceExt::oneshot` and so every mode (production, conformance)
//! wraps the engine in the same origin, limit, version and tracing layers.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Redirect, Response};
use socketioxide::adapter::Adapter;
use socketioxide::layer::SocketIoLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::ops::health::{self, Health};
use crate::security::limits::connections::{self, ConnectionLimiter};
use crate::security::origin::{self, OriginPolicy};
use crate::transport::sessions::{self, Sessions};
use crate::{security::auth, transport::engine, transport::owned_head};

/// Builds the router of a node around its Socket.IO layer; `routes` are the mode's own.
pub fn build<A: Adapter>(
    config: &Config,
    socketio: SocketIoLayer<A>,
    sessions: Arc<Sessions>,
    health: Health,
    routes: Router,
) -> Router {
    let mut router = Router::new().merge(health::routes(health)).merge(routes);
    if let Some(dev_tokens) = auth::dev_token::routes(&config.auth) {
        router = router.merge(dev_tokens);
    }
    if let Some(dir) = &config.admin_ui.admin_ui_dir {
        let ui = Router::new()
            .nest_service(ADMIN_UI_PATH, ServeDir::new(dir))
            .layer(from_fn(with_trailing_slash));
        router = router.merge(ui);
    }
    if let Some(dir) = &config.server.static_dir {
        router = router.fallback_service(static_files(dir));
    }
    // The Socket.IO layer sees requests first and passes the rest to the routes.
    router = router.layer(socketio);
    router = router.layer(from_fn(owned_head::own_session_head));
    router = router.layer(from_fn(move |request, next| {
        sessions::guard(sessions.clone(), request, next)
    }));
    if !config.engine.allow_eio3 {
        router = router.layer(from_fn(engine::reject_eio3));
    }
    // Limits come after the origin check (foreign pages cost no handshake tokens).
    let limiter = ConnectionLimiter::new(&config.limits, &config.engine.path);
    router = router.layer(from_fn(move |request, next| {
        connections::enforce(limiter.clone(), request, next)
    }));
    let policy = OriginPolicy::new(&config.server.cors_origins, &config.engine.path);
    let cors = policy.cors_layer();
    router
        .layer(from_fn(move |request, next| {
            origin::enforce(policy.clone(), request, next)
        }))
        .layer(cors)
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
}

/// The span of one HTTP request, as tower-http's default but with tokens in
/// the query masked (socket.io-client 2.x can only send its token there).
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    // tower-http's target, so `RUST_LOG=tower_http=debug` shows it as before.
    tracing::debug_span!(
        target: "tower_http::trace::make_span",
        "request",
        method = %request.method(),
        uri = %auth::redact_uri_tokens(request.uri()),
        version = ?request.version(),
    )
}

/// Where `--admin-ui-dir` is served.
pub const ADMIN_UI_PATH: &str = "/admin-ui";

/// The UI's files name each other relatively, so `/admin-ui` must become `/admin-ui/`.
async fn with_trailing_slash(request: Request, next: Next) -> Response {
    if request.uri().path() == ADMIN_UI_PATH {
        return Redirect::permanent("/admin-ui/").into_response();
    }
    next.run(request).await
}

/// Files of `dir`; unknown paths get its `index.html` so client-side routes work.
fn static_files(dir: &Path) -> ServeDir<ServeFile> {
    // `fallback`, not `not_found_service`: client-side routes answer 200, not 404.
    ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")))
}
