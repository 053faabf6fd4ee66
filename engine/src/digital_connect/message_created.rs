//! `message_created`: a message was written in the conversation (by the contact, the agent or a
//! bot). Its `payload.id` is the idempotency key: a message id already stored is a redelivery.

use serde::Deserialize;

use super::{redelivered_or_open, Action, Applied, Refusal};
use crate::store::{Conversation, ConversationMessage};

/// The body of `message_created`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessageCreated {
    /// Talkdesk's conversation id.
    pub conversation_id: String,
    /// When it happened, as Talkdesk wrote it.
    pub timestamp: String,
    /// The message.
    pub payload: MessagePayload,
}

/// `payload` of `message_created`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct MessagePayload {
    /// The message id.
    pub id: String,
    /// The text.
    pub content: String,
    /// When it was written, as Talkdesk wrote it.
    pub created_at: String,
    /// Who wrote it.
    pub author: Author,
}

/// `payload.author` of `message_created`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct Author {
    /// The author's display name.
    pub name: String,
    /// The author's kind (`contact`, `agent`, ...), as Talkdesk names it.
    #[serde(rename = "type")]
    pub kind: String,
}

impl MessageCreated {
    /// Appends the message to an open conversation. A message id already stored is a
    /// redelivery in any state; a new message on a closed conversation is refused.
    pub(super) fn apply(&self, current: &Conversation, now_ms: i64) -> Result<Applied, Refusal> {
        let stored = (current.messages.iter()).any(|m| m.message_id == self.payload.id);
        if let Some(unchanged) = redelivered_or_open(
            current,
            Action::MessageCreated,
            stored,
            "the message was already stored",
        )? {
            return Ok(unchanged);
        }
        // `created_at` is kept verbatim in the payload; `at_ms` is our receive time, which
        // orders messages the way they reached us.
        let message = ConversationMessage {
            message_id: self.payload.id.clone(),
            author: self.payload.author.kind.clone(),
            text: self.payload.content.clone(),
            at_ms: now_ms,
            payload: serde_json::to_value(&self.payload).unwrap_or_default(),
        };
        let mut next = current.clone();
        next.updated_ms = now_ms;
        next.messages.push(message.clone());
        Ok(Applied::Changed {
            conversation: Box::new(next),
            message: Some(message),
        })
    }
}
