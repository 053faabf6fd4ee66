//! OAuth2 client-credentials grant (RFC 6749 §4.4) for the Digital Connect events API.
//!
//! Talkdesk's integration is configured with a client id and secret (made by
//! `voxgate credentials add`); it asks `POST /security/oauth/token` for an access token and sends
//! it as `Authorization: Bearer` on every event. This module is the sans-IO part: it parses a
//! token request ([`parse_token_request`]), names its errors as §5.2 does ([`OAuthError`]), and
//! mints tokens ([`issue`]). Verifying the secret and remembering tokens is the store's job; it
//! sees only [`token_hash`]es, never a live token.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The one grant type this server supports.
pub const GRANT_TYPE: &str = "client_credentials";

/// A well-formed token request: the client's claimed credentials, still to be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
    /// Whether the client authenticated with HTTP Basic (then a `401` carries
    /// `WWW-Authenticate: Basic`).
    pub used_basic: bool,
}

/// A token error response (RFC 6749 §5.2). The display text is safe to return to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// A parameter is missing, repeated or malformed, or the body is not a form.
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown client, wrong secret, revoked credential, or no client authentication at all.
    #[error("{0}")]
    InvalidClient(String),
    /// A `grant_type` other than `client_credentials`.
    #[error("{0}")]
    UnsupportedGrantType(String),
}

impl OAuthError {
    /// The `error` code of §5.2.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
        }
    }

    /// The HTTP status: `401` for `invalid_client`, `400` otherwise.
    pub fn status(&self) -> u16 {
        match self {
            OAuthError::InvalidClient(_) => 401,
            _ => 400,
        }
    }
}

/// Parses a token request from its `Authorization` header (if any), `Content-Type` and body.
///
/// The client authenticates either with HTTP Basic (`client_id:client_secret`, each
/// form-urlencoded as §2.3.1 says) or with `client_id`/`client_secret` body parameters, never
/// both (§2.3). Parameters may not repeat (§3.2).
pub fn parse_token_request(
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<TokenRequest, OAuthError> {
    let is_form = content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| {
            ct.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if params.iter().any(|(seen, _)| *seen == k) {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter `{k}` is repeated"
            )));
        }
        params.push((k.into_owned(), v.into_owned()));
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let grant = param("grant_type")
        .ok_or_else(|| OAuthError::InvalidRequest("missing `grant_type`".into()))?;
    if grant != GRANT_TYPE {
        return Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type `{grant}` is not supported; use `{GRANT_TYPE}`"
        )));
    }
    let basic = authorization
        .map(|h| parse_basic(h).ok_or_else(|| invalid_client("malformed Basic credentials")))
        .transpose()?;
    let form = (param("client_id"), param("client_secret"));
    match (basic, form) {
        (Some(_), (Some(_), _) | (_, Some(_))) => Err(OAuthError::InvalidRequest(
            "authenticate with HTTP Basic or with form parameters, not both".into(),
        )),
        (Some((client_id, client_secret)), (None, None)) => Ok(TokenRequest {
            client_id,
            client_secret,
            used_basic: true,
        }),
        (None, (Some(id), Some(secret))) => Ok(TokenRequest {
            client_id: id.to_owned(),
            client_secret: secret.to_owned(),
            used_basic: false,
        }),
        (None, (Some(_), None)) => Err(invalid_client("missing `client_secret`")),
        (None, (None, _)) => Err(invalid_client(
            "no client authentication: use HTTP Basic or `client_id` and `client_secret`",
        )),
    }
}

fn invalid_client(message: &str) -> OAuthError {
    OAuthError::InvalidClient(message.into())
}

/// `Basic base64(urlencode(id):urlencode(secret))` → (id, secret).
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (id, secret) = (unescape(id), unescape(secret));
    (!id.is_empty()).then_some((id, secret))
}

/// A freshly minted access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token, handed to the client once.
    pub access_token: String,
    /// Its [`token_hash`], what the store keeps.
    pub token_hash: String,
    /// Lifetime in seconds (`expires_in`).
    pub expires_in: u64,
    /// Expiry, unix milliseconds.
    pub expires_at_ms: i64,
}

/// Mints a 256-bit random token valid `ttl_secs` from `now_ms`.
pub fn issue(now_ms: i64, ttl_secs: u64) -> IssuedToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let access_token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let ttl_ms = i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    IssuedToken {
        token_hash: token_hash(&access_token),
        access_token,
        expires_in: ttl_secs,
        expires_at_ms: now_ms.saturating_add(ttl_ms),
    }
}

/// SHA-256 of a token, lowercase hex. Tokens are 256-bit random, so a fast hash is enough: a
/// leaked store gives nothing to replay.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded; charset=utf-8");

    fn basic(id: &str, secret: &str) -> String {
        let raw = format!("{id}:{secret}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn basic_and_form_clients() {
        let r = parse_token_request(
            Some(&basic("vgc_1", "s%3Ax")),
            FORM,
            b"grant_type=client_credentials",
        )
        .unwrap();
        assert_eq!(
            (r.client_id.as_str(), r.client_secret.as_str()),
            ("vgc_1", "s:x")
        );
        assert!(r.used_basic);
        let r = parse_token_request(
            None,
            FORM,
            b"grant_type=client_credentials&client_id=a&client_secret=b&scope=events",
        )
        .unwrap();
        assert_eq!((r.client_id.as_str(), r.client_secret.as_str()), ("a", "b"));
        assert!(!r.used_basic);
    }

    #[test]
    fn errors_follow_section_5_2() {
        let code = |auth: Option<&str>, ct: Option<&str>, body: &[u8]| {
            let e = parse_token_request(auth, ct, body).unwrap_err();
            (e.code(), e.status())
        };
        assert_eq!(code(None, FORM, b""), ("invalid_request", 400));
        assert_eq!(
            code(None, Some("application/json"), b"{}"),
            ("invalid_request", 400)
        );
        assert_eq!(
            code(
                None,
                FORM,
                b"grant_type=password&client_id=a&client_secret=b"
            ),
            ("unsupported_grant_type", 400)
        );
        assert_eq!(
            code(None, FORM, b"grant_type=client_credentials"),
            ("invalid_client", 401)
        );
        assert_eq!(
            code(Some("Basic !!!"), FORM, b"grant_type=client_credentials"),
            ("invalid_client", 401)
        );
        assert_eq!(
            code(
                Some(&basic("a", "b")),
                FORM,
                b"grant_type=client_credentials&client_id=a"
            ),
            ("invalid_request", 400)
        );
        assert_eq!(
            code(None, FORM, b"grant_type=client_credentials&grant_type=x"),
            ("invalid_request", 400)
        );
    }

    #[test]
    fn tokens_are_random_hashed_and_expire() {
        let a = issue(1_000, 60);
        let b = issue(1_000, 60);
        assert_ne!(a.access_token, b.access_token);
        assert_eq!(a.expires_at_ms, 61_000);
        assert_eq!(a.token_hash, token_hash(&a.access_token));
        assert_eq!(a.token_hash.len(), 64);
        assert!(!a.token_hash.contains(&a.access_token));
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
