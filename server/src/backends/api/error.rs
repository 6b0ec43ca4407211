//! The publish API's one error type: a status, a stable code, a message.
//!
//! Clients get `{error: {code, message}}`; causes that are ours, not theirs,
//! are logged and answered with a generic message.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::backends::publisher::PublishError;

/// An error answer of the publish API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Explanation.
    pub message: String,
}

/// Body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorDetail,
}

/// `error` of an [`ErrorResponse`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code: `unauthorized`, `bad_request`, `payload_too_large`, `unknown_namespace`,
    /// `invalid_event`, `delivery_failed`.
    pub code: String,
    /// Explanation.
    pub message: String,
}

impl ApiError {
    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Self {
                status,
                code: "payload_too_large",
                message: "the request body is larger than the API accepts".to_owned(),
            };
        }
        Self::bad_request(rejection.body_text())
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::UnknownNamespace(_) => Self {
                status: StatusCode::NOT_FOUND,
                code: "unknown_namespace",
                message: e.to_string(),
            },
            PublishError::InvalidEvent(_) => Self {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_event",
                message: e.to_string(),
            },
            PublishError::InvalidArgs(_) => Self::bad_request(e.to_string()),
            PublishError::Delivery(_) => {
                tracing::error!(error = %e, "publish API delivery failed");
                Self {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "delivery_failed",
                    message: "the server could not deliver the request; try again".to_owned(),
                }
            }
        }
    }
}
