//! OAuth2 client credentials (RFC 6749 §4.4) and the access tokens issued for them.
//!
//! A credential's secret is shown once, at creation; the store keeps only its argon2id hash (PHC
//! string). Access tokens are stored by a hash the caller computes (the store never sees a live
//! token), with their expiry; revoking a credential revokes its tokens.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// A freshly created credential: the only time its secret is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    /// The client id (`client_id` of the token request).
    pub id: String,
    /// The client secret, to hand to the operator once.
    pub secret: String,
}

/// A stored credential as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfo {
    /// The client id.
    pub id: String,
    /// The operator's name for it.
    pub name: String,
    /// When it was created (unix ms).
    pub created_ms: i64,
    /// When it was revoked (unix ms), if it was.
    #[serde(default)]
    pub revoked_ms: Option<i64>,
}

/// A stored credential with its secret's hash (the backends' row/value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredCredential {
    #[serde(flatten)]
    pub(crate) info: CredentialInfo,
    pub(crate) secret_hash: String,
}

/// A new credential named `name` and its stored form, created at `now_ms`.
pub(crate) fn generate(
    name: &str,
    now_ms: i64,
) -> Result<(NewCredential, StoredCredential), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::Invalid("empty credential name".into()));
    }
    let id = format!("vgc_{}", random_hex(12));
    let secret = random_hex(32);
    let secret_hash = hash_secret(&secret)?;
    let stored = StoredCredential {
        info: CredentialInfo {
            id: id.clone(),
            name: name.to_owned(),
            created_ms: now_ms,
            revoked_ms: None,
        },
        secret_hash,
    };
    Ok((NewCredential { id, secret }, stored))
}

/// Whether `secret` matches the stored PHC `hash`. A hash that does not parse is corrupt data.
pub(crate) fn verify_secret(id: &str, hash: &str, secret: &str) -> Result<bool, StoreError> {
    let parsed = PasswordHash::new(hash).map_err(|e| StoreError::corrupt("credential", id, e))?;
    Ok(Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok())
}

/// argon2id with the crate's default (OWASP-recommended) cost. The secrets are 256-bit random
/// strings, so the cost only matters if the store leaks; it is paid once per token request.
fn hash_secret(secret: &str) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Hash(e.to_string()))?;
    let hash = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| StoreError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// `n` bytes from the OS generator, lowercase hex.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trip() {
        let (new, stored) = generate("talkdesk", 1).unwrap();
        assert!(new.id.starts_with("vgc_"));
        assert_eq!(new.secret.len(), 64);
        assert!(stored.secret_hash.starts_with("$argon2id$"));
        assert!(!stored.secret_hash.contains(&new.secret));
        assert!(verify_secret(&new.id, &stored.secret_hash, &new.secret).unwrap());
        assert!(!verify_secret(&new.id, &stored.secret_hash, "wrong").unwrap());
    }

    #[test]
    fn corrupt_hash_is_an_error() {
        assert!(matches!(
            verify_secret("x", "not a phc string", "s"),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn empty_name_refused() {
        assert!(matches!(generate(" ", 1), Err(StoreError::Invalid(_))));
    }
}
