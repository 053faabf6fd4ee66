//! Talkdesk Digital Connect conversations as actors.
//!
//! Each conversation is one [`ConversationActor`], found through the [`ConversationRegistry`] by
//! its `conversation_id` (and, for `conversation_terminated`, by its `interaction_id`). The actor
//! serialises the events of its conversation: it loads the conversation from the store, applies
//! the engine's state machine ([`voxgate_engine::digital_connect`]), persists the result before
//! answering, and hands new messages to the bot webhook ([`webhook`]). An idle actor stops; its
//! state is in the store, so the next event starts a fresh one.

mod conversation;
pub mod webhook;

use std::sync::Arc;

use actix::{Actor as _, Addr};
use dashmap::DashMap;
use voxgate_engine::config::DigitalConnectConfig;
use voxgate_engine::store::Store;

pub use self::conversation::{ConversationActor, Deliver, DeliverError, Delivered};

/// The live conversation actors by `conversation_id`, and the `interaction_id` mapping seen so
/// far (the store keeps the durable copy). Cheap to clone.
#[derive(Clone)]
pub struct ConversationRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    actors: DashMap<String, Addr<ConversationActor>>,
    interactions: DashMap<String, String>,
    store: Arc<dyn Store>,
    config: DigitalConnectConfig,
}

impl ConversationRegistry {
    /// An empty registry whose actors use `store` and `config`.
    pub fn new(store: Arc<dyn Store>, config: DigitalConnectConfig) -> ConversationRegistry {
        ConversationRegistry {
            inner: Arc::new(Inner {
                actors: DashMap::new(),
                interactions: DashMap::new(),
                store,
                config,
            }),
        }
    }

    /// The actor of `conversation_id`, started on the current arbiter if there is none (or the
    /// one there has stopped). Must be called from an actix system.
    pub fn get_or_start(&self, conversation_id: &str) -> Addr<ConversationActor> {
        if let Some(addr) = self.inner.actors.get(conversation_id) {
            if addr.connected() {
                return addr.clone();
            }
        }
        let mut entry = self
            .inner
            .actors
            .entry(conversation_id.to_owned())
            .or_insert_with(|| self.start(conversation_id));
        if !entry.connected() {
            *entry = self.start(conversation_id);
        }
        entry.clone()
    }

    fn start(&self, conversation_id: &str) -> Addr<ConversationActor> {
        ConversationActor::new(conversation_id.to_owned(), self.clone()).start()
    }

    /// Forgets `addr` as the actor of `conversation_id` (it stopped).
    pub(crate) fn forget(&self, conversation_id: &str, addr: &Addr<ConversationActor>) {
        self.inner
            .actors
            .remove_if(conversation_id, |_, current| current == addr);
    }

    /// Records that `interaction_id` belongs to `conversation_id`.
    pub(crate) fn map_interaction(&self, interaction_id: &str, conversation_id: &str) {
        self.inner
            .interactions
            .insert(interaction_id.to_owned(), conversation_id.to_owned());
    }

    /// The conversation id an interaction id was mapped to in this process, if any (the caller
    /// asks the store otherwise).
    pub fn cached_interaction(&self, interaction_id: &str) -> Option<String> {
        self.inner
            .interactions
            .get(interaction_id)
            .map(|c| c.clone())
    }

    /// The store the conversations are kept in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The `[digital_connect]` configuration.
    pub fn config(&self) -> &DigitalConnectConfig {
        &self.inner.config
    }

    /// Live conversation actors (for tests and diagnostics).
    pub fn live(&self) -> usize {
        self.inner.actors.len()
    }
}

impl std::fmt::Debug for ConversationRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationRegistry")
            .field("live", &self.live())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;
    use voxgate_engine::digital_connect::{parse, Action};
    use voxgate_engine::store::SqliteStore;

    use super::*;

    /// A SQLite store in a fresh file under the temp directory, removed on drop.
    struct TempStore(std::path::PathBuf);

    impl TempStore {
        fn new() -> (TempStore, Arc<dyn Store>) {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let path =
                std::env::temp_dir().join(format!("voxgate-dc-{}-{nanos}.db", std::process::id()));
            let store = SqliteStore::open(&path).unwrap();
            (TempStore(path), Arc::new(store))
        }
    }

    impl Drop for TempStore {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    fn deliver(action: Action, body: &serde_json::Value) -> Deliver {
        Deliver {
            event: parse(action, body).unwrap(),
            received_ms: 1,
        }
    }

    /// An idle actor stops and leaves the registry; the next event starts a fresh one, which
    /// reloads the conversation from the store and still recognises redeliveries.
    #[actix_rt::test]
    async fn idle_actors_stop_and_state_reloads() {
        let (_guard, store) = TempStore::new();
        let config = DigitalConnectConfig {
            idle_secs: 1,
            ..DigitalConnectConfig::default()
        };
        let registry = ConversationRegistry::new(Arc::clone(&store), config);
        let started = json!({"event_type": "s", "conversation_id": "c", "timestamp": "t",
            "payload": {"contact_person": {"email": "e"}, "user": {"name": "n"},
                        "touchpoint": {"id": "tp"}}});
        let message = json!({"event_type": "m", "conversation_id": "c", "timestamp": "t",
            "payload": {"id": "m1", "content": "hi", "created_at": "t",
                        "author": {"name": "n", "type": "contact"}}});
        let first = registry.get_or_start("c");
        let d = first
            .send(deliver(Action::ConversationStarted, &started))
            .await
            .unwrap()
            .unwrap();
        assert!(d.applied);
        let d = first
            .send(deliver(Action::MessageCreated, &message))
            .await
            .unwrap()
            .unwrap();
        assert!(d.applied);
        assert_eq!(registry.live(), 1);

        let deadline = Instant::now() + Duration::from_secs(10);
        while registry.live() > 0 {
            assert!(Instant::now() < deadline, "the idle actor never stopped");
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!first.connected());

        let second = registry.get_or_start("c");
        let d = second
            .send(deliver(Action::MessageCreated, &message))
            .await
            .unwrap()
            .unwrap();
        assert!(!d.applied, "the reloaded actor must see the stored message");
        let stored = store.get_conversation("c").unwrap().unwrap();
        assert_eq!(stored.messages.len(), 1);
    }

    /// An event for a conversation that does not exist is refused and its actor does not stay.
    #[actix_rt::test]
    async fn unknown_conversations_leave_no_actor() {
        let (_guard, store) = TempStore::new();
        let registry = ConversationRegistry::new(store, DigitalConnectConfig::default());
        let ended = json!({"event_type": "e", "conversation_id": "ghost", "timestamp": "t"});
        let result = registry
            .get_or_start("ghost")
            .send(deliver(Action::ConversationEnded, &ended))
            .await
            .unwrap();
        assert!(matches!(result, Err(DeliverError::Refused(_))));
        let deadline = Instant::now() + Duration::from_secs(5);
        while registry.live() > 0 {
            assert!(
                Instant::now() < deadline,
                "the actor of an unknown conversation stayed"
            );
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
