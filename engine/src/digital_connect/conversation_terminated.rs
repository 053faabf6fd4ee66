//! `conversation_terminated`: the conversation ended for any reason `conversation_ended` does
//! not cover. It names the conversation only by its `interaction_id`.

use serde::Deserialize;
use serde_json::Value;

use super::{close, set_attribute, Applied};
use crate::store::{Conversation, ConversationState};

/// The body of `conversation_terminated`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConversationTerminated {
    /// The interaction id of the conversation (from its `conversation_assigned`).
    pub interaction_id: String,
    /// When it happened, as Talkdesk wrote it.
    pub timestamp: String,
    /// Free-form properties the automation adds.
    #[serde(default)]
    pub properties: Option<Value>,
}

impl ConversationTerminated {
    /// Closes the conversation as `terminated` (a closed one stays as it is). `current` is the
    /// conversation the interaction id maps to.
    pub(super) fn apply(&self, current: &Conversation, now_ms: i64) -> Applied {
        let mut applied = close(
            current,
            ConversationState::Terminated,
            "terminated_at",
            &self.timestamp,
            now_ms,
        );
        if let (Applied::Changed { conversation, .. }, Some(p)) = (&mut applied, &self.properties) {
            set_attribute(conversation, "terminated_properties", p.clone());
        }
        applied
    }
}
