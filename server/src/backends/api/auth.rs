//! API keys: who may call the publish API.
//!
//! A key comes as `Authorization: Bearer <key>` or `X-API-Key: <key>` and is
//! compared in constant time with every configured key, so several keys can be
//! live during a rotation and timing tells an attacker nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::backends::api::error::unauthorized;
use crate::protocol::error::HttpRefusal;

/// The configured keys.
#[derive(Debug, Clone)]
pub struct ApiKeys(Arc<[String]>);

impl ApiKeys {
    /// Keys from the configuration.
    pub fn new(keys: &[String]) -> Self {
        Self(keys.iter().cloned().collect())
    }

    /// Whether `candidate` is one of the keys (constant time per key).
    pub fn accepts(&self, candidate: &str) -> bool {
        self.0.iter().fold(false, |found, key| {
            found | bool::from(key.as_bytes().ct_eq(candidate.as_bytes()))
        })
    }

    /// Checks the request's credentials.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), HttpRefusal> {
        if self.0.is_empty() {
            return Err(unauthorized(
                "the publish API is disabled: the server has no API keys configured",
            ));
        }
        let bearer = crate::security::auth::bearer_token(headers);
        let api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
        match bearer.or(api_key) {
            None => Err(unauthorized(
                "an API key is required (Authorization: Bearer <key> or X-API-Key)",
            )),
            Some(key) if self.accepts(key.trim()) => Ok(()),
            Some(_) => Err(unauthorized("the API key is not valid")),
        }
    }
}

/// Middleware: 401 unless the request carries a valid key.
pub async fn require_key(keys: ApiKeys, request: Request<Body>, next: Next) -> Response {
    match keys.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            tracing::warn!(path = %request.uri().path(), code = e.refusal.code.as_str(), "publish API call refused");
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn bearer_or_x_api_key_with_rotation() {
        let keys = ApiKeys::new(&["old-key-0123456789".into(), "new-key-0123456789".into()]);
        assert!(
            keys.check(&headers("authorization", "Bearer old-key-0123456789"))
                .is_ok()
        );
        assert!(
            keys.check(&headers("x-api-key", "new-key-0123456789"))
                .is_ok()
        );
        assert_eq!(
            keys.check(&headers("x-api-key", "new-key-012345678"))
                .map_err(|e| e.refusal.code),
            Err(ErrorCode::Unauthorized)
        );
        assert!(keys.check(&HeaderMap::new()).is_err());
        assert!(
            keys.check(&headers("authorization", "Basic old-key-0123456789"))
                .is_err()
        );
    }

    #[test]
    fn no_keys_means_disabled() {
        let keys = ApiKeys::new(&[]);
        let err = keys.check(&headers("x-api-key", "")).expect_err("disabled");
        assert!(err.refusal.message.contains("disabled"));
    }
}
