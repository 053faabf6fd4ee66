//! The store's error type.

/// What can go wrong talking to a store backend.
///
/// Backend errors keep their source; bad data found in the store is [`StoreError::Corrupt`] (never a
/// panic), so one damaged row costs one request, not the node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The SQLite backend failed (I/O, locking, constraint, ...).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The Redis backend failed (connection, protocol, server error, ...).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored value could not be decoded.
    #[error("corrupt stored {what} `{key}`: {detail}")]
    Corrupt {
        /// Kind of value (`session`, `metadata`, ...).
        what: &'static str,
        /// Its key or id.
        key: String,
        /// The decoder's complaint.
        detail: String,
    },
    /// The database was written by a newer voxgate whose schema this build does not know.
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// SQLite refused WAL mode (e.g. a network file system); durability would be weaker.
    #[error(
        "sqlite journal mode is `{0}`, expected `wal` (is the file on a network file system?)"
    )]
    NoWal(String),
    /// The referenced item does not exist (or no longer accepts the operation).
    #[error("unknown {what} `{id}`")]
    NotFound {
        /// Kind of item (`conversation`, `credential`).
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The credential was revoked.
    #[error("credential `{0}` is revoked")]
    Revoked(String),
    /// The caller passed something the store cannot hold (an empty id, a zero TTL, ...).
    #[error("invalid store input: {0}")]
    Invalid(String),
    /// Hashing a client secret failed.
    #[error("secret hashing: {0}")]
    Hash(String),
}

impl StoreError {
    /// A decoding failure of the stored value `key` of kind `what`.
    pub(crate) fn corrupt(what: &'static str, key: &str, detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            what,
            key: key.to_owned(),
            detail: detail.to_string(),
        }
    }
}

/// Rejects empty ids, which would alias keys and never name a real item.
pub(crate) fn require_id(what: &str, id: &str) -> Result<(), StoreError> {
    if id.is_empty() {
        Err(StoreError::Invalid(format!("empty {what}")))
    } else {
        Ok(())
    }
}
