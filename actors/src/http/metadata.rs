//! Metadata handoff (ARCHITECTURE §3): `POST /metadata?contactId=ID` stores a JSON object under
//! a contact id for the configured TTL, `GET /metadata/{ID}` reads it back. Both need the header
//! `authorizationToken: <[api] metadata_token>`. The Amazon Connect profile writes the same
//! records itself before its hand-back BYE; a Connect flow's Lambda reads them here.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use voxgate_engine::contact_id::valid_contact_id;

use super::api_error::ApiError;
use super::auth::require_token;
use crate::state::NodeState;

/// The header carrying the token (the name API Gateway's token authorizer used in the seed).
pub(crate) const TOKEN_HEADER: &str = "authorizationToken";

/// Largest body accepted by `POST /metadata`.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Mounts the endpoints.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metadata", web::post().to(post_metadata))
        .route("/metadata", super::only("POST"))
        .route("/metadata/{contact_id}", web::get().to(get_metadata))
        .route("/metadata/{contact_id}", super::only("GET"));
}

fn store_failed(e: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "metadata store request failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the store did not answer; retry later",
    )
}

/// The checked `contactId` query parameter.
fn contact_id_param(req: &HttpRequest) -> Result<String, ApiError> {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|_| ApiError::bad_request("the query string does not parse"))?;
    let id = query
        .get("contactId")
        .ok_or_else(|| ApiError::bad_request("missing query parameter `contactId`"))?;
    valid_contact_id(id.trim())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("`contactId` is not a valid contact id"))
}

async fn post_metadata(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<Arc<NodeState>>,
) -> Result<HttpResponse, ApiError> {
    require_token(&req, TOKEN_HEADER, &state.config.api.metadata_token)?;
    let contact_id = contact_id_param(&req)?;
    let bytes = super::body::read_limited(&req, body, MAX_BODY_BYTES).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let ttl = state.config.api.metadata_ttl();
    let store = Arc::clone(&state.store);
    let id = contact_id.clone();
    match web::block(move || store.put_metadata(&id, &value, ttl)).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(json!({
            "status": "stored",
            "contactId": contact_id,
            "ttlSecs": ttl.as_secs(),
        }))),
        Ok(Err(e)) => {
            metrics::counter!(crate::metrics::STORE_ERRORS, "what" => "metadata").increment(1);
            Err(store_failed(&e))
        }
        Err(e) => Err(store_failed(&e)),
    }
}

async fn get_metadata(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Arc<NodeState>>,
) -> Result<HttpResponse, ApiError> {
    require_token(&req, TOKEN_HEADER, &state.config.api.metadata_token)?;
    let contact_id = valid_contact_id(path.as_str())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("not a valid contact id"))?;
    let store = Arc::clone(&state.store);
    let id = contact_id.clone();
    match web::block(move || store.get_metadata(&id)).await {
        Ok(Ok(Some(value))) => Ok(HttpResponse::Ok().json(value)),
        Ok(Ok(None)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no metadata for contact `{contact_id}` (unknown or expired)"),
        )),
        Ok(Err(e)) => Err(store_failed(&e)),
        Err(e) => Err(store_failed(&e)),
    }
}
