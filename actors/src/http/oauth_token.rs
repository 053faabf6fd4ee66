//! `POST /security/oauth/token`: the OAuth2 client-credentials grant (RFC 6749 §4.4) that
//! Talkdesk's Digital Connect integration uses to authenticate its events.
//!
//! The client authenticates with HTTP Basic or with form fields (credentials from
//! `voxgate credentials add`); the answer is `{access_token, token_type: "Bearer", expires_in}`
//! with `Cache-Control: no-store`. Errors are §5.2's: `invalid_request` / `unsupported_grant_type`
//! (`400`), `invalid_client` (`401` with `WWW-Authenticate`). The store keeps the token's hash and
//! expiry; [`require_access_token`] checks it on the events API.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use voxgate_engine::auth::oauth::{self, OAuthError};
use voxgate_engine::store::{now_ms, StoreError};

use super::api_error::ApiError;
use crate::state::NodeState;

/// The path of the token endpoint.
pub(crate) const PATH: &str = "/security/oauth/token";

/// Mounts the endpoint.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::post().to(token))
        .route(PATH, super::only("POST"));
}

async fn token(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<Arc<NodeState>>,
) -> HttpResponse {
    // A token request is a few short form fields.
    let body = match super::body::read_limited(&req, body, 8 * 1024).await {
        Ok(b) => b,
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let text = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let request = match oauth::parse_token_request(
        text(header::AUTHORIZATION),
        text(header::CONTENT_TYPE),
        &body,
    ) {
        Ok(r) => r,
        Err(e) => return oauth_error(&e),
    };
    let ttl = state.config.digital_connect.token_ttl_secs;
    let store = Arc::clone(&state.store);
    let client_id = request.client_id.clone();
    let issued = web::block(move || {
        if !store.verify_credential(&request.client_id, &request.client_secret)? {
            return Ok(None);
        }
        let issued = oauth::issue(now_ms(), ttl);
        match store.put_token(&issued.token_hash, &request.client_id, issued.expires_at_ms) {
            Ok(()) => Ok(Some(issued)),
            // Revoked between the two calls.
            Err(StoreError::NotFound { .. } | StoreError::Revoked(_)) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await;
    match issued {
        Ok(Ok(Some(issued))) => {
            tracing::info!(client = %client_id, "issued a Digital Connect access token");
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(json!({
                    "access_token": issued.access_token,
                    "token_type": "Bearer",
                    "expires_in": issued.expires_in,
                }))
        }
        Ok(Ok(None)) => oauth_error(&OAuthError::InvalidClient(
            "unknown client, wrong secret or revoked credential".into(),
        )),
        Ok(Err(e)) => {
            actix_web::ResponseError::error_response(&ApiError::store_unavailable("credential", &e))
        }
        Err(e) => {
            actix_web::ResponseError::error_response(&ApiError::store_unavailable("credential", &e))
        }
    }
}

/// A §5.2 error body: `error` and `error_description`, plus the API-wide `message`.
fn oauth_error(e: &OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = HttpResponse::build(status);
    resp.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        resp.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"voxgate\""));
    }
    resp.json(json!({
        "error": e.code(),
        "error_description": e.to_string(),
        "message": e.to_string(),
    }))
}

/// Checks `Authorization: Bearer <access token>` against the store: missing, unknown, expired
/// or revoked → `401` with `WWW-Authenticate: Bearer` (RFC 6750 §3). Returns the client id.
pub(crate) async fn require_access_token(
    req: &HttpRequest,
    state: &NodeState,
) -> Result<String, HttpResponse> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(oauth::bearer_token);
    let Some(token) = token else {
        return Err(bearer_error(
            "Bearer realm=\"voxgate\"",
            "missing `Authorization: Bearer <access token>` header",
        ));
    };
    let hash = oauth::token_hash(token);
    let store = Arc::clone(&state.store);
    match web::block(move || store.check_token(&hash, now_ms())).await {
        Ok(Ok(Some(client))) => Ok(client),
        Ok(Ok(None)) => Err(bearer_error(
            "Bearer realm=\"voxgate\", error=\"invalid_token\"",
            "the access token is unknown, expired or revoked",
        )),
        Ok(Err(e)) => Err(actix_web::ResponseError::error_response(
            &ApiError::store_unavailable("token", &e),
        )),
        Err(e) => Err(actix_web::ResponseError::error_response(
            &ApiError::store_unavailable("token", &e),
        )),
    }
}

fn bearer_error(challenge: &'static str, message: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .json(json!({ "error": "invalid_token", "message": message }))
}
