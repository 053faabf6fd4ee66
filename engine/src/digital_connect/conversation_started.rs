//! `conversation_started`: a contact opened a conversation through a Digital Connect touchpoint.

use serde::Deserialize;
use serde_json::json;

use super::Applied;
use crate::store::{Conversation, ConversationState};

/// The body of `conversation_started`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConversationStarted {
    /// Talkdesk's conversation id.
    pub conversation_id: String,
    /// When it happened, as Talkdesk wrote it.
    pub timestamp: String,
    /// Who, through which touchpoint.
    pub payload: StartedPayload,
}

/// `payload` of `conversation_started`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StartedPayload {
    /// The contact the conversation is with.
    pub contact_person: Email,
    /// The user that initiated it on the Talkdesk side.
    pub user: Name,
    /// The touchpoint it came through.
    pub touchpoint: Id,
    /// The subject, when one was given.
    #[serde(default)]
    pub subject: Option<String>,
}

/// `{ "email": … }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Email {
    /// The address.
    pub email: String,
}

/// `{ "name": … }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Name {
    /// The name.
    pub name: String,
}

/// `{ "id": … }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Id {
    /// The id.
    pub id: String,
}

impl ConversationStarted {
    /// Creates the conversation; a conversation that exists already (in any state) makes this a
    /// redelivery.
    pub(super) fn apply(&self, current: Option<&Conversation>, now_ms: i64) -> Applied {
        if current.is_some() {
            return Applied::Unchanged {
                reason: "the conversation was already started",
            };
        }
        let p = &self.payload;
        Applied::Changed {
            conversation: Box::new(Conversation {
                conversation_id: self.conversation_id.clone(),
                interaction_id: None,
                state: ConversationState::Started,
                created_ms: now_ms,
                updated_ms: now_ms,
                attributes: json!({
                    "started_at": self.timestamp,
                    "contact_email": p.contact_person.email,
                    "user_name": p.user.name,
                    "touchpoint_id": p.touchpoint.id,
                    "subject": p.subject,
                }),
                messages: Vec::new(),
            }),
            message: None,
        }
    }
}
