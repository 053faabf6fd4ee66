//! Reading a request body with a size cap, answering the API's JSON errors (`413
//! payload_too_large`, `400 bad_request`) instead of actix's plain-text ones.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};

use super::api_error::ApiError;

/// The whole body of `req`, refused with `413` when it is (or says it is) over `max` bytes.
pub(crate) async fn read_limited(
    req: &HttpRequest,
    body: web::Payload,
    max: usize,
) -> Result<web::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body exceeds {max} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match body.to_bytes_limited(max).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ApiError::bad_request("the body could not be read")),
        Err(_) => Err(too_large()),
    }
}
