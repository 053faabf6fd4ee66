//! Token checks shared by the API endpoints.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use super::api_error::ApiError;

/// Checks that header `header` of `req` carries `expected`: missing → `401`, wrong → `403`
/// (both JSON errors). The comparison takes the same time wherever the tokens differ.
pub(crate) fn require_token(
    req: &HttpRequest,
    header: &str,
    expected: &str,
) -> Result<(), ApiError> {
    let Some(given) = req.headers().get(header) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("missing `{header}` header"),
        ));
    };
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("wrong `{header}`"),
        ))
    }
}

/// Checks the call-control and conversation APIs' token (`/api/v1/…`): header
/// `Authorization: Bearer <[api] api_token>`. Missing header or scheme → `401`, wrong token →
/// `403`, compared in constant time.
pub(crate) fn require_api_token(req: &HttpRequest, expected: &str) -> Result<(), ApiError> {
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(given) = given else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing `Authorization: Bearer <api token>` header",
        ));
    };
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "wrong API token",
        ))
    }
}

/// Whether `given == expected`, in time that depends only on the length of `expected` (the
/// secret), not on where the first difference is nor on how long `given` is.
pub(crate) fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, &e) in expected.iter().enumerate() {
        // Past the end of `given` compare against a value that differs from `e`, so a prefix
        // never matches and the loop still runs to the end.
        let g = given.get(i).copied().unwrap_or(!e);
        diff |= g ^ e;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
        assert!(!constant_time_eq(b"x", b""));
    }
}
