//! `POST /api/digital-connect/talkdesk/conversations/events/{action}`: the five Digital Connect
//! actions (`conversation_started`, `conversation_assigned`, `conversation_ended`,
//! `conversation_terminated`, `message_created`), authenticated with an OAuth2 access token.
//!
//! Answers:
//! - `200 {"status": "applied" | "duplicate", "conversation_id", "state", "reason"}`: the event was
//!   applied and persisted, or it was a redelivery that changed nothing;
//! - `400 invalid_event` with `fields` (each failing field's dotted path, the schema keyword and a
//!   sentence) when the body does not match the action's schema, `400 invalid_json` when it is not
//!   JSON;
//! - `401 invalid_token`: no, unknown, expired or revoked access token;
//! - `404 unknown_action`: not one of the five actions;
//! - `409 unknown_conversation` / `conversation_closed`: the event cannot apply to the
//!   conversation's state (see `voxgate_engine::digital_connect`);
//! - `503 store_unavailable`: nothing was applied, retry.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use serde_json::{json, Value};
use voxgate_engine::digital_connect::{self, Action, Event, Target};
use voxgate_engine::store::now_ms;

use super::api_error::ApiError;
use super::oauth_token::require_access_token;
use crate::digital_connect::{ConversationRegistry, Deliver, DeliverError};
use crate::state::NodeState;

/// The path prefix of the actions.
pub(crate) const PREFIX: &str = "/api/digital-connect/talkdesk/conversations/events";

/// Largest event body accepted (a message's text included).
pub(crate) const MAX_BODY_BYTES: usize = 256 * 1024;

/// Mounts the endpoint.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let path = format!("{PREFIX}/{{action}}");
    cfg.route(&path, web::post().to(event))
        .route(&path, super::only("POST"));
}

fn count(action: &str, result: &'static str) {
    metrics::counter!(crate::metrics::DC_EVENTS, "action" => action.to_owned(), "result" => result)
        .increment(1);
}

async fn event(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    state: web::Data<Arc<NodeState>>,
    registry: web::Data<ConversationRegistry>,
) -> HttpResponse {
    if let Err(resp) = require_access_token(&req, &state).await {
        return resp;
    }
    let Some(action) = Action::from_name(path.as_str()) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_action",
            format!(
                "unknown action `{}`; the actions are {}",
                path.as_str(),
                Action::ALL.map(Action::name).join(", ")
            ),
        )
        .error_response();
    };
    let body = match super::body::read_limited(&req, body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return e.error_response(),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            count(action.name(), "invalid");
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not JSON: {e}"),
            )
            .error_response();
        }
    };
    let event = match digital_connect::parse(action, &value) {
        Ok(e) => e,
        Err(fields) => {
            count(action.name(), "invalid");
            let list: Vec<String> = fields.iter().map(|f| f.message.clone()).collect();
            return HttpResponse::BadRequest().json(json!({
                "error": "invalid_event",
                "message": format!("{} does not match its schema: {}", action.name(), list.join("; ")),
                "fields": fields,
            }));
        }
    };
    match apply(event, &registry).await {
        Ok(delivered) => {
            count(
                action.name(),
                if delivered.applied {
                    "applied"
                } else {
                    "duplicate"
                },
            );
            HttpResponse::Ok().json(delivered.to_json())
        }
        Err(DeliverError::Refused(refusal)) => {
            count(action.name(), "refused");
            ApiError::new(StatusCode::CONFLICT, refusal.code, refusal.message).error_response()
        }
        Err(e) => ApiError::store_unavailable("conversation", &e).error_response(),
    }
}

/// Resolves the event's conversation and has its actor apply it.
async fn apply(
    event: Event,
    registry: &ConversationRegistry,
) -> Result<crate::digital_connect::Delivered, DeliverError> {
    let received_ms = now_ms();
    let conversation_id = match event.target() {
        Target::Conversation(id) => Some(id.to_owned()),
        Target::Interaction(interaction) => match registry.cached_interaction(interaction) {
            Some(id) => Some(id),
            None => {
                let store = Arc::clone(registry.store());
                let interaction = interaction.to_owned();
                match web::block(move || store.find_conversation_by_interaction(&interaction)).await
                {
                    Ok(Ok(found)) => found,
                    Ok(Err(e)) => return Err(DeliverError::Store(e.to_string())),
                    Err(e) => return Err(DeliverError::Store(e.to_string())),
                }
            }
        },
    };
    let Some(conversation_id) = conversation_id else {
        // Only `conversation_terminated` names its conversation indirectly; with no mapping the
        // state machine refuses it (unknown conversation).
        return match event.apply(None, received_ms) {
            Err(refusal) => Err(DeliverError::Refused(refusal)),
            Ok(_) => Err(DeliverError::Store("unresolved interaction".into())),
        };
    };
    // An actor found in the registry may stop (idle) just before our message reaches it; the
    // message then bounces and a fresh actor takes it.
    for _ in 0..3 {
        let addr = registry.get_or_start(&conversation_id);
        let message = Deliver {
            event: event.clone(),
            received_ms,
        };
        if let Ok(result) = addr.send(message).await {
            return result;
        }
    }
    Err(DeliverError::Store(
        "the conversation actor did not answer".into(),
    ))
}
