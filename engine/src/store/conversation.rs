//! Talkdesk Digital Connect conversations as the store keeps them.
//!
//! The `Conversation` actor owns the state machine; the store persists its header and an
//! append-only message list. Deliveries are at-least-once, so appending a message whose
//! `message_id` is already stored changes nothing. `conversation_terminated` events carry only an
//! `interaction_id`, hence the `interaction_id → conversation_id` mapping.

use serde::{Deserialize, Serialize};

/// One digital conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Talkdesk's `conversation_id`.
    pub conversation_id: String,
    /// Talkdesk's `interaction_id`, once known.
    #[serde(default)]
    pub interaction_id: Option<String>,
    /// Where the conversation is in its lifecycle.
    pub state: ConversationState,
    /// When it was first stored (unix ms).
    pub created_ms: i64,
    /// When it last changed (unix ms).
    pub updated_ms: i64,
    /// Event fields worth keeping (contact, channel, assigned agent, ...), as received.
    #[serde(default)]
    pub attributes: serde_json::Value,
    /// Messages in arrival order. On `put_conversation` those not stored yet are appended; stored
    /// ones are never removed or rewritten.
    #[serde(default)]
    pub messages: Vec<ConversationMessage>,
}

/// Lifecycle of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// `conversation_started` seen.
    Started,
    /// `conversation_assigned` seen.
    Assigned,
    /// `conversation_ended` seen.
    Ended,
    /// `conversation_terminated` seen.
    Terminated,
}

/// One `message_created` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationMessage {
    /// Talkdesk's message id: the idempotency key of the append.
    pub message_id: String,
    /// Who wrote it (`contact`, `agent`, `bot`, ...).
    pub author: String,
    /// The text.
    pub text: String,
    /// When it was created (unix ms).
    pub at_ms: i64,
    /// The event body as received, for fields not modelled above.
    #[serde(default)]
    pub payload: serde_json::Value,
}
