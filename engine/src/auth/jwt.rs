//! HS256 JSON Web Tokens signed with a bot's client secret (ARCHITECTURE §3).
//!
//! Talkdesk puts one in the Voice Stream URL (`token=`), and the conversation details API takes
//! one in its `auth` header. Either way the token is an HS256 JWT whose `appId` claim is the
//! bot's client id, signed with that bot's client secret. `exp` and `nbf` are honoured when
//! present (with a small leeway for clock skew between the platform and the node) and are not
//! required: the platform's own tokens may carry neither.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Seconds of clock skew accepted on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The claims voxgate reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotClaims {
    /// The bot's client id.
    #[serde(rename = "appId")]
    pub app_id: String,
    /// Expiry, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Not before, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// Why a token was refused. The display text is safe to return to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not a JWT, not HS256, or the signature does not match the secret.
    #[error("the token is malformed or its signature is invalid")]
    Invalid,
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still ahead.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Signed correctly but for another client id.
    #[error("the token was issued for another client")]
    WrongApp,
    /// The bot has an empty client secret: no token can be signed or checked with it.
    #[error("the bot has no client secret")]
    NoSecret,
}

/// Checks `token` against the bot's `secret` and `client_id` at `now` (unix seconds).
pub fn verify(token: &str, secret: &str, client_id: &str, now: u64) -> Result<BotClaims, JwtError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // exp/nbf are optional here and checked below against the caller's clock, so that the
    // check is deterministic in tests.
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|_| JwtError::NoSecret)?;
    let data = jsonwebtoken::decode::<BotClaims>(token, &key, &validation)
        .map_err(|_| JwtError::Invalid)?;
    let claims = data.claims;
    if let Some(exp) = claims.exp {
        if now > exp.saturating_add(LEEWAY_SECS) {
            return Err(JwtError::Expired);
        }
    }
    if let Some(nbf) = claims.nbf {
        if now.saturating_add(LEEWAY_SECS) < nbf {
            return Err(JwtError::NotYetValid);
        }
    }
    // Both are configuration values, not secrets: a plain compare is fine.
    if claims.app_id != client_id {
        return Err(JwtError::WrongApp);
    }
    Ok(claims)
}

/// Signs a token for `client_id` with `secret`, issued at `now`, valid `ttl_secs` (0: no `exp`).
pub fn sign(secret: &str, client_id: &str, now: u64, ttl_secs: u64) -> Result<String, JwtError> {
    let claims = BotClaims {
        app_id: client_id.to_owned(),
        exp: (ttl_secs > 0).then(|| now.saturating_add(ttl_secs)),
        nbf: None,
        iat: Some(now),
    };
    let key = EncodingKey::from_secret(secret.as_bytes()).map_err(|_| JwtError::NoSecret)?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
        .map_err(|_| JwtError::Invalid)
}

/// The current time in unix seconds (for callers in the shell layers).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn signed_token_verifies() {
        let t = sign("demo-secret", "demo-client", NOW, 3600).unwrap();
        let c = verify(&t, "demo-secret", "demo-client", NOW + 10).unwrap();
        assert_eq!(c.app_id, "demo-client");
        assert_eq!(c.exp, Some(NOW + 3600));
    }

    #[test]
    fn token_without_exp_verifies() {
        let t = sign("s", "c", NOW, 0).unwrap();
        assert!(verify(&t, "s", "c", NOW + 10_000_000).is_ok());
    }

    #[test]
    fn wrong_secret_is_invalid() {
        let t = sign("s", "c", NOW, 60).unwrap();
        assert_eq!(verify(&t, "other", "c", NOW), Err(JwtError::Invalid));
    }

    #[test]
    fn wrong_app_is_refused() {
        let t = sign("s", "c", NOW, 60).unwrap();
        assert_eq!(verify(&t, "s", "d", NOW), Err(JwtError::WrongApp));
    }

    #[test]
    fn expired_beyond_leeway() {
        let t = sign("s", "c", NOW, 60).unwrap();
        assert!(verify(&t, "s", "c", NOW + 60 + LEEWAY_SECS).is_ok());
        assert_eq!(
            verify(&t, "s", "c", NOW + 61 + LEEWAY_SECS),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn not_before_is_honoured() {
        let claims = BotClaims {
            app_id: "c".into(),
            exp: None,
            nbf: Some(NOW + 600),
            iat: None,
        };
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s").unwrap(),
        )
        .unwrap();
        assert_eq!(verify(&t, "s", "c", NOW), Err(JwtError::NotYetValid));
        assert!(verify(&t, "s", "c", NOW + 600).is_ok());
    }

    #[test]
    fn empty_secret_is_refused() {
        assert_eq!(sign("", "c", NOW, 60), Err(JwtError::NoSecret));
        let t = sign("s", "c", NOW, 60).unwrap();
        assert_eq!(verify(&t, "", "c", NOW), Err(JwtError::NoSecret));
    }

    #[test]
    fn garbage_and_alg_none_are_invalid() {
        for t in [
            "",
            "abc",
            "a.b.c",
            // {"alg":"none"} . {"appId":"c"} . (no signature)
            "eyJhbGciOiJub25lIn0.eyJhcHBJZCI6ImMifQ.",
        ] {
            assert_eq!(verify(t, "s", "c", NOW), Err(JwtError::Invalid), "{t}");
        }
    }
}
