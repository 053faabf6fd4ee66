//! Forwarding of `message_created` to a bot webhook (`[digital_connect] webhook_url`), so that a
//! chat bot can follow, and answer on, a Digital Connect conversation.
//!
//! Each new message (never a redelivered one: the conversation actor forwards only what it
//! appended) is POSTed as JSON:
//!
//! ```json
//! {"event_type": "message_created", "conversation_id": "…", "interaction_id": "…" | null,
//!  "message": {"id": "…", "content": "…", "created_at": "…", "author": {"name": "…", "type": "…"}}}
//! ```
//!
//! A 2xx answer delivers it. A connection error, a timeout or another status is retried after
//! `webhook_backoff_ms`, doubled for each further attempt; after `webhook_max_attempts` the
//! message is dead-lettered: counted (`voxgate_dc_webhook_deliveries_total{result="dead_letter"}`),
//! logged, and noted on the conversation (`attributes.webhook_dead_letters`). Deliveries of
//! different messages run independently, so a retried message may arrive after a later one.

use std::time::Duration;

use serde_json::{json, Value};
use voxgate_engine::store::{Conversation, ConversationMessage};

use super::conversation::NoteDeadLetter;
use super::ConversationRegistry;

/// Starts the delivery of `message` of `conversation` when a webhook is configured. Must be
/// called on an actix arbiter (the HTTP client lives there).
pub(crate) fn forward(
    registry: &ConversationRegistry,
    conversation: &Conversation,
    message: ConversationMessage,
) {
    let config = registry.config();
    let url = config.webhook_url.trim().to_owned();
    if url.is_empty() {
        return;
    }
    let body = json!({
        "event_type": "message_created",
        "conversation_id": conversation.conversation_id,
        "interaction_id": conversation.interaction_id,
        "message": message.payload,
    });
    let policy = Policy {
        max_attempts: config.webhook_max_attempts.max(1),
        backoff: Duration::from_millis(config.webhook_backoff_ms),
        timeout: Duration::from_millis(config.webhook_timeout_ms),
    };
    let registry = registry.clone();
    let conversation_id = conversation.conversation_id.clone();
    actix_rt::spawn(async move {
        if let Err((attempts, error)) = deliver(&url, &body, policy).await {
            metrics::counter!(crate::metrics::DC_WEBHOOK, "result" => "dead_letter").increment(1);
            tracing::warn!(
                conversation = %conversation_id,
                message = %message.message_id,
                attempts,
                %error,
                "webhook gave up on a message (dead letter)"
            );
            registry
                .get_or_start(&conversation_id)
                .do_send(NoteDeadLetter {
                    message_id: message.message_id,
                    attempts,
                    error,
                    at_ms: voxgate_engine::store::now_ms(),
                });
        }
    });
}

/// Retry policy of one message.
#[derive(Debug, Clone, Copy)]
struct Policy {
    max_attempts: u32,
    backoff: Duration,
    timeout: Duration,
}

/// POSTs `body` until a 2xx or the attempts run out: `Ok(attempts)` or `Err((attempts, last
/// error))`.
async fn deliver(url: &str, body: &Value, policy: Policy) -> Result<u32, (u32, String)> {
    let client = awc::Client::builder().timeout(policy.timeout).finish();
    let mut delay = policy.backoff;
    let mut last = String::new();
    for attempt in 1..=policy.max_attempts {
        match client.post(url).send_json(body).await {
            Ok(resp) if resp.status().is_success() => {
                metrics::counter!(crate::metrics::DC_WEBHOOK, "result" => "delivered").increment(1);
                return Ok(attempt);
            }
            Ok(resp) => last = format!("HTTP {}", resp.status().as_u16()),
            Err(e) => last = e.to_string(),
        }
        if attempt < policy.max_attempts {
            metrics::counter!(crate::metrics::DC_WEBHOOK, "result" => "retry").increment(1);
            actix_rt::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    Err((policy.max_attempts, last))
}
