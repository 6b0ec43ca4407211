//! Every error a client can be told, and the ways it is told.
//!
//! A client that is refused something (an event, a namespace CONNECT, an HTTP
//! request) gets a stable [`ErrorCode`] for programs and a message for people;
//! the cause stays in the server's log. [`ErrorCode`] is the one list of those
//! codes, on every path, and README's "Error codes" table documents each (a
//! test keeps the two in step). A [`Refusal`] is a code and its message, rendered:
//! - into an event's acknowledgement by [`Reply`](super::Reply): `{ok: false, error: {code, message}}`;
//! - into a `connect_error` by its `Display`: `"<code>: <message>"`, because
//!   socketioxide sends only a `message` in CONNECT_ERROR packets (no `data`),
//!   so the code leads it where programs can split it off;
//! - into an HTTP answer by [`HttpRefusal`], whose status follows from the code;
//! - as itself, `{code, message}`, in the notices of the [`ERROR_EVENT`].
//!
//! Refusal types closer to their causes (token checks, handshake limits,
//! forwarding failures) name their code and become a [`Refusal`] through `From`,
//! so no code is ever written into a message and split back out.

use std::fmt;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

/// The event of the server → client notices (`rate_limited`, `token_expired`):
/// a [`Refusal`] that answers no request in particular.
pub const ERROR_EVENT: &str = "error";

/// Declares [`ErrorCode`] from one table: variant, the code clients see, the
/// HTTP status it is answered with. A macro so that [`ErrorCode::ALL`] cannot
/// miss a variant.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal, $status:ident;)*) => {
        /// A stable, machine-readable error code sent to clients.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            #[cfg(test)]
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as clients see it, e.g. `"invalid_room"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The status of an HTTP answer with this code. Codes that today
            /// only reach acks and `connect_error` have the status their meaning implies.
            pub fn http_status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }
        }
    };
}

error_codes! {
    /// The payload or request body is not of the documented shape.
    BadRequest = "bad_request", BAD_REQUEST;
    /// A room name is empty, too long or has characters that are not allowed.
    InvalidRoom = "invalid_room", BAD_REQUEST;
    /// An event name is empty, too long or reserved by Socket.IO or iorelay.
    InvalidEvent = "invalid_event", BAD_REQUEST;
    /// The socket is in as many rooms as it may be.
    TooManyRooms = "too_many_rooms", CONFLICT;
    /// The node holds as many namespaces of patterns as it may.
    TooManyNamespaces = "too_many_namespaces", SERVICE_UNAVAILABLE;
    /// The room must be joined first.
    NotInRoom = "not_in_room", CONFLICT;
    /// A text is empty or too long.
    InvalidText = "invalid_text", BAD_REQUEST;
    /// A display name is empty, too long, has control or invisible characters, or is taken.
    InvalidName = "invalid_name", BAD_REQUEST;
    /// A topic is not one the server allows.
    InvalidTopic = "invalid_topic", BAD_REQUEST;
    /// A cursor (`before`, `after`, `limit`; an SSE `Last-Event-ID`) is out of range or malformed.
    InvalidCursor = "invalid_cursor", BAD_REQUEST;
    /// Binary placeholders that do not match the attachments sent, or an
    /// argument holding an object with a `_placeholder` key.
    InvalidBinary = "invalid_binary", BAD_REQUEST;
    /// The server could not complete the request; the cause is in its log.
    Internal = "internal", INTERNAL_SERVER_ERROR;
    /// The backend an event or a connection is forwarded to did not answer (in time).
    BackendUnavailable = "backend_unavailable", SERVICE_UNAVAILABLE;
    /// The backend an event or a connection is forwarded to answered with an
    /// error or a malformed answer.
    BackendError = "backend_error", BAD_GATEWAY;
    /// The connect hook of the namespace's backend refused the connection.
    ConnectionRefused = "connection_refused", FORBIDDEN;
    /// The namespace is private and no token came.
    TokenMissing = "token_missing", UNAUTHORIZED;
    /// The token's `exp` has passed.
    TokenExpired = "token_expired", UNAUTHORIZED;
    /// The token is not valid (signature, algorithm, shape, `nbf`, `aud`, `iss`, size),
    /// or, to refresh a connection's, another user's.
    TokenInvalid = "token_invalid", UNAUTHORIZED;
    /// Too many handshakes, CONNECTs or events from this client lately.
    RateLimited = "rate_limited", TOO_MANY_REQUESTS;
    /// The client's address holds as many connections as it may.
    TooManyConnections = "too_many_connections", TOO_MANY_REQUESTS;
    /// The node holds as many connections as it may.
    ServerFull = "server_full", SERVICE_UNAVAILABLE;
    /// The request's `Origin` is not allowed to use the Socket.IO endpoint.
    OriginNotAllowed = "origin_not_allowed", FORBIDDEN;
    /// The publish API key is missing or wrong, or the API is disabled.
    Unauthorized = "unauthorized", UNAUTHORIZED;
    /// The request body is larger than the endpoint accepts.
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE;
    /// The namespace is not one this server serves.
    UnknownNamespace = "unknown_namespace", NOT_FOUND;
    /// No socket of that id is connected to the namespace.
    UnknownSocket = "unknown_socket", NOT_FOUND;
    /// The server could not deliver what the publish API was asked to; the cause is in its log.
    DeliveryFailed = "delivery_failed", SERVICE_UNAVAILABLE;
}

impl ErrorCode {
    /// Whether a refusal with this code says "later" rather than "never":
    /// its HTTP answer then carries `Retry-After: 1`.
    fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited | ErrorCode::TooManyConnections | ErrorCode::ServerFull
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What a client is told when iorelay refuses something: `{code, message}`.
///
/// The same object is an acknowledgement's `error`, the payload of the
/// `error` event notices (`rate_limited`, `token_expired`) and, over HTTP, the
/// body (or the body's `error`, see [`HttpSurface`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(
    as = ErrorDetail,
    description = "An error: a stable code for programs, a message for people."
)]
pub struct Refusal {
    /// Stable code for programs: one of README's Error codes table.
    #[schema(value_type = String, example = "unknown_namespace")]
    pub code: ErrorCode,
    /// Explanation for people.
    pub message: String,
}

impl Refusal {
    /// A refusal with its code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// `"<code>: <message>"`: the `message` of a `connect_error` (socketioxide
/// sends a connect middleware's error as its `Display`), and how logs show a refusal.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Which HTTP surface answers a refusal; each keeps the body shape its clients
/// already read, so the one [`Refusal`] has two HTTP renderings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpSurface {
    /// The Engine.IO endpoint (handshake limits, origins): `{code, message}`,
    /// the shape of Engine.IO's own error bodies on that endpoint
    /// (`{"code":1,"message":"Session ID unknown"}`), so a client reads one shape there.
    EngineIo,
    /// The JSON endpoints (publish API, dev tokens): `{error: {code, message}}`,
    /// as the publish API's OpenAPI document describes ([`ErrorResponse`]).
    Api,
}

/// The body of every error answer of the JSON endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// The error.
    pub error: Refusal,
}

/// A refusal answered over HTTP: status from the code, body shaped for the surface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRefusal {
    /// Who answers, hence the body's shape.
    pub surface: HttpSurface,
    /// What the client is told.
    pub refusal: Refusal,
}

impl HttpRefusal {
    /// A refusal of a JSON endpoint: `{error: {code, message}}`.
    pub fn api(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            surface: HttpSurface::Api,
            refusal: Refusal::new(code, message),
        }
    }

    /// A refusal of an Engine.IO request: `{code, message}`.
    pub fn engine_io(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            surface: HttpSurface::EngineIo,
            refusal: Refusal::new(code, message),
        }
    }
}

impl IntoResponse for HttpRefusal {
    fn into_response(self) -> Response {
        let code = self.refusal.code;
        let body = match self.surface {
            HttpSurface::EngineIo => Json(self.refusal).into_response(),
            HttpSurface::Api => Json(ErrorResponse {
                error: self.refusal,
            })
            .into_response(),
        };
        let mut response = (code.http_status(), body).into_response();
        if code.is_transient() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A JSON body that did not parse: 413 `payload_too_large` or 400 `bad_request`.
impl From<JsonRejection> for HttpRefusal {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::api(
                ErrorCode::PayloadTooLarge,
                "the request body is larger than the API accepts",
            );
        }
        Self::api(ErrorCode::BadRequest, rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn answer(refusal: HttpRefusal) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = refusal.into_response();
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, retry, serde_json::from_slice(&bytes).expect("json"))
    }

    #[test]
    fn codes_are_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
            assert!(seen.insert(text), "{text} twice");
            assert_eq!(serde_json::to_value(code).expect("json"), json!(text));
            assert_eq!(code.to_string(), text);
        }
    }

    #[test]
    fn connect_error_messages_lead_with_the_code() {
        let refusal = Refusal::new(ErrorCode::InvalidName, "a display name is required");
        assert_eq!(
            refusal.to_string(),
            "invalid_name: a display name is required"
        );
    }

    #[tokio::test]
    async fn each_surface_keeps_its_body_shape() {
        let (status, retry, body) =
            answer(HttpRefusal::engine_io(ErrorCode::ServerFull, "full")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(body, json!({"code": "server_full", "message": "full"}));
        let (status, retry, body) =
            answer(HttpRefusal::api(ErrorCode::UnknownNamespace, "no /x")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(retry, None);
        assert_eq!(
            body,
            json!({"error": {"code": "unknown_namespace", "message": "no /x"}})
        );
    }

    #[test]
    fn engine_io_bodies_are_byte_for_byte_what_clients_had() {
        let body = serde_json::to_string(&Refusal::new(
            ErrorCode::OriginNotAllowed,
            "Origin not allowed",
        ))
        .expect("json");
        assert_eq!(
            body,
            r#"{"code":"origin_not_allowed","message":"Origin not allowed"}"#
        );
    }

    /// The rows of README's "Error codes" table: code, then the HTTP status cell.
    fn readme_rows() -> Vec<(String, String)> {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("\n## Error codes\n")
            .nth(1)
            .expect("README has an Error codes section");
        let section = section.split("\n## ").next().unwrap_or(section);
        section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((code.to_owned(), cells.get(3)?.to_string()))
            })
            .collect()
    }

    #[test]
    fn readme_lists_every_error_code_once() {
        let rows = readme_rows();
        for code in ErrorCode::ALL {
            let listed = rows.iter().filter(|(c, _)| c == code.as_str()).count();
            assert_eq!(
                listed, 1,
                "README's Error codes table lists {code} {listed} times"
            );
        }
        for (code, status) in &rows {
            let known = ErrorCode::ALL
                .iter()
                .find(|c| c.as_str() == code)
                .unwrap_or_else(|| panic!("README lists {code}, which is no ErrorCode"));
            if status != "—" {
                assert_eq!(
                    status,
                    &known.http_status().as_u16().to_string(),
                    "README's HTTP status of {code}"
                );
            }
        }
    }
}
