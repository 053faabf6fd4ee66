//! The embedded backend: one SQLite file.
//!
//! Durability: WAL journal with `synchronous=FULL`, so every commit is fsynced to the WAL before
//! the method returns. `NORMAL` would already survive `kill -9` (the WAL is in the OS page cache);
//! `FULL` also survives power loss and host crashes, and the write rate here — one record per
//! ended call, a few per hand-back or token — makes the extra fsync per commit cheap.
//!
//! Concurrency: one connection behind a `Mutex`. SQLite admits one writer at a time anyway and
//! reads are rare (API lookups), so a pool would add a dependency for nothing measurable; slow
//! work (argon2) runs outside the lock. `busy_timeout` covers a second process on the same file
//! (e.g. `voxgate credentials add` while the node runs).
//!
//! Schema: versioned with `PRAGMA user_version`; [`MIGRATIONS`] run in order inside one
//! `IMMEDIATE` transaction, so two processes opening a fresh file do not race. Records are JSON
//! beside the columns they are looked up by.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::credential;
use super::error::require_id;
use super::metadata::ttl_ms;
use super::{
    decode, encode, now_ms, Conversation, ConversationMessage, CredentialInfo, NewCredential,
    SessionRecord, Store, StoreError,
};

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations; entry `i` takes the database from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    call_id    TEXT NOT NULL,
    bot_id     TEXT NOT NULL,
    start_ms   INTEGER NOT NULL,
    record     TEXT NOT NULL
);
CREATE INDEX sessions_by_call ON sessions (call_id, start_ms);
CREATE INDEX sessions_by_bot ON sessions (bot_id, start_ms, session_id);

CREATE TABLE metadata (
    contact_id    TEXT PRIMARY KEY,
    value         TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX metadata_by_expiry ON metadata (expires_at_ms);

CREATE TABLE conversations (
    conversation_id TEXT PRIMARY KEY,
    header          TEXT NOT NULL
);
CREATE TABLE conversation_interactions (
    interaction_id  TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (conversation_id)
);
CREATE TABLE conversation_messages (
    seq             INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (conversation_id),
    message_id      TEXT NOT NULL,
    message         TEXT NOT NULL,
    UNIQUE (conversation_id, message_id)
);

CREATE TABLE credentials (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
CREATE TABLE tokens (
    token_hash    TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES credentials (id),
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX tokens_by_client ON tokens (client_id);
CREATE INDEX tokens_by_expiry ON tokens (expires_at_ms);
"#];

/// The SQLite backend (see the module doc for its durability and locking choices).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// The schema version this build writes (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // journal_mode answers with the mode actually in force; a file system without shared
        // memory support keeps the old one, and then our durability reasoning would not hold.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal(mode));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// The connection. A panic while it was held cannot leave it half-written: an open
    /// transaction rolls back when its guard drops during unwinding, so poisoning is ignored.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SqliteStore::SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SqliteStore::SCHEMA_VERSION,
        });
    }
    // `found` is in 0..=len by the check above (user_version is never negative for us).
    for sql in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", SqliteStore::SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// SQL wants i64; a page bound beyond i64::MAX means "all".
fn sql_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn insert_message(
    conn: &Connection,
    conversation_id: &str,
    message: &ConversationMessage,
) -> Result<bool, StoreError> {
    require_id("message id", &message.message_id)?;
    let json = encode(message)?;
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO conversation_messages (conversation_id, message_id, message)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![conversation_id, message.message_id, json])?;
    Ok(n == 1)
}

impl Store for SqliteStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.conn().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn put_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        record.validate()?;
        let json = encode(record)?;
        self.conn()
            .prepare_cached(
                "INSERT INTO sessions (session_id, call_id, bot_id, start_ms, record)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (session_id) DO UPDATE SET call_id = excluded.call_id,
                   bot_id = excluded.bot_id, start_ms = excluded.start_ms,
                   record = excluded.record",
            )?
            .execute(params![
                record.session_id,
                record.call_id,
                record.bot_id,
                record.start_ms,
                json
            ])?;
        Ok(())
    }

    fn get_session(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let json: Option<String> = self
            .conn()
            .prepare_cached("SELECT record FROM sessions WHERE session_id = ?1")?
            .query_row([session_id], |r| r.get(0))
            .optional()?;
        json.map(|j| decode("session", session_id, &j)).transpose()
    }

    fn find_session_by_call_id(&self, call_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<(String, String)> = self
            .conn()
            .prepare_cached(
                "SELECT session_id, record FROM sessions WHERE call_id = ?1
                 ORDER BY start_ms DESC, session_id DESC LIMIT 1",
            )?
            .query_row([call_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(id, j)| decode("session", &id, &j)).transpose()
    }

    fn list_sessions(
        &self,
        bot_id: &str,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows: Vec<(String, String)> = {
            let conn = self.conn();
            let mut stmt = conn.prepare_cached(
                "SELECT session_id, record FROM sessions WHERE bot_id = ?1
                 ORDER BY start_ms DESC, session_id DESC LIMIT ?2 OFFSET ?3",
            )?;
            let rows = stmt
                .query_map(params![bot_id, sql_count(limit), sql_count(skip)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<_, _>>()?;
            rows
        };
        rows.iter()
            .map(|(id, j)| decode("session", id, j))
            .collect()
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
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // Lazy purge: expired rows go whenever someone writes, in the same commit.
        tx.prepare_cached("DELETE FROM metadata WHERE expires_at_ms <= ?1")?
            .execute([now])?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO metadata (contact_id, value, expires_at_ms) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![contact_id, json, now.saturating_add(ttl)])?;
        tx.commit()?;
        Ok(())
    }

    fn get_metadata(&self, contact_id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let json: Option<String> = self
            .conn()
            .prepare_cached(
                "SELECT value FROM metadata WHERE contact_id = ?1 AND expires_at_ms > ?2",
            )?
            .query_row(params![contact_id, now_ms()], |r| r.get(0))
            .optional()?;
        json.map(|j| decode("metadata", contact_id, &j)).transpose()
    }

    fn put_conversation(&self, conversation: &Conversation) -> Result<(), StoreError> {
        let id = conversation.conversation_id.as_str();
        require_id("conversation id", id)?;
        let header = encode(&Conversation {
            messages: Vec::new(),
            ..conversation.clone()
        })?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.prepare_cached(
            "INSERT INTO conversations (conversation_id, header) VALUES (?1, ?2)
             ON CONFLICT (conversation_id) DO UPDATE SET header = excluded.header",
        )?
        .execute(params![id, header])?;
        if let Some(interaction) = conversation.interaction_id.as_deref() {
            require_id("interaction id", interaction)?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO conversation_interactions (interaction_id, conversation_id)
                 VALUES (?1, ?2)",
            )?
            .execute(params![interaction, id])?;
        }
        for message in &conversation.messages {
            insert_message(&tx, id, message)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn append_message(
        &self,
        conversation_id: &str,
        message: &ConversationMessage,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists = tx
            .prepare_cached("SELECT 1 FROM conversations WHERE conversation_id = ?1")?
            .exists([conversation_id])?;
        if !exists {
            return Err(StoreError::NotFound {
                what: "conversation",
                id: conversation_id.to_owned(),
            });
        }
        let added = insert_message(&tx, conversation_id, message)?;
        tx.commit()?;
        Ok(added)
    }

    fn get_conversation(&self, conversation_id: &str) -> Result<Option<Conversation>, StoreError> {
        let (header, messages): (Option<String>, Vec<String>) = {
            let conn = self.conn();
            let header = conn
                .prepare_cached("SELECT header FROM conversations WHERE conversation_id = ?1")?
                .query_row([conversation_id], |r| r.get(0))
                .optional()?;
            let mut stmt = conn.prepare_cached(
                "SELECT message FROM conversation_messages WHERE conversation_id = ?1 ORDER BY seq",
            )?;
            let messages = stmt
                .query_map([conversation_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            (header, messages)
        };
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
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT conversation_id FROM conversation_interactions WHERE interaction_id = ?1",
            )?
            .query_row([interaction_id], |r| r.get(0))
            .optional()?)
    }

    fn add_credential(&self, name: &str) -> Result<NewCredential, StoreError> {
        // Hash before taking the lock: argon2 is deliberately slow.
        let (new, stored) = credential::generate(name, now_ms())?;
        self.conn()
            .prepare_cached(
                "INSERT INTO credentials (id, name, secret_hash, created_ms, revoked_ms)
                 VALUES (?1, ?2, ?3, ?4, NULL)",
            )?
            .execute(params![
                stored.info.id,
                stored.info.name,
                stored.secret_hash,
                stored.info.created_ms
            ])?;
        Ok(new)
    }

    fn verify_credential(&self, id: &str, secret: &str) -> Result<bool, StoreError> {
        let row: Option<(String, Option<i64>)> = self
            .conn()
            .prepare_cached("SELECT secret_hash, revoked_ms FROM credentials WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((hash, None)) => credential::verify_secret(id, &hash, secret),
            _ => Ok(false),
        }
    }

    fn revoke_credential(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx
            .prepare_cached(
                "UPDATE credentials SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE id = ?1",
            )?
            .execute(params![id, now_ms()])?;
        if n == 0 {
            return Ok(false);
        }
        tx.prepare_cached("DELETE FROM tokens WHERE client_id = ?1")?
            .execute([id])?;
        tx.commit()?;
        Ok(true)
    }

    fn list_credentials(&self) -> Result<Vec<CredentialInfo>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, created_ms, revoked_ms FROM credentials ORDER BY created_ms, id",
        )?;
        let list = stmt
            .query_map([], |r| {
                Ok(CredentialInfo {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_ms: r.get(2)?,
                    revoked_ms: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
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
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let revoked: Option<Option<i64>> = tx
            .prepare_cached("SELECT revoked_ms FROM credentials WHERE id = ?1")?
            .query_row([client_id], |r| r.get(0))
            .optional()?;
        match revoked {
            None => {
                return Err(StoreError::NotFound {
                    what: "credential",
                    id: client_id.to_owned(),
                })
            }
            Some(Some(_)) => return Err(StoreError::Revoked(client_id.to_owned())),
            Some(None) => {}
        }
        tx.prepare_cached("DELETE FROM tokens WHERE expires_at_ms <= ?1")?
            .execute([now_ms()])?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO tokens (token_hash, client_id, expires_at_ms) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![token_hash, client_id, expires_at_ms])?;
        tx.commit()?;
        Ok(())
    }

    fn check_token(&self, token_hash: &str, now_ms: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT t.client_id FROM tokens t JOIN credentials c ON c.id = t.client_id
                 WHERE t.token_hash = ?1 AND t.expires_at_ms > ?2 AND c.revoked_ms IS NULL",
            )?
            .query_row(params![token_hash, now_ms], |r| r.get(0))
            .optional()?)
    }
}
