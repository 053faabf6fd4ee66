//! The `Conversation` actor: one per live Digital Connect conversation.
//!
//! Its handlers are atomic ([`AtomicResponse`]): an event is loaded, applied and persisted before
//! the next one of the same conversation is looked at, so two deliveries racing on the same
//! conversation (Talkdesk retries while the first attempt is still in flight) see each other's
//! effect, and the second is recognised as a duplicate. Store calls run on the blocking pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext as _, ActorFutureExt as _, AsyncContext as _, AtomicResponse, Context,
    Handler, Message, WrapFuture as _,
};
use serde_json::{json, Value};
use voxgate_engine::digital_connect::{state_name, Applied, Event, Refusal};
use voxgate_engine::store::{Conversation, ConversationState};

use super::{webhook, ConversationRegistry};

/// The actor of one conversation.
pub struct ConversationActor {
    id: String,
    registry: ConversationRegistry,
    /// The conversation as stored; `None` until loaded (outer) or when it does not exist (inner).
    state: Option<Option<Conversation>>,
    last_activity: Instant,
}

impl ConversationActor {
    /// The actor of `id`; it loads its state from the registry's store on the first message.
    pub fn new(id: String, registry: ConversationRegistry) -> ConversationActor {
        ConversationActor {
            id,
            registry,
            state: None,
            last_activity: Instant::now(),
        }
    }

    /// Loads (first time), transforms with `f` at the current state, and persists a change;
    /// answers with what `f` decided and, on a change, the new conversation and its new message.
    fn transact<F>(&mut self, f: F) -> AtomicResponse<Self, Result<Delivered, DeliverError>>
    where
        F: FnOnce(Option<&Conversation>) -> Result<Applied, Refusal> + Send + 'static,
    {
        self.last_activity = Instant::now();
        let cached = self.state.clone();
        let store = Arc::clone(self.registry.store());
        let id = self.id.clone();
        let work = async move {
            let current = match cached {
                Some(c) => c,
                None => {
                    let (store, id) = (Arc::clone(&store), id.clone());
                    match blocking(move || store.get_conversation(&id)).await {
                        Ok(c) => c,
                        Err(e) => return (None, Err(e), None),
                    }
                }
            };
            match f(current.as_ref()) {
                Err(refusal) => (Some(current), Err(DeliverError::Refused(refusal)), None),
                Ok(Applied::Unchanged { reason }) => {
                    let state = current.as_ref().map(|c| c.state);
                    let answer = Delivered::new(&id, false, Some(reason), state);
                    (Some(current), Ok(answer), None)
                }
                Ok(Applied::Changed {
                    conversation,
                    message,
                }) => {
                    let next = *conversation;
                    // The store appends the messages it has not seen; hand it only the new
                    // one, so a write costs the same for the first message and the thousandth.
                    let to_store = Conversation {
                        conversation_id: next.conversation_id.clone(),
                        interaction_id: next.interaction_id.clone(),
                        state: next.state,
                        created_ms: next.created_ms,
                        updated_ms: next.updated_ms,
                        attributes: next.attributes.clone(),
                        messages: message.iter().cloned().collect(),
                    };
                    if let Err(e) = blocking(move || store.put_conversation(&to_store)).await {
                        // Not persisted, so not applied: keep the old state, let the sender retry.
                        return (Some(current), Err(e), None);
                    }
                    let answer = Delivered::new(&id, true, None, Some(next.state));
                    (Some(Some(next)), Ok(answer), message)
                }
            }
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(state, answer, message), act, ctx| {
                if let Some(state) = state {
                    if let Some(c) = &state {
                        if let Some(interaction) = &c.interaction_id {
                            act.registry
                                .map_interaction(interaction, &c.conversation_id);
                        }
                        if let Some(m) = message {
                            webhook::forward(&act.registry, c, m);
                        }
                    }
                    let unknown = state.is_none();
                    act.state = Some(state);
                    // Nothing to keep for a conversation that does not exist.
                    if unknown {
                        ctx.stop();
                    }
                }
                answer
            },
        )))
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let idle = Duration::from_secs(self.registry.config().idle_secs);
        ctx.run_interval(idle.min(Duration::from_secs(30)), move |act, ctx| {
            if act.last_activity.elapsed() >= idle {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.registry.forget(&self.id, &ctx.address());
    }
}

/// Apply one validated event (received at `received_ms`, unix ms).
#[derive(Debug, Message)]
#[rtype(result = "Result<Delivered, DeliverError>")]
pub struct Deliver {
    /// The event.
    pub event: Event,
    /// When it arrived.
    pub received_ms: i64,
}

/// What an accepted event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The conversation.
    pub conversation_id: String,
    /// `false` for a redelivery that changed nothing.
    pub applied: bool,
    /// Why nothing changed, for a redelivery.
    pub reason: Option<&'static str>,
    /// The state after the event.
    pub state: Option<ConversationState>,
}

impl Delivered {
    fn new(
        id: &str,
        applied: bool,
        reason: Option<&'static str>,
        state: Option<ConversationState>,
    ) -> Delivered {
        Delivered {
            conversation_id: id.to_owned(),
            applied,
            reason,
            state,
        }
    }

    /// The JSON answer of the events endpoint.
    pub fn to_json(&self) -> Value {
        json!({
            "status": if self.applied { "applied" } else { "duplicate" },
            "conversation_id": self.conversation_id,
            "state": self.state.map(state_name),
            "reason": self.reason,
        })
    }
}

/// Why an event was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliverError {
    /// The event makes no sense in the conversation's state (HTTP `409`).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The store failed (HTTP `503`: the sender retries).
    #[error("store: {0}")]
    Store(String),
}

impl Handler<Deliver> for ConversationActor {
    type Result = AtomicResponse<Self, Result<Delivered, DeliverError>>;

    fn handle(&mut self, msg: Deliver, _ctx: &mut Self::Context) -> Self::Result {
        self.transact(move |current| msg.event.apply(current, msg.received_ms))
    }
}

/// Note on the conversation that the webhook gave up on one of its messages.
#[derive(Debug, Message)]
#[rtype(result = "Result<Delivered, DeliverError>")]
pub(crate) struct NoteDeadLetter {
    pub(crate) message_id: String,
    pub(crate) attempts: u32,
    pub(crate) error: String,
    pub(crate) at_ms: i64,
}

impl Handler<NoteDeadLetter> for ConversationActor {
    type Result = AtomicResponse<Self, Result<Delivered, DeliverError>>;

    fn handle(&mut self, msg: NoteDeadLetter, _ctx: &mut Self::Context) -> Self::Result {
        self.transact(move |current| {
            let Some(current) = current else {
                return Ok(Applied::Unchanged {
                    reason: "the conversation is gone",
                });
            };
            let mut next = current.clone();
            let note = json!({
                "message_id": msg.message_id,
                "attempts": msg.attempts,
                "error": msg.error,
                "at_ms": msg.at_ms,
            });
            if !next.attributes.is_object() {
                next.attributes = json!({});
            }
            if let Some(map) = next.attributes.as_object_mut() {
                let list = map
                    .entry("webhook_dead_letters")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Some(list) = list.as_array_mut() {
                    list.push(note);
                }
            }
            next.updated_ms = msg.at_ms;
            Ok(Applied::Changed {
                conversation: Box::new(next),
                message: None,
            })
        })
    }
}

/// Runs a store call on the blocking pool; failures are counted and become text.
async fn blocking<T, F>(f: F) -> Result<T, DeliverError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, voxgate_engine::store::StoreError> + Send + 'static,
{
    let result = match actix_rt::task::spawn_blocking(f).await {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    metrics::counter!(crate::metrics::STORE_ERRORS, "what" => "conversation").increment(1);
    tracing::warn!(error = %result, "conversation store call failed");
    Err(DeliverError::Store(result))
}
