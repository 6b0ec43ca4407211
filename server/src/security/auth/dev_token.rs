//! `POST /auth/dev-token`: tokens for the demo, minted for anyone who asks.
//!
//! Real deployments get tokens from their own identity provider; the demo
//! client has none, so `--dev-auth` lets it ask iorelay for a short-lived
//! HS256 token signed with `--jwt-secret`. Off by default, and loudly
//! logged when on: anyone who can reach the endpoint can be anyone.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::routing::post;
use jsonwebtoken::{EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::AuthConfig;
use crate::protocol::ErrorCode;
use crate::protocol::error::HttpRefusal;
use crate::security::identity::validate_name;

/// Lifetime of a dev token.
pub const DEV_TOKEN_TTL_SECS: u64 = 15 * 60;

/// `POST /auth/dev-token` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevTokenRequest {
    /// Display name; the user id becomes `dev:<name lowercased>`.
    pub name: String,
}

/// `POST /auth/dev-token` answer.
#[derive(Debug, Serialize)]
pub struct DevTokenResponse {
    /// The signed token (HS256).
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

struct Minter {
    key: EncodingKey,
    audience: Option<String>,
    issuer: Option<String>,
}

/// The route, when `--dev-auth` is on and a secret is configured; `None` otherwise.
pub fn routes(config: &AuthConfig) -> Option<Router> {
    if !config.dev_auth {
        return None;
    }
    let secret = config.jwt_secret.as_ref()?;
    tracing::warn!(
        "--dev-auth is ON: POST /auth/dev-token gives a valid token to anyone who asks; never use it in production"
    );
    let minter = Arc::new(Minter {
        key: EncodingKey::from_secret(secret.as_bytes()),
        audience: config.jwt_audience.clone(),
        issuer: config.jwt_issuer.clone(),
    });
    Some(
        Router::new()
            .route("/auth/dev-token", post(mint))
            .with_state(minter),
    )
}

async fn mint(
    State(minter): State<Arc<Minter>>,
    body: Result<Json<DevTokenRequest>, JsonRejection>,
) -> Result<Json<DevTokenResponse>, HttpRefusal> {
    // Any unreadable body, an oversized one included, is a 400 `bad_request`.
    let Json(req) = body.map_err(|e| HttpRefusal::api(ErrorCode::BadRequest, e.body_text()))?;
    let name =
        validate_name(&req.name).map_err(|e| HttpRefusal::api(ErrorCode::BadRequest, e.message))?;
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "sub": format!("dev:{}", name.to_lowercase()),
        "name": name,
        "iat": now,
        "exp": now + DEV_TOKEN_TTL_SECS,
    });
    if let Some(aud) = &minter.audience {
        claims["aud"] = json!(aud);
    }
    if let Some(iss) = &minter.issuer {
        claims["iss"] = json!(iss);
    }
    let token = jsonwebtoken::encode(&Header::default(), &claims, &minter.key).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a dev token");
        HttpRefusal::api(ErrorCode::Internal, "cannot sign the token")
    })?;
    Ok(Json(DevTokenResponse {
        token,
        expires_in: DEV_TOKEN_TTL_SECS,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::auth::{Admission, AuthGate};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    fn config(dev_auth: bool) -> AuthConfig {
        AuthConfig {
            jwt_secret: Some("0123456789abcdef0123456789abcdef".into()),
            jwt_public_key: None,
            jwt_audience: Some("demo".into()),
            jwt_issuer: None,
            private_namespaces: vec![],
            dev_auth,
        }
    }

    async fn post(router: Router, body: &str) -> (StatusCode, serde_json::Value) {
        let response = router
            .oneshot(
                Request::post("/auth/dev-token")
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_owned()))
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn minted_tokens_are_accepted_by_the_gate() {
        let router = routes(&config(true)).expect("on");
        let (status, body) = post(router, r#"{"name":"Ada"}"#).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = body["token"].as_str().expect("token").to_owned();
        let gate = AuthGate::from_config(&config(true)).expect("gate");
        let Ok(Admission::User(grant)) = gate.admit("/chat", Ok(Some(token))) else {
            panic!("minted token refused")
        };
        let user = grant.user;
        assert_eq!((user.id.as_str(), user.name.as_str()), ("dev:ada", "Ada"));
    }

    #[tokio::test]
    async fn bad_bodies_are_400() {
        let router = routes(&config(true)).expect("on");
        for body in ["{}", r#"{"name":""}"#, "not json", r#"{"name":"a","x":1}"#] {
            let (status, json) = post(router.clone(), body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(json["error"]["code"], "bad_request");
        }
    }

    #[test]
    fn off_by_default() {
        assert!(routes(&config(false)).is_none());
    }
}
