//! `GET /api/v1/conversations/{id}`: a Digital Connect conversation as stored (state, ids,
//! attributes, messages in arrival order), behind the API token (`Authorization: Bearer
//! <[api] api_token>`).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use voxgate_engine::digital_connect::state_name;

use super::api_error::ApiError;
use super::auth::require_api_token;
use crate::state::NodeState;

/// Mounts the endpoint.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let path = "/api/v1/conversations/{id}";
    cfg.route(path, web::get().to(get_conversation))
        .route(path, super::only("GET"));
}

async fn get_conversation(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Arc<NodeState>>,
) -> Result<HttpResponse, ApiError> {
    require_api_token(&req, &state.config.api.api_token)?;
    let id = path.into_inner();
    let store = Arc::clone(&state.store);
    let key = id.clone();
    let found = match web::block(move || store.get_conversation(&key)).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return Err(ApiError::store_unavailable("conversation", &e)),
        Err(e) => return Err(ApiError::store_unavailable("conversation", &e)),
    };
    let Some(c) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no conversation `{id}`"),
        ));
    };
    Ok(HttpResponse::Ok().json(json!({
        "conversation_id": c.conversation_id,
        "interaction_id": c.interaction_id,
        "state": state_name(c.state),
        "created_ms": c.created_ms,
        "updated_ms": c.updated_ms,
        "attributes": c.attributes,
        "messages": c.messages,
    })))
}
