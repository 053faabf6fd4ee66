//! `conversation_assigned`: an agent took the conversation. It brings the `interaction_id`
//! that `conversation_terminated` will later name the conversation by.

use serde::Deserialize;
use serde_json::Value;

use super::{redelivered_or_open, set_attribute, Action, Applied, Refusal};
use crate::store::{Conversation, ConversationState};

/// The body of `conversation_assigned`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConversationAssigned {
    /// Talkdesk's conversation id.
    pub conversation_id: String,
    /// The interaction id of the active conversation.
    pub interaction_id: String,
    /// The agent's user id.
    pub user_id: String,
    /// When it happened, as Talkdesk wrote it.
    pub timestamp: String,
    /// Free-form properties the automation adds.
    #[serde(default)]
    pub properties: Option<Value>,
}

impl ConversationAssigned {
    /// Assigns (or reassigns) the agent. The same agent on the same interaction is a
    /// redelivery, in any state; a new assignment on a closed conversation is refused.
    pub(super) fn apply(&self, current: &Conversation, now_ms: i64) -> Result<Applied, Refusal> {
        let same_interaction = current.interaction_id.as_deref() == Some(&self.interaction_id);
        let same_agent = current.attributes.get("user_id").and_then(Value::as_str)
            == Some(self.user_id.as_str());
        if let Some(unchanged) = redelivered_or_open(
            current,
            Action::ConversationAssigned,
            same_interaction && same_agent,
            "the agent was already assigned",
        )? {
            return Ok(unchanged);
        }
        let mut next = current.clone();
        next.state = ConversationState::Assigned;
        next.interaction_id = Some(self.interaction_id.clone());
        next.updated_ms = now_ms;
        set_attribute(&mut next, "user_id", Value::String(self.user_id.clone()));
        set_attribute(
            &mut next,
            "assigned_at",
            Value::String(self.timestamp.clone()),
        );
        if let Some(p) = &self.properties {
            set_attribute(&mut next, "assigned_properties", p.clone());
        }
        Ok(Applied::Changed {
            conversation: Box::new(next),
            message: None,
        })
    }
}
