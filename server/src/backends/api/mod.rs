//! The HTTP publish API (`/api/v1`): how any backend pushes to sockets.
//!
//! Every call but the OpenAPI document needs an API key. The document at
//! `/api/v1/openapi.json` is generated from the handlers' annotations, so it
//! cannot drift from what the code accepts.

pub mod auth;
pub mod error;
pub mod handlers;
pub mod payloads;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn;
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::backends::publisher::Publisher;
use crate::config::ApiConfig;
use auth::ApiKeys;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Where operations go.
    pub publisher: Arc<dyn Publisher>,
    /// Cap on `ack_timeout_ms`.
    pub max_ack_timeout_ms: u64,
}

/// The OpenAPI description of the publish API.
#[derive(OpenApi)]
#[openapi(
    info(title = "iorelay publish API", description = "Push events, notifications and room changes to Socket.IO clients."),
    paths(handlers::emit, handlers::disconnect, handlers::join_rooms, handlers::leave_rooms,
          handlers::room_sockets, handlers::socket_rooms, handlers::notify),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Routes under `/api/v1`.
pub fn routes(config: &ApiConfig, publisher: Arc<dyn Publisher>) -> Router {
    let keys = ApiKeys::new(&config.api_keys);
    let state = ApiState {
        publisher,
        max_ack_timeout_ms: config.api_max_ack_timeout_ms,
    };
    let protected = Router::new()
        .route("/api/v1/emit", post(handlers::emit))
        .route("/api/v1/disconnect", post(handlers::disconnect))
        .route("/api/v1/rooms/join", post(handlers::join_rooms))
        .route("/api/v1/rooms/leave", post(handlers::leave_rooms))
        .route(
            "/api/v1/namespaces/{ns}/rooms/{room}/sockets",
            get(handlers::room_sockets),
        )
        .route(
            "/api/v1/namespaces/{ns}/sockets/{sid}/rooms",
            get(handlers::socket_rooms),
        )
        .route("/api/v1/notify", post(handlers::notify))
        // A route layer: paths outside the API must not answer 401.
        .route_layer(from_fn(move |request, next| {
            auth::require_key(keys.clone(), request, next)
        }))
        // After the key check in the chain, so refused calls are counted too.
        .route_layer(from_fn(crate::ops::metrics::track_api))
        .layer(DefaultBodyLimit::max(config.api_max_body))
        .with_state(state);
    Router::new()
        .route(
            "/api/v1/openapi.json",
            get(async || Json(ApiDoc::openapi())),
        )
        .merge(protected)
}
