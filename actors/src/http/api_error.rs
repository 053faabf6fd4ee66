//! The JSON error of the API handlers: `{"error": CODE, "message": TEXT}` with a status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// An error answer; handlers return it with `?` and actix renders it with [`super::json_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, machine-readable code and human message.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// `503 store_unavailable` for a failed store call (logged and counted under `what`).
    pub(crate) fn store_unavailable(what: &'static str, e: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %e, what, "store request failed");
        metrics::counter!(crate::metrics::STORE_ERRORS, "what" => what).increment(1);
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store did not answer; retry later",
        )
    }

    /// `400 bad_request`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        super::json_error(self.status, self.code, &self.message)
    }
}
