//! `POST /api/public/bot/{botId}/conversationDetails`: the conversation details and summary of a
//! call, read from its session record (ARCHITECTURE §3; the response shape is the engine's
//! [`voxgate_engine::session_details`]).
//!
//! Header `auth: <JWT>`: HS256, signed with the bot's client secret, `appId` = its client id.
//! Unknown bot → `404`; missing/bad token or a bot without credentials → `401`; a body without
//! `sessionId`/`callId` or with bad paging → `400`; no record of that bot → `404`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use voxgate_engine::auth::jwt;
use voxgate_engine::session_details::{details, DetailsRequest, SessionKey};

use super::api_error::ApiError;
use crate::state::NodeState;

/// The header carrying the JWT.
pub(crate) const AUTH_HEADER: &str = "auth";

/// Mounts the endpoint.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let path = "/api/public/bot/{bot_id}/conversationDetails";
    cfg.route(path, web::post().to(conversation_details))
        .route(path, super::only("POST"));
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

async fn conversation_details(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    state: web::Data<Arc<NodeState>>,
) -> Result<HttpResponse, ApiError> {
    let bot_id = path.into_inner();
    let bot = state.config.bot(&bot_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_bot",
            format!("no bot `{bot_id}`"),
        )
    })?;
    let token = req
        .headers()
        .get(AUTH_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            unauthorized("missing `auth` header (a JWT signed with the bot's secret)")
        })?;
    let (Some(client_id), Some(secret)) = (bot.client_id.as_deref(), bot.client_secret.as_deref())
    else {
        return Err(unauthorized("the bot has no client credentials configured"));
    };
    jwt::verify(token.trim(), secret, client_id, jwt::unix_now())
        .map_err(|e| unauthorized(e.to_string()))?;
    let body = super::body::read_limited(&req, body, 16 * 1024).await?;
    let request = DetailsRequest::parse(&body).map_err(ApiError::bad_request)?;

    let store = Arc::clone(&state.store);
    let key = request.key.clone();
    let found = web::block(move || match &key {
        SessionKey::SessionId(id) => store.get_session(id),
        SessionKey::CallId(id) => store.find_session_by_call_id(id),
    })
    .await;
    let record = match found {
        Ok(Ok(record)) => record,
        Ok(Err(e)) => return Err(ApiError::store_unavailable("session", &e)),
        Err(e) => return Err(ApiError::store_unavailable("session", &e)),
    };
    // Another bot's sessions are as good as absent: a bot's token reads only its own calls.
    let Some(record) = record.filter(|r| r.bot_id == bot_id) else {
        let (what, id) = match &request.key {
            SessionKey::SessionId(id) => ("sessionId", id),
            SessionKey::CallId(id) => ("callId", id),
        };
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_session",
            format!("no session of bot `{bot_id}` with {what} `{id}`"),
        ));
    };
    Ok(HttpResponse::Ok().json(details(&record, &request)))
}
