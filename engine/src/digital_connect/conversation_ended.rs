//! `conversation_ended`: the conversation ended normally.

use serde::Deserialize;

use super::{close, Applied};
use crate::store::{Conversation, ConversationState};

/// The body of `conversation_ended`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConversationEnded {
    /// Talkdesk's conversation id.
    pub conversation_id: String,
    /// When it happened, as Talkdesk wrote it.
    pub timestamp: String,
}

impl ConversationEnded {
    /// Closes the conversation as `ended` (a closed one stays as it is).
    pub(super) fn apply(&self, current: &Conversation, now_ms: i64) -> Applied {
        close(
            current,
            ConversationState::Ended,
            "ended_at",
            &self.timestamp,
            now_ms,
        )
    }
}
