//! Abuse-resistance settings: `[sip.limits]` (pike-like flood control, failed-auth throttling,
//! known scanners) and a trunk's `[trunks.auth]` (SIP digest authentication).

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::auth::digest::Algorithm;
use crate::ratelimit::Limits;

/// `[sip.limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipLimits {
    /// SIP requests one source address may send per window before it is blocked (0: off).
    pub requests_per_window: u32,
    /// Sources the flood limit does not apply to (trusted carriers sending at high rates).
    /// Failed-auth throttling and scanner drops still apply to them.
    pub exempt: Vec<IpNet>,
    /// The flood window, seconds.
    pub window_secs: u64,
    /// How long a flooding source stays blocked, seconds.
    pub block_secs: u64,
    /// Blocked sources get no answer at all (`true`) or `503` with `Retry-After` (`false`).
    pub silent_drop: bool,
    /// Failed digest attempts one source may make per `auth_window_secs` before it is blocked.
    pub auth_failures_per_window: u32,
    /// The failed-auth window, seconds (the block lasts as long).
    pub auth_window_secs: u64,
    /// Source addresses tracked at once (bounds the limiter's memory).
    pub max_sources: usize,
    /// Requests whose `User-Agent` contains one of these (case-insensitive) are dropped without
    /// an answer: scanners learn nothing, not even that a SIP server is here.
    pub scanner_user_agents: Vec<String>,
    /// Secret that signs digest nonces; nodes of a cluster behind one proxy share it. Empty:
    /// a random secret per node start.
    pub nonce_secret: String,
}

impl Default for SipLimits {
    fn default() -> Self {
        SipLimits {
            requests_per_window: 400,
            exempt: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
            window_secs: 2,
            block_secs: 30,
            silent_drop: false,
            auth_failures_per_window: 10,
            auth_window_secs: 60,
            max_sources: 65_536,
            scanner_user_agents: [
                "friendly-scanner",
                "sipvicious",
                "sipcli",
                "sip-scan",
                "sipsak",
                "VaxSIPUserAgent",
                "pplsip",
                "sundayddr",
                "iWar",
            ]
            .map(String::from)
            .to_vec(),
            nonce_secret: String::new(),
        }
    }
}

impl SipLimits {
    /// The request flood limits.
    pub fn request_limits(&self) -> Limits {
        Limits {
            per_window: self.requests_per_window,
            window: Duration::from_secs(self.window_secs.max(1)),
            block_for: Duration::from_secs(self.block_secs),
            max_addresses: self.max_sources,
        }
    }

    /// The failed-authentication limits.
    pub fn auth_limits(&self) -> Limits {
        Limits {
            per_window: self.auth_failures_per_window,
            window: Duration::from_secs(self.auth_window_secs.max(1)),
            block_for: Duration::from_secs(self.auth_window_secs.max(1)),
            max_addresses: self.max_sources,
        }
    }

    /// Whether the flood limit skips `source`.
    pub fn is_exempt(&self, source: std::net::IpAddr) -> bool {
        self.exempt.iter().any(|n| n.contains(&source))
    }

    /// Whether a `User-Agent` value names a known scanner.
    pub fn is_scanner(&self, user_agent: &str) -> bool {
        let ua = user_agent.to_ascii_lowercase();
        self.scanner_user_agents
            .iter()
            .any(|s| !s.is_empty() && ua.contains(&s.to_ascii_lowercase()))
    }
}

/// `[trunks.auth]`: the trunk demands SIP digest credentials on INVITE.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkAuth {
    /// The realm of the challenge.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Algorithms offered, strongest first: `SHA-256`, `MD5`.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// How long a nonce is good for, seconds.
    #[serde(default = "default_nonce_ttl")]
    pub nonce_ttl_secs: u64,
    /// User name → password.
    pub users: BTreeMap<String, String>,
}

impl TrunkAuth {
    /// The configured algorithms, typed (unknown names are refused by validation).
    pub fn typed_algorithms(&self) -> Vec<Algorithm> {
        self.algorithms
            .iter()
            .filter_map(|a| match a.to_ascii_uppercase().as_str() {
                "SHA-256" => Some(Algorithm::Sha256),
                "MD5" => Some(Algorithm::Md5),
                _ => None,
            })
            .collect()
    }

    /// Problems for `Config::validate`.
    pub(crate) fn problems(&self, trunk: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.users.is_empty() {
            out.push(format!(
                "trunk `{trunk}`: [trunks.auth] needs at least one user"
            ));
        }
        if self.typed_algorithms().len() != self.algorithms.len() || self.algorithms.is_empty() {
            out.push(format!(
                "trunk `{trunk}`: [trunks.auth] algorithms must be \"SHA-256\" and/or \"MD5\""
            ));
        }
        if self.realm.is_empty() || self.realm.contains(['"', '\\']) {
            out.push(format!(
                "trunk `{trunk}`: [trunks.auth] realm must be non-empty, without quotes"
            ));
        }
        out
    }
}

fn default_realm() -> String {
    "voxgate".into()
}

fn default_algorithms() -> Vec<String> {
    vec!["SHA-256".into(), "MD5".into()]
}

fn default_nonce_ttl() -> u64 {
    300
}
