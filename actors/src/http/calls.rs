//! Call control (ARCHITECTURE §3): `GET /api/v1/calls` lists the live calls,
//! `POST /api/v1/calls/{id}/transfer` hands one back (the body has the fields of the bot's
//! `transfer` event) and `DELETE /api/v1/calls/{id}` hangs one up (optional body
//! `{"reason", "headers"}`). `{id}` is the session id the list shows, or the SIP Call-ID. All
//! need `Authorization: Bearer <[api] api_token>`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use voxgate_engine::ws::transfer::Transfer;

use super::api_error::ApiError;
use super::auth::require_api_token;
use crate::calls::messages::{Escalate, Hangup};
use crate::calls::{ApiHangup, ApiTransfer, Call, CallRegistry, CallSummary, ControlError};
use crate::state::NodeState;

/// Largest body accepted.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a call may take to answer the API before it counts as gone.
const CALL_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// The reason a `DELETE` without a body hangs up with.
const DEFAULT_HANGUP_REASON: &str = "HangUp";

/// Mounts the endpoints.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/calls", web::get().to(list_calls))
        .route("/api/v1/calls/{id}/transfer", web::post().to(transfer))
        .route("/api/v1/calls/{id}", web::delete().to(hang_up));
}

/// The optional body of `DELETE /api/v1/calls/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HangupBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn unknown_call(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no live call `{id}`"),
    )
}

/// The body as JSON of type `T`; an empty body is `T::default()` when `empty_ok`.
async fn json_body<T: serde::de::DeserializeOwned + Default>(
    body: web::Payload,
    empty_ok: bool,
) -> Result<T, ApiError> {
    let bytes = match body.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Err(ApiError::bad_request("the body could not be read")),
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body exceeds {MAX_BODY_BYTES} bytes"),
            ))
        }
    };
    if empty_ok && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON here: {e}")))
}

/// A call's refusal as the API's `409`.
fn conflict(e: ControlError) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
}

async fn list_calls(
    req: HttpRequest,
    state: web::Data<Arc<NodeState>>,
    registry: web::Data<CallRegistry>,
) -> Result<HttpResponse, ApiError> {
    require_api_token(&req, &state.config.api.api_token)?;
    let asks = registry
        .all()
        .into_iter()
        .map(|call| call.send(CallSummary).timeout(CALL_ANSWER_TIMEOUT));
    // A call that ended meanwhile does not answer: it is simply not listed.
    let mut calls: Vec<_> = futures_util::future::join_all(asks)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    calls.sort_by(|a, b| (a.start_ms, &a.id).cmp(&(b.start_ms, &b.id)));
    Ok(HttpResponse::Ok().json(json!({ "calls": calls })))
}

/// Checks the token and finds the call `{id}` names; the answers before any order.
fn authorized_call(
    req: &HttpRequest,
    id: &str,
    state: &NodeState,
    registry: &CallRegistry,
) -> Result<Addr<Call>, ApiError> {
    require_api_token(req, &state.config.api.api_token)?;
    registry.find(id).ok_or_else(|| unknown_call(id))
}

/// Gives `call` the order and turns its answer into the API's: `202` with `status`, `409`
/// when it refused, `404` when it ended before answering.
async fn deliver<M>(
    call: Addr<Call>,
    order: M,
    id: &str,
    status: &str,
) -> Result<HttpResponse, ApiError>
where
    M: actix::Message<Result = Result<(), ControlError>> + Send + 'static,
    Call: actix::Handler<M>,
{
    match call.send(order).timeout(CALL_ANSWER_TIMEOUT).await {
        Ok(Ok(())) => Ok(HttpResponse::Accepted().json(json!({ "status": status, "id": id }))),
        Ok(Err(e)) => Err(conflict(e)),
        Err(_) => Err(unknown_call(id)),
    }
}

async fn transfer(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    state: web::Data<Arc<NodeState>>,
    registry: web::Data<CallRegistry>,
) -> Result<HttpResponse, ApiError> {
    let call = authorized_call(&req, &path, &state, &registry)?;
    let t: Transfer = json_body(body, false).await?;
    if t.reason.trim().is_empty() {
        return Err(ApiError::bad_request("`reason` must not be empty"));
    }
    let order = ApiTransfer(Escalate {
        reason: t.reason,
        target: t.target,
        headers: t.headers.into_iter().collect(),
        variables: t.variables,
        metadata: t.metadata,
    });
    deliver(call, order, &path, "transferring").await
}

async fn hang_up(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    state: web::Data<Arc<NodeState>>,
    registry: web::Data<CallRegistry>,
) -> Result<HttpResponse, ApiError> {
    let call = authorized_call(&req, &path, &state, &registry)?;
    let b: HangupBody = json_body(body, true).await?;
    let reason = b
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HANGUP_REASON.into());
    let order = ApiHangup(Hangup {
        reason,
        headers: b.headers.into_iter().collect(),
    });
    deliver(call, order, &path, "hanging_up").await
}
