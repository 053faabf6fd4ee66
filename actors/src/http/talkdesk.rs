//! `GET /audiosocket/talkdesk/?sipuri=…&token=…&botId=…&accountId=…&agentassist=…`: the Talkdesk
//! voice stream (ARCHITECTURE §3). Every check runs before the upgrade
//! ([`crate::talkdesk::admission`]), so a refused request gets a JSON error and never a socket;
//! an admitted one becomes a [`TalkdeskIngress`] actor holding a call slot.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use voxgate_engine::auth::jwt::unix_now;

use super::api_error::ApiError;
use crate::state::NodeState;
use crate::talkdesk::admission::admit;
use crate::talkdesk::{StreamParams, TalkdeskIngress};

/// Mounts the endpoint (with and without the trailing slash Studio URLs carry).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audiosocket/talkdesk/", web::get().to(stream))
        .route("/audiosocket/talkdesk", web::get().to(stream));
}

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    metrics::counter!(crate::metrics::TALKDESK_REFUSED, "status" => status.as_str().to_owned())
        .increment(1);
    ApiError::new(status, code, message)
}

async fn stream(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<Arc<NodeState>>,
) -> Result<HttpResponse, ApiError> {
    let query =
        web::Query::<HashMap<String, String>>::from_query(req.query_string()).map_err(|_| {
            refused(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the query string does not parse",
            )
        })?;
    let admitted = admit(&state.config, &query, unix_now()).map_err(|r| {
        let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
        tracing::debug!(status = r.status, message = %r.message, "Talkdesk stream refused");
        refused(status, r.code, r.message)
    })?;
    if state.is_draining() {
        return Err(refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "the node is shutting down and takes no new calls",
        ));
    }
    let slot = state.try_admit_call().ok_or_else(|| {
        refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the node is at its call limit",
        )
    })?;
    let max_frame = state.config.talkdesk.max_frame_bytes;
    let actor = TalkdeskIngress::new(
        StreamParams {
            node: Arc::clone(&state),
            bot: admitted.bot,
            did: admitted.did,
            account_id: admitted.account_id,
            agent_assist: admitted.agent_assist,
        },
        slot,
    );
    ws::WsResponseBuilder::new(actor, &req, body)
        .frame_size(max_frame)
        .start()
        .map_err(|e| {
            refused(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("not a WebSocket upgrade: {e}"),
            )
        })
}
