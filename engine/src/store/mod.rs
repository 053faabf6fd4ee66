//! The store: what must outlive a call — session records, metadata handoff, Digital Connect
//! conversations, OAuth client credentials and their tokens (ARCHITECTURE §4).
//!
//! Two backends implement [`Store`]:
//! - [`SqliteStore`]: an embedded SQLite file (the default, one node). WAL with
//!   `synchronous=FULL`, so an acknowledged write survives `kill -9` and power loss.
//! - [`RedisStore`]: a Redis server shared by the nodes of a cluster. Keys live under `voxgate:`.
//!
//! Unlike the protocol cores of this crate the store does I/O by nature, so it is not sans-IO:
//! its methods block. The trait is synchronous (`&self`, `Send + Sync`) and the actors crate
//! calls it off the actor threads — from `actix_web::web::block` or a dedicated blocking thread —
//! never from an Arbiter's event loop. Both backends pass one conformance suite
//! (`engine/tests/store_conformance.rs`).
//!
//! Types: [`SessionRecord`] (one ended call), [`Conversation`] / [`ConversationMessage`],
//! [`NewCredential`] / [`CredentialInfo`], [`StoreError`].

mod conversation;
mod credential;
mod error;
mod metadata;
mod record;
mod redis;
mod sqlite;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use self::conversation::{Conversation, ConversationMessage, ConversationState};
pub use self::credential::{CredentialInfo, NewCredential};
pub use self::error::StoreError;
pub use self::metadata::DEFAULT_METADATA_TTL;
pub use self::record::{
    AgentLeg, AssistLine, Escalation, EscalationOutcome, IngressKind, Role, RtpCounters,
    SessionRecord, TranscriptLine,
};
pub use self::redis::RedisStore;
pub use self::sqlite::SqliteStore;

use crate::config::{StoreConfig, StoreKind};

/// Persistent state shared by the node's actors (and, with Redis, by the nodes of a cluster).
///
/// Every method blocks on I/O: call it from a blocking thread pool, not an event loop. A method
/// that returns `Ok` has made its write durable by the backend's rules (see the module doc).
pub trait Store: Send + Sync {
    /// Checks that the backend answers (for `/readyz`).
    fn ping(&self) -> Result<(), StoreError>;

    /// Stores (or replaces) the record of an ended call, keyed by its session id.
    fn put_session(&self, record: &SessionRecord) -> Result<(), StoreError>;
    /// The record with this session id.
    fn get_session(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// The record of the call with this ingress call id (the latest one if ids were reused).
    fn find_session_by_call_id(&self, call_id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// A page of the bot's records, newest first (by start time, then session id descending).
    fn list_sessions(
        &self,
        bot_id: &str,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// Stores handoff metadata under a contact id for `ttl` (replacing what was there).
    fn put_metadata(
        &self,
        contact_id: &str,
        value: &serde_json::Value,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// The unexpired metadata under this contact id.
    fn get_metadata(&self, contact_id: &str) -> Result<Option<serde_json::Value>, StoreError>;

    /// Stores a conversation's header (state, ids, attributes) and appends those of its
    /// `messages` not stored yet; records its `interaction_id` mapping when present.
    fn put_conversation(&self, conversation: &Conversation) -> Result<(), StoreError>;
    /// Appends one message; `Ok(false)` when a message with that id is already stored.
    /// The conversation must exist ([`StoreError::NotFound`] otherwise).
    fn append_message(
        &self,
        conversation_id: &str,
        message: &ConversationMessage,
    ) -> Result<bool, StoreError>;
    /// The conversation with all its messages in arrival order.
    fn get_conversation(&self, conversation_id: &str) -> Result<Option<Conversation>, StoreError>;
    /// The conversation id an interaction id belongs to.
    fn find_conversation_by_interaction(
        &self,
        interaction_id: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Creates a client credential; the returned secret is not stored, only its argon2 hash.
    fn add_credential(&self, name: &str) -> Result<NewCredential, StoreError>;
    /// Whether `secret` is the secret of the unrevoked credential `id` (unknown id: `false`).
    fn verify_credential(&self, id: &str, secret: &str) -> Result<bool, StoreError>;
    /// Revokes a credential and every token issued for it; `Ok(false)` for an unknown id.
    fn revoke_credential(&self, id: &str) -> Result<bool, StoreError>;
    /// All credentials, revoked ones included, oldest first.
    fn list_credentials(&self) -> Result<Vec<CredentialInfo>, StoreError>;

    /// Records an issued access token by its hash, valid until `expires_at_ms` (unix ms).
    /// Fails with [`StoreError::NotFound`] / [`StoreError::Revoked`] for a bad client.
    fn put_token(
        &self,
        token_hash: &str,
        client_id: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError>;
    /// The client id of an unexpired, unrevoked token at `now_ms`.
    fn check_token(&self, token_hash: &str, now_ms: i64) -> Result<Option<String>, StoreError>;
}

/// Opens the backend the `[store]` section names.
pub fn open(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    match config.kind {
        StoreKind::Sqlite => Ok(Arc::new(SqliteStore::open(&config.path)?)),
        StoreKind::Redis => {
            let url = config.url.as_deref().ok_or_else(|| {
                StoreError::Invalid("[store] kind = \"redis\" needs `url`".into())
            })?;
            Ok(Arc::new(RedisStore::open(url)?))
        }
    }
}

/// Wall-clock unix milliseconds, for creation times and SQLite's TTLs.
pub fn now_ms() -> i64 {
    // A clock before 1970 is a broken host; 0 keeps the store usable rather than panicking.
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Decodes a stored JSON value, mapping failures to [`StoreError::Corrupt`].
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    key: &str,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::corrupt(what, key, e))
}

/// Encodes a value for storage. Our types have string map keys, so serde_json cannot fail on
/// them; should it ever, that is reported as invalid input, not a panic.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_follows_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            kind: StoreKind::Sqlite,
            path: dir.path().join("v.db").to_string_lossy().into_owned(),
            url: None,
        };
        open(&config).unwrap().ping().unwrap();

        let redis_without_url = StoreConfig {
            kind: StoreKind::Redis,
            ..config
        };
        assert!(matches!(
            open(&redis_without_url),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn decode_reports_corruption() {
        let err = decode::<SessionRecord>("session", "s1", "{").unwrap_err();
        assert!(
            err.to_string().contains("corrupt stored session `s1`"),
            "{err}"
        );
    }
}
