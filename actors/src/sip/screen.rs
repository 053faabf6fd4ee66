//! The endpoint's doorman: what a request must pass before the transaction layer sees it —
//! known scanners (dropped unanswered), pike-like flood control per source address, and the
//! digest authentication of trunks that demand it (`[trunks.auth]`), with failed attempts
//! throttled per source. Counters: `voxgate_sip_requests_screened_total{reason}` and
//! `voxgate_sip_auth_total{result}`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use rand::RngCore;
use voxgate_engine::auth::digest::{parse_credentials, DigestAuth, DigestError, ReplayGuard};
use voxgate_engine::auth::jwt::unix_now;
use voxgate_engine::config::{Config, SipLimits, TrunkConfig};
use voxgate_engine::ratelimit::{RateLimiter, Verdict};
use voxgate_engine::sip::message::{HeaderName, Request, Response};

/// Requests screened away, by `reason` (`scanner`, `flood`, `auth_blocked`).
pub const SCREENED: &str = "voxgate_sip_requests_screened_total";
/// Digest outcomes, by `result` (`ok`, `challenged`, `stale`, `replay`, `failed`).
pub const AUTH: &str = "voxgate_sip_auth_total";
/// Accepted nonce uses remembered against replay (about 2 MiB at most).
const REPLAY_MEMORY: usize = 32_768;

/// What to do with a request before the transaction layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Go on.
    Pass,
    /// Drop it without an answer.
    Drop,
    /// Answer `503` with `Retry-After` statelessly.
    Busy,
}

/// What digest authentication says about an INVITE.
#[derive(Debug)]
pub enum AuthOutcome {
    /// The trunk demands nothing, or the credentials are good.
    Accepted,
    /// Answer this (`401` with challenges, or `403` once the source is throttled).
    Refuse(Response),
}

/// Per-endpoint screening state.
pub struct Screen {
    limits: SipLimits,
    flood: RateLimiter,
    auth_failures: RateLimiter,
    verifiers: HashMap<String, DigestAuth>,
    replays: ReplayGuard,
}

impl Screen {
    /// Screening for `config`; digest nonces are signed with `[sip.limits] nonce_secret`, or a
    /// random secret when it is empty.
    pub fn new(config: &Config, rng: &mut impl RngCore) -> Screen {
        let limits = config.sip.limits.clone();
        let secret = if limits.nonce_secret.is_empty() {
            let mut s = vec![0u8; 32];
            rng.fill_bytes(&mut s);
            s
        } else {
            limits.nonce_secret.as_bytes().to_vec()
        };
        let verifiers = config
            .trunks
            .iter()
            .filter_map(|t| {
                let a = t.auth.as_ref()?;
                let v = DigestAuth::new(
                    a.realm.clone(),
                    &secret,
                    a.nonce_ttl_secs,
                    &a.typed_algorithms(),
                );
                Some((t.name.clone(), v))
            })
            .collect();
        Screen {
            flood: RateLimiter::new(limits.request_limits()),
            auth_failures: RateLimiter::new(limits.auth_limits()),
            limits,
            verifiers,
            replays: ReplayGuard::new(REPLAY_MEMORY),
        }
    }

    /// Screens any request from `source` (scanners, floods).
    pub fn gate(&mut self, now: Instant, source: IpAddr, req: &Request) -> Gate {
        if let Some(ua) = req.headers.get(&HeaderName::UserAgent) {
            if self.limits.is_scanner(ua) {
                metrics::counter!(SCREENED, "reason" => "scanner").increment(1);
                return Gate::Drop;
            }
        }
        // A source throttled for failed authentication is dropped here, before any
        // transaction exists, when the node drops silently (else it gets 403 below).
        if self.limits.silent_drop && self.auth_failures.is_blocked(source, now) {
            metrics::counter!(SCREENED, "reason" => "auth_blocked").increment(1);
            return Gate::Drop;
        }
        if self.limits.is_exempt(source) {
            return Gate::Pass;
        }
        match self.flood.check(source, now) {
            Verdict::Allow => Gate::Pass,
            verdict => {
                if verdict == Verdict::Blocked {
                    tracing::warn!(%source, "SIP flood: source blocked");
                }
                metrics::counter!(SCREENED, "reason" => "flood").increment(1);
                if self.limits.silent_drop {
                    Gate::Drop
                } else {
                    Gate::Busy
                }
            }
        }
    }

    /// Checks an out-of-dialog INVITE against its trunk's digest settings. `to_tag` is used for
    /// the refusal.
    pub fn authenticate(
        &mut self,
        now: Instant,
        source: IpAddr,
        trunk: &TrunkConfig,
        req: &Request,
        to_tag: &str,
    ) -> AuthOutcome {
        let (Some(auth), Some(verifier)) = (&trunk.auth, self.verifiers.get(&trunk.name)) else {
            return AuthOutcome::Accepted;
        };
        if self.auth_failures.is_blocked(source, now) {
            metrics::counter!(SCREENED, "reason" => "auth_blocked").increment(1);
            return throttled(req, to_tag);
        }
        let unix = unix_now();
        let given = req.headers.get(&HeaderName::Authorization);
        let result = given
            .ok_or(DigestError::Malformed)
            .and_then(parse_credentials)
            .and_then(|creds| {
                verifier.verify(&creds, req.method.as_str(), unix, |user| {
                    auth.users.get(user).cloned()
                })?;
                Ok(creds)
            });
        match result {
            Ok(creds) if self.replays.first_use(&creds, unix, auth.nonce_ttl_secs) => {
                metrics::counter!(AUTH, "result" => "ok").increment(1);
                AuthOutcome::Accepted
            }
            // Good credentials seen before: a captured request played again. A fresh nonce
            // with stale=true lets a genuine client retry; the replay counts as a failure.
            Ok(_) => {
                metrics::counter!(AUTH, "result" => "replay").increment(1);
                tracing::debug!(%source, "digest credentials replayed");
                if self.auth_failures.check(source, now).allowed() {
                    AuthOutcome::Refuse(challenge(req, to_tag, verifier, unix, true))
                } else {
                    throttled(req, to_tag)
                }
            }
            Err(DigestError::Stale) => {
                metrics::counter!(AUTH, "result" => "stale").increment(1);
                AuthOutcome::Refuse(challenge(req, to_tag, verifier, unix, true))
            }
            // No credentials yet: the ordinary first leg of digest, not a failure.
            Err(_) if given.is_none() => {
                metrics::counter!(AUTH, "result" => "challenged").increment(1);
                AuthOutcome::Refuse(challenge(req, to_tag, verifier, unix, false))
            }
            Err(e) => {
                metrics::counter!(AUTH, "result" => "failed").increment(1);
                tracing::debug!(%source, error = %e, "digest authentication failed");
                if self.auth_failures.check(source, now).allowed() {
                    AuthOutcome::Refuse(challenge(req, to_tag, verifier, unix, false))
                } else {
                    tracing::warn!(%source, "too many failed authentications: source throttled");
                    throttled(req, to_tag)
                }
            }
        }
    }
}

/// The answer to a source throttled for failed authentication.
fn throttled(req: &Request, to_tag: &str) -> AuthOutcome {
    AuthOutcome::Refuse(req.response(403, "Forbidden", Some(to_tag)))
}

/// A `401` carrying one challenge per algorithm the trunk offers.
fn challenge(
    req: &Request,
    to_tag: &str,
    verifier: &DigestAuth,
    unix: u64,
    stale: bool,
) -> Response {
    let mut resp = req.response(401, "Unauthorized", Some(to_tag));
    for c in verifier.challenges(unix, stale) {
        resp.headers.push(HeaderName::WwwAuthenticate, c);
    }
    resp
}
