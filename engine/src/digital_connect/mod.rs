//! Talkdesk Digital Connect conversation events (ARCHITECTURE §3), without I/O.
//!
//! Talkdesk's Digital Connect integration calls five actions, one HTTP POST each, whose bodies
//! follow the JSON schemas configured with the actions ([`schema`]). This module validates a body
//! ([`parse`]), turns it into a typed [`Event`] (one file per action), and decides what the event
//! does to the conversation it names ([`Event::apply`]): the state machine
//!
//! ```text
//!   (none) ──started──▶ Started ──assigned──▶ Assigned ──assigned (other agent)──▶ Assigned
//!                          │                     │
//!                          └──ended / terminated─┴──▶ Ended | Terminated   (final)
//! ```
//!
//! with messages appended while the conversation is open. Deliveries are at-least-once, so the
//! rules are written for redelivery first:
//! - an event whose effect is already there (the same message id, the same agent on the same
//!   interaction, a second `conversation_started`, a close of a closed conversation) is accepted
//!   and changes nothing ([`Applied::Unchanged`]);
//! - an event that cannot apply is refused with a reason ([`Refusal`], HTTP `409`): any event but
//!   `conversation_started` for a conversation never started (the sender may retry once the start
//!   has arrived), and a *new* message or a new assignment on a closed conversation.
//!
//! The first close wins: `conversation_ended` after `conversation_terminated` (or the reverse)
//! keeps the first state.

mod conversation_assigned;
mod conversation_ended;
mod conversation_started;
mod conversation_terminated;
mod message_created;
pub mod schema;

use serde_json::Value;

pub use self::conversation_assigned::ConversationAssigned;
pub use self::conversation_ended::ConversationEnded;
pub use self::conversation_started::ConversationStarted;
pub use self::conversation_terminated::ConversationTerminated;
pub use self::message_created::MessageCreated;
pub use self::schema::FieldError;

use crate::store::{Conversation, ConversationMessage, ConversationState};

/// The five actions, in the order the Talkdesk guide lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A contact started a conversation through a touchpoint.
    ConversationStarted = 0,
    /// An agent was assigned the conversation.
    ConversationAssigned = 1,
    /// The conversation ended normally.
    ConversationEnded = 2,
    /// The conversation ended for any other reason (carries only the interaction id).
    ConversationTerminated = 3,
    /// A message was written in the conversation.
    MessageCreated = 4,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::ConversationStarted,
        Action::ConversationAssigned,
        Action::ConversationEnded,
        Action::ConversationTerminated,
        Action::MessageCreated,
    ];

    /// The action's name: the last path segment of its URL and its schema's title.
    pub fn name(self) -> &'static str {
        match self {
            Action::ConversationStarted => "conversation_started",
            Action::ConversationAssigned => "conversation_assigned",
            Action::ConversationEnded => "conversation_ended",
            Action::ConversationTerminated => "conversation_terminated",
            Action::MessageCreated => "message_created",
        }
    }

    /// The action with this name.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A validated event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `conversation_started`.
    Started(ConversationStarted),
    /// `conversation_assigned`.
    Assigned(ConversationAssigned),
    /// `conversation_ended`.
    Ended(ConversationEnded),
    /// `conversation_terminated`.
    Terminated(ConversationTerminated),
    /// `message_created`.
    MessageCreated(MessageCreated),
}

/// Which conversation an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// By Talkdesk's `conversation_id`.
    Conversation(&'a str),
    /// By `interaction_id` only (`conversation_terminated`): resolve it through the mapping
    /// recorded by `conversation_assigned`.
    Interaction(&'a str),
}

/// What an accepted event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The conversation changed: this is its new state, to be persisted. `message` is the
    /// message the event appended, if it did.
    Changed {
        /// The conversation after the event (boxed: it carries the message list).
        conversation: Box<Conversation>,
        /// The appended message (`message_created`).
        message: Option<ConversationMessage>,
    },
    /// The event's effect was already there (a redelivery): nothing to persist.
    Unchanged {
        /// Why nothing changed, for the response.
        reason: &'static str,
    },
}

/// Why an event cannot apply to the conversation's state (HTTP `409`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// Machine-readable code (`unknown_conversation`, `conversation_closed`).
    pub code: &'static str,
    /// A sentence for humans.
    pub message: String,
}

impl Refusal {
    fn unknown(action: Action, what: &str, id: &str) -> Refusal {
        Refusal {
            code: "unknown_conversation",
            message: format!(
                "{} for {what} `{id}`, which was never started here",
                action.name()
            ),
        }
    }

    /// `current`, or the refusal of an `action` on `target`, a conversation never started.
    fn require<'a>(
        current: Option<&'a Conversation>,
        action: Action,
        target: Target<'_>,
    ) -> Result<&'a Conversation, Refusal> {
        current.ok_or_else(|| match target {
            Target::Conversation(id) => Refusal::unknown(action, "conversation", id),
            Target::Interaction(id) => Refusal::unknown(action, "interaction", id),
        })
    }

    fn closed(action: Action, conversation: &Conversation) -> Refusal {
        Refusal {
            code: "conversation_closed",
            message: format!(
                "{} for conversation `{}`, which is already {}",
                action.name(),
                conversation.conversation_id,
                state_name(conversation.state)
            ),
        }
    }
}

/// The wire name of a state (`started`, `assigned`, `ended`, `terminated`).
pub fn state_name(state: ConversationState) -> &'static str {
    match state {
        ConversationState::Started => "started",
        ConversationState::Assigned => "assigned",
        ConversationState::Ended => "ended",
        ConversationState::Terminated => "terminated",
    }
}

/// Whether a conversation in this state takes no more messages or assignments.
pub fn is_closed(state: ConversationState) -> bool {
    matches!(
        state,
        ConversationState::Ended | ConversationState::Terminated
    )
}

/// The identifiers the store keys on: the schemas accept any string, but an empty one names
/// nothing and is refused like a schema violation.
const IDENTIFIERS: [&str; 3] = ["/conversation_id", "/interaction_id", "/payload/id"];

/// Validates `body` against the schema of `action` and types it.
pub fn parse(action: Action, body: &Value) -> Result<Event, Vec<FieldError>> {
    schema::validate(action, body)?;
    let empty: Vec<FieldError> = IDENTIFIERS
        .iter()
        .filter(|p| body.pointer(p).and_then(Value::as_str) == Some(""))
        .map(|p| {
            let field = p[1..].replace('/', ".");
            FieldError {
                message: format!("`{field}` must not be empty"),
                field,
                problem: "minLength".into(),
            }
        })
        .collect();
    if !empty.is_empty() {
        return Err(empty);
    }
    let typed = match action {
        Action::ConversationStarted => serde_json::from_value(body.clone()).map(Event::Started),
        Action::ConversationAssigned => serde_json::from_value(body.clone()).map(Event::Assigned),
        Action::ConversationEnded => serde_json::from_value(body.clone()).map(Event::Ended),
        Action::ConversationTerminated => {
            serde_json::from_value(body.clone()).map(Event::Terminated)
        }
        Action::MessageCreated => serde_json::from_value(body.clone()).map(Event::MessageCreated),
    };
    // The typed structs mirror the schemas, so a body the schema accepted deserialises; should
    // they ever drift apart the body is still refused cleanly.
    typed.map_err(|e| {
        vec![FieldError {
            field: String::new(),
            problem: "type".into(),
            message: e.to_string(),
        }]
    })
}

impl Event {
    /// The action this event came from.
    pub fn action(&self) -> Action {
        match self {
            Event::Started(_) => Action::ConversationStarted,
            Event::Assigned(_) => Action::ConversationAssigned,
            Event::Ended(_) => Action::ConversationEnded,
            Event::Terminated(_) => Action::ConversationTerminated,
            Event::MessageCreated(_) => Action::MessageCreated,
        }
    }

    /// The conversation the event is about.
    pub fn target(&self) -> Target<'_> {
        match self {
            Event::Started(e) => Target::Conversation(&e.conversation_id),
            Event::Assigned(e) => Target::Conversation(&e.conversation_id),
            Event::Ended(e) => Target::Conversation(&e.conversation_id),
            Event::Terminated(e) => Target::Interaction(&e.interaction_id),
            Event::MessageCreated(e) => Target::Conversation(&e.conversation_id),
        }
    }

    /// Applies the event to `current` (the conversation as stored, `None` if unknown) at
    /// `now_ms` (unix ms, the receive time).
    pub fn apply(&self, current: Option<&Conversation>, now_ms: i64) -> Result<Applied, Refusal> {
        // Every event but the start needs the conversation to exist.
        let known = || Refusal::require(current, self.action(), self.target());
        match self {
            Event::Started(e) => Ok(e.apply(current, now_ms)),
            Event::Assigned(e) => e.apply(known()?, now_ms),
            Event::Ended(e) => Ok(e.apply(known()?, now_ms)),
            Event::Terminated(e) => Ok(e.apply(known()?, now_ms)),
            Event::MessageCreated(e) => e.apply(known()?, now_ms),
        }
    }
}

/// `Ok(Some(unchanged))` for a redelivery (in any state), the refusal of `action` on a closed
/// conversation, else `Ok(None)`: go on and change it. Shared by the events that add to an open
/// conversation (`conversation_assigned`, `message_created`).
fn redelivered_or_open(
    current: &Conversation,
    action: Action,
    redelivered: bool,
    reason: &'static str,
) -> Result<Option<Applied>, Refusal> {
    if redelivered {
        Ok(Some(Applied::Unchanged { reason }))
    } else if is_closed(current.state) {
        Err(Refusal::closed(action, current))
    } else {
        Ok(None)
    }
}

/// Closes an open conversation in `state` with `attribute = timestamp`, or reports the
/// redelivery; shared by `conversation_ended` and `conversation_terminated`.
fn close(
    conversation: &Conversation,
    state: ConversationState,
    attribute: &str,
    timestamp: &str,
    now_ms: i64,
) -> Applied {
    if is_closed(conversation.state) {
        return Applied::Unchanged {
            reason: "the conversation is already closed",
        };
    }
    let mut next = conversation.clone();
    next.state = state;
    next.updated_ms = now_ms;
    set_attribute(&mut next, attribute, Value::String(timestamp.to_owned()));
    Applied::Changed {
        conversation: Box::new(next),
        message: None,
    }
}

/// Sets one key of the conversation's attribute object (creating the object if needed).
fn set_attribute(conversation: &mut Conversation, key: &str, value: Value) {
    if !conversation.attributes.is_object() {
        conversation.attributes = Value::Object(serde_json::Map::new());
    }
    if let Some(map) = conversation.attributes.as_object_mut() {
        map.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(action: Action, body: &Value) -> Event {
        parse(action, body).unwrap()
    }

    fn started() -> Event {
        event(
            Action::ConversationStarted,
            &json!({"event_type": "conversation_started", "conversation_id": "c1",
                   "timestamp": "2026-11-29T10:00:00Z",
                   "payload": {"contact_person": {"email": "a@b.c"}, "user": {"name": "Ann"},
                               "touchpoint": {"id": "tp"}, "subject": "help"}}),
        )
    }

    fn assigned(user: &str) -> Event {
        event(
            Action::ConversationAssigned,
            &json!({"event_type": "conversation_assigned", "conversation_id": "c1",
                   "interaction_id": "i1", "user_id": user, "timestamp": "t"}),
        )
    }

    fn message(id: &str) -> Event {
        event(
            Action::MessageCreated,
            &json!({"event_type": "message_created", "conversation_id": "c1", "timestamp": "t",
                   "payload": {"id": id, "content": "hello", "created_at": "t",
                               "author": {"name": "Ann", "type": "contact"}}}),
        )
    }

    fn ended() -> Event {
        event(
            Action::ConversationEnded,
            &json!({"event_type": "conversation_ended", "conversation_id": "c1", "timestamp": "t"}),
        )
    }

    fn terminated() -> Event {
        event(
            Action::ConversationTerminated,
            &json!({"event_type": "conversation_terminated", "interaction_id": "i1",
                   "timestamp": "t"}),
        )
    }

    /// Applies `e` and returns the new conversation (panics when nothing changed).
    fn changed(e: &Event, current: Option<&Conversation>) -> Conversation {
        match e.apply(current, 7).unwrap() {
            Applied::Changed { conversation, .. } => *conversation,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    fn unchanged(e: &Event, current: Option<&Conversation>) {
        assert!(matches!(
            e.apply(current, 8).unwrap(),
            Applied::Unchanged { .. }
        ));
    }

    #[test]
    fn lifecycle() {
        let c = changed(&started(), None);
        assert_eq!(c.state, ConversationState::Started);
        assert_eq!(c.attributes["contact_email"], "a@b.c");
        let c = changed(&assigned("u1"), Some(&c));
        assert_eq!(c.state, ConversationState::Assigned);
        assert_eq!(c.interaction_id.as_deref(), Some("i1"));
        let c = changed(&message("m1"), Some(&c));
        assert_eq!(c.messages.len(), 1);
        assert_eq!(c.messages[0].author, "contact");
        let c = changed(&ended(), Some(&c));
        assert_eq!(c.state, ConversationState::Ended);
        assert_eq!(terminated().target(), Target::Interaction("i1"));
    }

    #[test]
    fn redeliveries_change_nothing() {
        let c = changed(&started(), None);
        unchanged(&started(), Some(&c));
        let c = changed(&assigned("u1"), Some(&c));
        unchanged(&assigned("u1"), Some(&c));
        let c = changed(&message("m1"), Some(&c));
        unchanged(&message("m1"), Some(&c));
        let c = changed(&terminated(), Some(&c));
        unchanged(&terminated(), Some(&c));
        // After the close, redeliveries of earlier events are still accepted as no-ops.
        unchanged(&message("m1"), Some(&c));
        unchanged(&assigned("u1"), Some(&c));
        unchanged(&started(), Some(&c));
        // The first close wins.
        unchanged(&ended(), Some(&c));
        assert_eq!(c.state, ConversationState::Terminated);
    }

    #[test]
    fn reassignment_changes_the_agent() {
        let c = changed(&started(), None);
        let c = changed(&assigned("u1"), Some(&c));
        let c = changed(&assigned("u2"), Some(&c));
        assert_eq!(c.attributes["user_id"], "u2");
    }

    #[test]
    fn events_that_cannot_apply_are_refused() {
        for e in [assigned("u1"), message("m1"), ended(), terminated()] {
            let refusal = e.apply(None, 1).unwrap_err();
            assert_eq!(refusal.code, "unknown_conversation", "{e:?}");
        }
        let c = changed(&ended(), Some(&changed(&started(), None)));
        let refusal = message("m2").apply(Some(&c), 1).unwrap_err();
        assert_eq!(refusal.code, "conversation_closed");
        assert!(refusal.message.contains("already ended"), "{refusal}");
        let refusal = assigned("u1").apply(Some(&c), 1).unwrap_err();
        assert_eq!(refusal.code, "conversation_closed");
    }

    #[test]
    fn empty_identifiers_are_refused() {
        let body = json!({"event_type": "message_created", "conversation_id": "", "timestamp": "t",
            "payload": {"id": "", "content": "", "created_at": "", "author": {"name": "", "type": ""}}});
        let errors = parse(Action::MessageCreated, &body).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["conversation_id", "payload.id"]);
        assert_eq!(errors[0].problem, "minLength");
    }

    #[test]
    fn action_names_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
        assert_eq!(Action::from_name("conversation_paused"), None);
    }
}
