//! Liveness and readiness, as JSON for load balancers and orchestrators.
//!
//! `/healthz` answers while the process serves HTTP at all. `/readyz` answers
//! 200 only while every dependency that registered a check (Redis adapter,
//! bridge, …) reports ready and the node is not draining for shutdown, so a
//! load balancer stops sending new clients before the node goes away. The
//! same verdict is the `iorelay_ready` gauge, for alerts.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde_json::json;

use crate::ops::metrics;

/// Shared readiness state; clone it into whatever can change it.
#[derive(Clone, Default)]
pub struct Health {
    // A std lock: held only to copy or set a few strings, never across an await.
    checks: Arc<RwLock<BTreeMap<&'static str, Result<(), String>>>>,
    /// This node's id, so clients and operators can tell which node answered.
    node: Arc<str>,
}

impl Health {
    /// Reports the state of one dependency; `Err` carries the cause shown by `/readyz`.
    pub fn set(&self, check: &'static str, state: Result<(), String>) {
        if let Ok(mut checks) = self.checks.write() {
            checks.insert(check, state);
            metrics::ready(checks.values().all(Result::is_ok));
        }
    }

    /// Health of the node `node`.
    pub fn for_node(node: &str) -> Self {
        metrics::ready(true);
        Self {
            checks: Arc::default(),
            node: node.into(),
        }
    }

    /// Marks the node as draining: `/readyz` fails from now on.
    pub fn set_draining(&self) {
        self.set("shutdown", Err("shutting down".to_owned()));
    }

    /// Whether every check is ready, with the causes of those that are not.
    pub fn readiness(&self) -> (bool, BTreeMap<&'static str, Result<(), String>>) {
        let checks = self.checks.read().map(|c| c.clone()).unwrap_or_default();
        (checks.values().all(Result::is_ok), checks)
    }
}

/// Routes `/healthz` and `/readyz`.
pub fn routes(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health)
}

async fn healthz(State(health): State<Health>) -> impl IntoResponse {
    Json(json!({ "status": "ok", "node": &*health.node }))
}

async fn readyz(State(health): State<Health>) -> impl IntoResponse {
    let (ready, checks) = health.readiness();
    let checks: BTreeMap<_, _> = checks
        .into_iter()
        .map(|(name, state)| match state {
            Ok(()) => (name, json!({ "ready": true })),
            Err(cause) => (name, json!({ "ready": false, "cause": cause })),
        })
        .collect();
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (
        status,
        Json(json!({ "status": word, "node": &*health.node, "checks": checks })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_json(router: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, serde_json::from_slice(&body).expect("json"))
    }

    #[tokio::test]
    async fn ready_until_a_check_fails_or_draining() {
        let health = Health::default();
        health.set("redis", Ok(()));
        let (status, body) = get_json(routes(health.clone()), "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ready");

        health.set("redis", Err("connection refused".into()));
        let (status, body) = get_json(routes(health.clone()), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"]["redis"]["cause"], "connection refused");

        health.set("redis", Ok(()));
        health.set_draining();
        let (status, body) = get_json(routes(health.clone()), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"]["shutdown"]["ready"], false);

        let (status, body) = get_json(routes(health), "/healthz").await;
        assert_eq!(status, StatusCode::OK, "alive while draining");
        assert_eq!(body["status"], "ok");
    }
}
