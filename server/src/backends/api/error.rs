//! How the publish API's failures become answers.
//!
//! The API refuses with [`HttpRefusal`]: `{error: {code, message}}`, its status
//! following from the code (see [`crate::protocol::error`]). This module names
//! the refusals its handlers give and turns the publisher's errors into them;
//! causes that are ours, not the caller's, are logged and answered with a
//! generic message.

use crate::backends::publisher::PublishError;
use crate::protocol::ErrorCode;
use crate::protocol::error::HttpRefusal;

/// 400 `bad_request`.
pub fn bad_request(message: impl Into<String>) -> HttpRefusal {
    HttpRefusal::api(ErrorCode::BadRequest, message)
}

/// 401 `unauthorized`.
pub fn unauthorized(message: impl Into<String>) -> HttpRefusal {
    HttpRefusal::api(ErrorCode::Unauthorized, message)
}

impl From<PublishError> for HttpRefusal {
    fn from(e: PublishError) -> Self {
        let code = match e {
            PublishError::UnknownNamespace(_) => ErrorCode::UnknownNamespace,
            PublishError::InvalidEvent(_) => ErrorCode::InvalidEvent,
            PublishError::InvalidArgs(_) => ErrorCode::BadRequest,
            PublishError::ConnectionRoom(_) => ErrorCode::InvalidRoom,
            PublishError::Delivery(_) => {
                tracing::error!(error = %e, "publish API delivery failed");
                return HttpRefusal::api(
                    ErrorCode::DeliveryFailed,
                    "the server could not deliver the request; try again",
                );
            }
        };
        HttpRefusal::api(code, e.to_string())
    }
}
