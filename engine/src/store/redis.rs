//! The cluster backend: one Redis server (or a Sentinel-managed primary) shared by the nodes.
//!
//! Keys are `voxgate:<kind>:<id>`; every kind has its own prefix, so no id can alias another
//! kind's key. Values are the same JSON as in SQLite:
//! - `session:{id}` (string), `session-by-call:{call_id}` → session id,
//!   `sessions-by-bot:{bot_id}` (sorted set, score = start ms) for paging newest first;
//! - `metadata:{contact_id}` (string, `SET PX` so Redis expires it);
//! - `conversation:{id}` (header), `conversation-messages:{id}` (list),
//!   `conversation-message-ids:{id}` (set, the idempotency of appends),
//!   `conversation-by-interaction:{interaction_id}` → conversation id;
//! - `credential:{id}`, `credentials` (set of ids), `credential-tokens:{id}` (set of token
//!   hashes), `token:{hash}` (`SET PXAT` at the token's expiry).
//!
//! Multi-key writes are `MULTI`/`EXEC` (with `WATCH` where they read first) or a Lua script, so
//! a reader never sees a record without its index. They span several keys, so this backend needs
//! a single Redis primary, not Redis Cluster's sharding.
//!
//! Connections: the sync client with connect/read/write timeouts, kept in a small idle pool so
//! that blocking workers do not serialize on one socket. A command that fails on a pooled
//! connection with a connection-level error (server restarted, socket dropped, timeout) empties
//! the pool and is retried once on a fresh connection; every write here is idempotent, so the
//! retry is safe. Durability is Redis's own (`appendonly`/`appendfsync` of the server's config).

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::{Connection, RedisError, RedisResult};
use serde::{Deserialize, Serialize};

use super::credential::{self, StoredCredential};
use super::error::require_id;
use super::metadata::ttl_ms;
use super::{
    decode, encode, now_ms, Conversation, ConversationMessage, CredentialInfo, NewCredential,
    SessionRecord, Store, StoreError,
};

/// Bound on establishing a TCP connection to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on one command's round trip: a hung server must not hold a worker forever.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept for reuse; more are opened under load and closed afterwards.
const MAX_IDLE: usize = 8;

/// Appends a message once: KEYS = conversation, message ids, messages; ARGV = id, JSON.
/// Returns -1 when the conversation does not exist, 0 for a duplicate, 1 when appended.
const APPEND_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
";

fn key(kind: &str, id: &str) -> String {
    format!("voxgate:{kind}:{id}")
}

const CREDENTIALS_KEY: &str = "voxgate:credentials";

/// The fields of a stored session that its index keys are derived from.
#[derive(Deserialize)]
struct SessionIndex {
    call_id: String,
    bot_id: String,
}

/// The value of a `token:{hash}` key.
#[derive(Serialize, Deserialize)]
struct TokenValue {
    client_id: String,
    expires_at_ms: i64,
}

/// The Redis backend (see the module doc for its key layout and reconnect rules).
pub struct RedisStore {
    client: redis::Client,
    idle: Mutex<Vec<Connection>>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.client.get_connection_info().addr)
            .finish_non_exhaustive()
    }
}

/// Errors after which a connection is not worth reusing and the command is worth one retry.
fn is_broken(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

/// Redis ranges are `isize`; a bound beyond it means "all".
fn range_index(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`) and checks the server answers.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let store = RedisStore {
            client: redis::Client::open(url)?,
            idle: Mutex::new(Vec::new()),
        };
        store.ping()?;
        Ok(store)
    }

    /// The idle pool. Connections in it are only ever pushed or popped whole, so a panic
    /// elsewhere cannot leave it inconsistent: poisoning is ignored.
    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(conn)
    }

    fn release(&self, conn: Connection) {
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `f` on a connection. Only a connection whose command succeeded goes back to the
    /// pool: after an error it may hold a stray `WATCH` or a half-read reply.
    fn with_conn<T>(
        &self,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle().pop();
        if let Some(mut conn) = pooled {
            match f(&mut conn) {
                Ok(v) => {
                    self.release(conn);
                    return Ok(v);
                }
                // The server went away (restart, failover, idle timeout): the other idle
                // connections are as stale as this one.
                Err(e) if is_broken(&e) => self.idle().clear(),
                Err(e) => return Err(e.into()),
            }
        }
        let mut conn = self.connect()?;
        let v = f(&mut conn)?;
        self.release(conn);
        Ok(v)
    }

    fn get_string(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with_conn(|con| redis::cmd("GET").arg(key).query(con))
    }

    /// Values of `keys` (missing ones skipped), decoded as `what`.
    fn get_many<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        keys: &[String],
    ) -> Result<Vec<T>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<String>> =
            self.with_conn(|con| redis::cmd("MGET").arg(keys).query(con))?;
        keys.iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|json| decode(what, k, &json)))
            .collect()
    }

    fn get_credential(&self, id: &str) -> Result<Option<StoredCredential>, StoreError> {
        self.get_string(&key("credential", id))?
            .map(|json| decode("credential", id, &json))
            .transpose()
    }
}

impl Store for RedisStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(|con| redis::cmd("PING").query::<String>(con))?;
        Ok(())
    }

    fn put_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        record.validate()?;
        let json = encode(record)?;
        let id = record.session_id.as_str();
        let session_key = key("session", id);
        self.with_conn(|con| {
            redis::transaction(con, &[&session_key], |con, pipe| {
                // A rewrite that changes the bot or call id must not leave the old index entries
                // pointing here. A corrupt old value has no usable index; it is overwritten.
                let old: Option<String> = redis::cmd("GET").arg(&session_key).query(con)?;
                let old = old.and_then(|j| serde_json::from_str::<SessionIndex>(&j).ok());
                if let Some(old) = &old {
                    if old.bot_id != record.bot_id {
                        pipe.cmd("ZREM")
                            .arg(key("sessions-by-bot", &old.bot_id))
                            .arg(id)
                            .ignore();
                    }
                    if old.call_id != record.call_id {
                        let old_call_key = key("session-by-call", &old.call_id);
                        redis::cmd("WATCH").arg(&old_call_key).exec(con)?;
                        let owner: Option<String> =
                            redis::cmd("GET").arg(&old_call_key).query(con)?;
                        if owner.as_deref() == Some(id) {
                            pipe.cmd("DEL").arg(old_call_key).ignore();
                        }
                    }
                }
                pipe.cmd("SET").arg(&session_key).arg(&json).ignore();
                pipe.cmd("SET")
                    .arg(key("session-by-call", &record.call_id))
                    .arg(id)
                    .ignore();
                pipe.cmd("ZADD")
                    .arg(key("sessions-by-bot", &record.bot_id))
                    .arg(record.start_ms)
                    .arg(id)
                    .ignore();
                pipe.query::<Option<()>>(con)
            })
        })
    }

    fn get_session(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.get_string(&key("session", session_id))?
            .map(|json| decode("session", session_id, &json))
            .transpose()
    }

    fn find_session_by_call_id(&self, call_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        match self.get_string(&key("session-by-call", call_id))? {
            Some(session_id) => self.get_session(&session_id),
            None => Ok(None),
        }
    }

    fn list_sessions(
        &self,
        bot_id: &str,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let start = range_index(skip);
        let stop = range_index(skip.saturating_add(limit - 1));
        // Equal scores come back in reverse lexical order of the member: session id descending,
        // the same tie-break as SQLite's `ORDER BY start_ms DESC, session_id DESC`.
        let ids: Vec<String> = self.with_conn(|con| {
            redis::cmd("ZREVRANGE")
                .arg(key("sessions-by-bot", bot_id))
                .arg(start)
                .arg(stop)
                .query(con)
        })?;
        let keys: Vec<String> = ids.iter().map(|id| key("session", id)).collect();
        self.get_many("session", &keys)
    }

    fn put_metadata(
        &self,
        contact_id: &str,
        value: &serde_json::Value,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        require_id("contact id", contact_id)?;
        let ttl = ttl_ms(ttl)?;
        let json = encode(value)?;
        let k = key("metadata", contact_id);
        self.with_conn(|con| {
            redis::cmd("SET")
                .arg(&k)
                .arg(&json)
                .arg("PX")
                .arg(ttl)
                .exec(con)
        })
    }

    fn get_metadata(&self, contact_id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.get_string(&key("metadata", contact_id))?
            .map(|json| decode("metadata", contact_id, &json))
            .transpose()
    }

    fn put_conversation(&self, conversation: &Conversation) -> Result<(), StoreError> {
        let id = conversation.conversation_id.as_str();
        require_id("conversation id", id)?;
        if let Some(interaction) = conversation.interaction_id.as_deref() {
            require_id("interaction id", interaction)?;
        }
        let header = encode(&Conversation {
            messages: Vec::new(),
            ..conversation.clone()
        })?;
        let messages = conversation
            .messages
            .iter()
            .map(|m| {
                require_id("message id", &m.message_id)?;
                Ok((m.message_id.as_str(), encode(m)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let (conv_key, ids_key, msgs_key) = (
            key("conversation", id),
            key("conversation-message-ids", id),
            key("conversation-messages", id),
        );
        self.with_conn(|con| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.cmd("SET").arg(&conv_key).arg(&header).ignore();
            if let Some(interaction) = conversation.interaction_id.as_deref() {
                pipe.cmd("SET")
                    .arg(key("conversation-by-interaction", interaction))
                    .arg(id)
                    .ignore();
            }
            for (message_id, json) in &messages {
                pipe.cmd("EVAL")
                    .arg(APPEND_SCRIPT)
                    .arg(3)
                    .arg(&conv_key)
                    .arg(&ids_key)
                    .arg(&msgs_key)
                    .arg(*message_id)
                    .arg(json)
                    .ignore();
            }
            pipe.exec(con)
        })
    }

    fn append_message(
        &self,
        conversation_id: &str,
        message: &ConversationMessage,
    ) -> Result<bool, StoreError> {
        require_id("message id", &message.message_id)?;
        let json = encode(message)?;
        let outcome: i64 = self.with_conn(|con| {
            redis::cmd("EVAL")
                .arg(APPEND_SCRIPT)
                .arg(3)
                .arg(key("conversation", conversation_id))
                .arg(key("conversation-message-ids", conversation_id))
                .arg(key("conversation-messages", conversation_id))
                .arg(&message.message_id)
                .arg(&json)
                .query(con)
        })?;
        match outcome {
            -1 => Err(StoreError::NotFound {
                what: "conversation",
                id: conversation_id.to_owned(),
            }),
            n => Ok(n == 1),
        }
    }

    fn get_conversation(&self, conversation_id: &str) -> Result<Option<Conversation>, StoreError> {
        let (header, messages): (Option<String>, Vec<String>) = self.with_conn(|con| {
            redis::pipe()
                .atomic()
                .cmd("GET")
                .arg(key("conversation", conversation_id))
                .cmd("LRANGE")
                .arg(key("conversation-messages", conversation_id))
                .arg(0)
                .arg(-1)
                .query(con)
        })?;
        let Some(header) = header else {
            return Ok(None);
        };
        let mut conversation: Conversation = decode("conversation", conversation_id, &header)?;
        conversation.messages = messages
            .iter()
            .map(|m| decode("conversation message", conversation_id, m))
            .collect::<Result<_, _>>()?;
        Ok(Some(conversation))
    }

    fn find_conversation_by_interaction(
        &self,
        interaction_id: &str,
    ) -> Result<Option<String>, StoreError> {
        self.get_string(&key("conversation-by-interaction", interaction_id))
    }

    fn add_credential(&self, name: &str) -> Result<NewCredential, StoreError> {
        let (new, stored) = credential::generate(name, now_ms())?;
        let json = encode(&stored)?;
        self.with_conn(|con| {
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(key("credential", &new.id))
                .arg(&json)
                .ignore()
                .cmd("SADD")
                .arg(CREDENTIALS_KEY)
                .arg(&new.id)
                .ignore()
                .exec(con)
        })?;
        Ok(new)
    }

    fn verify_credential(&self, id: &str, secret: &str) -> Result<bool, StoreError> {
        match self.get_credential(id)? {
            Some(stored) if stored.info.revoked_ms.is_none() => {
                credential::verify_secret(id, &stored.secret_hash, secret)
            }
            _ => Ok(false),
        }
    }

    fn revoke_credential(&self, id: &str) -> Result<bool, StoreError> {
        let cred_key = key("credential", id);
        let tokens_key = key("credential-tokens", id);
        let now = now_ms();
        // The closure's own errors (a corrupt credential) travel beside Redis's.
        let mut failure: Option<StoreError> = None;
        let revoked = self.with_conn(|con| {
            redis::transaction(con, &[&cred_key, &tokens_key], |con, pipe| {
                let json: Option<String> = redis::cmd("GET").arg(&cred_key).query(con)?;
                let Some(json) = json else {
                    return Ok(Some(false));
                };
                let mut stored: StoredCredential = match decode("credential", id, &json) {
                    Ok(s) => s,
                    Err(e) => {
                        failure = Some(e);
                        return Ok(Some(false));
                    }
                };
                stored.info.revoked_ms.get_or_insert(now);
                let revoked_json = match encode(&stored) {
                    Ok(j) => j,
                    Err(e) => {
                        failure = Some(e);
                        return Ok(Some(false));
                    }
                };
                let tokens: Vec<String> = redis::cmd("SMEMBERS").arg(&tokens_key).query(con)?;
                pipe.cmd("SET").arg(&cred_key).arg(revoked_json).ignore();
                for hash in &tokens {
                    pipe.cmd("DEL").arg(key("token", hash)).ignore();
                }
                pipe.cmd("DEL").arg(&tokens_key).ignore();
                Ok(pipe.query::<Option<()>>(con)?.map(|()| true))
            })
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(revoked),
        }
    }

    fn list_credentials(&self) -> Result<Vec<CredentialInfo>, StoreError> {
        let ids: Vec<String> =
            self.with_conn(|con| redis::cmd("SMEMBERS").arg(CREDENTIALS_KEY).query(con))?;
        let keys: Vec<String> = ids.iter().map(|id| key("credential", id)).collect();
        let mut list: Vec<CredentialInfo> = self
            .get_many::<StoredCredential>("credential", &keys)?
            .into_iter()
            .map(|s| s.info)
            .collect();
        list.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(list)
    }

    fn put_token(
        &self,
        token_hash: &str,
        client_id: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        require_id("token hash", token_hash)?;
        if expires_at_ms <= 0 {
            return Err(StoreError::Invalid(format!(
                "token expiry {expires_at_ms} is not a unix time"
            )));
        }
        match self.get_credential(client_id)? {
            None => {
                return Err(StoreError::NotFound {
                    what: "credential",
                    id: client_id.to_owned(),
                })
            }
            Some(c) if c.info.revoked_ms.is_some() => {
                return Err(StoreError::Revoked(client_id.to_owned()))
            }
            Some(_) => {}
        }
        // A revocation racing this write is caught by `check_token`, which re-reads the
        // credential.
        let json = encode(&TokenValue {
            client_id: client_id.to_owned(),
            expires_at_ms,
        })?;
        self.with_conn(|con| {
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(key("token", token_hash))
                .arg(&json)
                .arg("PXAT")
                .arg(expires_at_ms)
                .ignore()
                .cmd("SADD")
                .arg(key("credential-tokens", client_id))
                .arg(token_hash)
                .ignore()
                .exec(con)
        })
    }

    fn check_token(&self, token_hash: &str, now_ms: i64) -> Result<Option<String>, StoreError> {
        let Some(json) = self.get_string(&key("token", token_hash))? else {
            return Ok(None);
        };
        let token: TokenValue = decode("token", token_hash, &json)?;
        if token.expires_at_ms <= now_ms {
            return Ok(None);
        }
        match self.get_credential(&token.client_id)? {
            Some(c) if c.info.revoked_ms.is_none() => Ok(Some(token.client_id)),
            _ => Ok(None),
        }
    }
}
