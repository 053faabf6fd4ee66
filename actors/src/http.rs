//! The HTTP listener: health, readiness, Prometheus metrics and the metadata handoff API
//! ([`metadata`]), call control ([`calls`]); Talkdesk Digital Connect (OAuth2 token endpoint,
//! the conversation events, `GET /api/v1/conversations/{id}`) and the conversation details API.
//! Later issues mount the Talkdesk WebSocket ingress here, one file per endpoint group under
//! `http/`. `docs/openapi.yaml` describes all of it. With `[http] tls_cert`/`tls_key` set the
//! listener serves HTTPS, and so WSS for Talkdesk streams (rustls, the same provider as SIP
//! over TLS).

mod api_error;
mod auth;
mod body;
mod calls;
mod conversation_details;
mod conversations;
mod digital_connect_events;
mod metadata;
mod oauth_token;
mod talkdesk;

use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;
use rustls::ServerConfig;
use serde_json::json;

use crate::calls::CallRegistry;
use crate::state::NodeState;

/// Every error answer on HTTP is `{"error": CODE, "message": TEXT}`.
pub fn json_error(status: actix_web::http::StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": code, "message": message }))
}

/// The fallback route of a resource: any method but `allow` gets `405` with `Allow: <allow>`
/// (RFC 9110 §15.5.6). Add it after the resource's real routes.
pub(crate) fn only(allow: &'static str) -> actix_web::Route {
    web::route().to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, allow))
            .json(json!({
                "error": "method_not_allowed",
                "message": format!("this resource answers {allow} only"),
            }))
    })
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<Arc<NodeState>>) -> HttpResponse {
    if state.is_draining() {
        return json_error(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "the node is shutting down and takes no new calls",
        );
    }
    HttpResponse::Ok().json(json!({ "status": "ready", "active_calls": state.active_calls() }))
}

async fn metrics(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

async fn not_found() -> HttpResponse {
    json_error(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
    )
}

/// Binds the HTTP server and returns it with the address it is bound to; the server must be
/// spawned on an actix system.
pub fn server(
    state: Arc<NodeState>,
    registry: CallRegistry,
    prometheus: PrometheusHandle,
) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    let addr = state.config.node.http_listen;
    let state_http = state.config.http.clone();
    let demo = state.config.api.demo_tokens();
    if !addr.ip().is_loopback() && !demo.is_empty() {
        tracing::warn!(
            tokens = %demo.join(", "),
            "the HTTP API is served on a non-loopback address with public demo tokens; \
             set them in [api] before exposing this node"
        );
    }
    let conversations = crate::digital_connect::ConversationRegistry::new(
        Arc::clone(&state.store),
        state.config.digital_connect.clone(),
    );
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(Arc::clone(&state)))
            .app_data(web::Data::new(conversations.clone()))
            .app_data(web::Data::new(prometheus.clone()))
            .app_data(web::Data::new(registry.clone()))
            .route("/healthz", web::get().to(healthz))
            .route("/healthz", only("GET"))
            .route("/readyz", web::get().to(readyz))
            .route("/readyz", only("GET"))
            .route("/metrics", web::get().to(metrics))
            .route("/metrics", only("GET"))
            .configure(metadata::configure)
            .configure(calls::configure)
            .configure(oauth_token::configure)
            .configure(digital_connect_events::configure)
            .configure(conversations::configure)
            .configure(conversation_details::configure)
            .configure(talkdesk::configure)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(2);
    let http = &state_http;
    // With `[http] tls_cert`/`tls_key` the same listener serves HTTPS (and WSS) only.
    let server = if http.tls() {
        let tls = crate::sip::tls::load_server_config(
            ("[http] tls_cert", &http.tls_cert),
            ("[http] tls_key", &http.tls_key),
            crate::sip::tls::ClientAuth::None,
        )?;
        // actix adds its ALPN protocols (h2, http/1.1) to its own copy.
        server.bind_rustls_0_23(addr, ServerConfig::clone(&tls))?
    } else {
        server.bind(addr)?
    };
    let bound =
        server.addrs().first().copied().ok_or_else(|| {
            std::io::Error::other(format!("HTTP listener {addr} bound no address"))
        })?;
    Ok((server.run(), bound))
}
