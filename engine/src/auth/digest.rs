//! SIP digest authentication, server side (RFC 3261 §22, RFC 7616 and RFC 8760: MD5 and
//! SHA-256, `qop=auth`).
//!
//! A trunk may demand credentials instead of (or on top of) its source ACL. The node answers a
//! request without valid credentials with `401` and one `WWW-Authenticate` challenge per
//! algorithm it accepts (SHA-256 first, as RFC 8760 §2.4 asks), and checks the `Authorization`
//! header of the retried request.
//!
//! Nonces are stateless: `timestamp.hmac(secret, timestamp)` (hex), so any node that shares
//! the secret can check a nonce without remembering it, and a nonce older than its lifetime is
//! answered with `stale=true` (the client retries without asking the user again). Within the
//! lifetime, [`ReplayGuard`] remembers every `(nonce, cnonce, nc)` accepted (RFC 7616 §3.3:
//! the nonce count exists so that the server can detect replays): the same triple a second
//! time is a replay, and so is a second use of a nonce without `qop` (no count to tell uses
//! apart). The guard is per node and bounded; docs/sip.md says what that leaves open.
//!
//! Sans-IO: the caller passes the time in as unix seconds.

use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

/// The digest algorithms voxgate accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RFC 2617's MD5 (what most SIP equipment still sends).
    Md5,
    /// RFC 8760's SHA-256.
    Sha256,
}

impl Algorithm {
    /// The token in the `algorithm=` parameter.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn parse(token: &str) -> Option<Algorithm> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    fn hash_hex(self, input: &str) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(input.as_bytes())),
            Algorithm::Sha256 => hex(&Sha256::digest(input.as_bytes())),
        }
    }
}

/// The parameters of an `Authorization` (or `Proxy-Authorization`) header with scheme
/// `Digest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri` (the digest-uri).
    pub uri: String,
    /// `response` (hex).
    pub response: String,
    /// `algorithm` (absent means MD5).
    pub algorithm: Option<String>,
    /// `qop`.
    pub qop: Option<String>,
    /// `nc`.
    pub nc: Option<String>,
    /// `cnonce`.
    pub cnonce: Option<String>,
    /// `opaque`.
    pub opaque: Option<String>,
}

/// Why credentials were not accepted. Each maps to a fresh challenge; the variants exist for
/// counters and logs, never for the wire (the answer must not tell a cracker which part failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The header is not `Digest` with the required parameters.
    #[error("malformed Authorization header")]
    Malformed,
    /// Another realm than ours.
    #[error("wrong realm")]
    Realm,
    /// An algorithm we do not accept.
    #[error("unsupported algorithm")]
    Algorithm,
    /// The nonce was not issued by us.
    #[error("nonce not issued by this node")]
    BadNonce,
    /// The nonce is ours but too old: challenge again with `stale=true`.
    #[error("stale nonce")]
    Stale,
    /// Unknown user or wrong password (deliberately one variant).
    #[error("wrong credentials")]
    Wrong,
    /// `qop=auth` without `nc`/`cnonce`, or a `qop` we did not offer.
    #[error("bad qop parameters")]
    Qop,
}

/// Parses `Digest k=v, k="v", …`. Unknown parameters are ignored; quoted values may contain
/// commas and escaped quotes.
pub fn parse_credentials(header: &str) -> Result<Credentials, DigestError> {
    let rest = digest_params(header)?;
    let mut c = Credentials::default();
    for (key, value) in params(rest)? {
        let slot = match key.to_ascii_lowercase().as_str() {
            "username" => &mut c.username,
            "realm" => &mut c.realm,
            "nonce" => &mut c.nonce,
            "uri" => &mut c.uri,
            "response" => &mut c.response,
            "algorithm" => {
                c.algorithm = Some(value);
                continue;
            }
            "qop" => {
                c.qop = Some(value);
                continue;
            }
            "nc" => {
                c.nc = Some(value);
                continue;
            }
            "cnonce" => {
                c.cnonce = Some(value);
                continue;
            }
            "opaque" => {
                c.opaque = Some(value);
                continue;
            }
            _ => continue,
        };
        *slot = value;
    }
    if c.username.is_empty() || c.nonce.is_empty() || c.uri.is_empty() || c.response.is_empty() {
        return Err(DigestError::Malformed);
    }
    Ok(c)
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` challenge with scheme `Digest`, as a client of
/// ours (the `invite` hand-back calling an agent platform) answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `algorithm` (absent means MD5).
    pub algorithm: Algorithm,
    /// `qop` offers `auth`.
    pub qop_auth: bool,
    /// `opaque`, echoed back.
    pub opaque: Option<String>,
}

/// Parses a challenge; `Err` for another scheme, a missing nonce or an algorithm we cannot
/// compute.
pub fn parse_challenge(header: &str) -> Result<Challenge, DigestError> {
    let rest = digest_params(header)?;
    let mut c = Challenge {
        realm: String::new(),
        nonce: String::new(),
        algorithm: Algorithm::Md5,
        qop_auth: false,
        opaque: None,
    };
    for (key, value) in params(rest)? {
        match key.to_ascii_lowercase().as_str() {
            "realm" => c.realm = value,
            "nonce" => c.nonce = value,
            "algorithm" => c.algorithm = Algorithm::parse(&value).ok_or(DigestError::Algorithm)?,
            "qop" => {
                c.qop_auth = value
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
            }
            "opaque" => c.opaque = Some(value),
            _ => {}
        }
    }
    if c.nonce.is_empty() {
        return Err(DigestError::Malformed);
    }
    Ok(c)
}

impl Challenge {
    /// The `Authorization` value answering this challenge for `method` on `uri` (`qop=auth`
    /// with `nc=00000001` and `cnonce` when the challenge offers it).
    pub fn authorization(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let qop_auth = self.qop_auth.then_some(("00000001", cnonce));
        let response = ClientDigest {
            algorithm: self.algorithm,
            username,
            realm: &self.realm,
            password,
            method,
            uri,
            nonce: &self.nonce,
            qop_auth,
        }
        .response();
        let quote = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
            quote(username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(uri),
            self.algorithm.token()
        );
        if let Some((nc, cnonce)) = qop_auth {
            out.push_str(&format!(
                ", qop=auth, nc={nc}, cnonce=\"{}\"",
                quote(cnonce)
            ));
        }
        if let Some(opaque) = &self.opaque {
            out.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
        }
        out
    }
}

/// The parameter list of a `Digest …` header value.
fn digest_params(header: &str) -> Result<&str, DigestError> {
    let (scheme, rest) = header
        .trim()
        .split_once([' ', '\t'])
        .ok_or(DigestError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::Malformed);
    }
    Ok(rest)
}

/// Splits a comma-separated list of `key=value` / `key="quoted"` pairs.
fn params(mut s: &str) -> Result<Vec<(String, String)>, DigestError> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches([' ', '\t', ',']);
        if s.is_empty() {
            return Ok(out);
        }
        let eq = s.find('=').ok_or(DigestError::Malformed)?;
        let key = s[..eq].trim().to_owned();
        if key.is_empty() || key.contains([' ', ',', '"']) {
            return Err(DigestError::Malformed);
        }
        s = s[eq + 1..].trim_start();
        let value = if let Some(quoted) = s.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(DigestError::Malformed),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, ch)) => value.push(ch),
                        None => return Err(DigestError::Malformed),
                    },
                    Some((_, ch)) => value.push(ch),
                }
            };
            s = &quoted[end + 1..];
            value
        } else {
            let end = s.find(',').unwrap_or(s.len());
            let value = s[..end].trim().to_owned();
            s = &s[end..];
            value
        };
        out.push((key, value));
    }
}

/// One trunk's digest verifier: its realm, its users and the node's nonce secret.
#[derive(Debug, Clone)]
pub struct DigestAuth {
    realm: String,
    secret: Vec<u8>,
    nonce_ttl_secs: u64,
    algorithms: Vec<Algorithm>,
}

impl DigestAuth {
    /// A verifier for `realm` whose nonces are signed with `secret` and live `nonce_ttl_secs`.
    /// `algorithms` is the offer, strongest first (empty: SHA-256 then MD5).
    pub fn new(
        realm: impl Into<String>,
        secret: &[u8],
        nonce_ttl_secs: u64,
        algorithms: &[Algorithm],
    ) -> DigestAuth {
        let algorithms = if algorithms.is_empty() {
            vec![Algorithm::Sha256, Algorithm::Md5]
        } else {
            algorithms.to_vec()
        };
        DigestAuth {
            realm: realm.into(),
            secret: secret.to_vec(),
            nonce_ttl_secs,
            algorithms,
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// A nonce minted at `now` (unix seconds).
    pub fn nonce(&self, now: u64) -> String {
        format!("{now:x}.{}", self.nonce_mac(now))
    }

    fn nonce_mac(&self, ts: u64) -> String {
        // HMAC accepts keys of any length, an empty one included.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        mac.update(&ts.to_be_bytes());
        mac.update(self.realm.as_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }

    /// The `WWW-Authenticate` values of a `401`, one per offered algorithm, strongest first.
    pub fn challenges(&self, now: u64, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now);
        self.algorithms
            .iter()
            .map(|a| {
                let mut v = format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
                    self.realm,
                    a.token()
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Checks `creds` of a `method` request at `now`. `password` looks a user's password up;
    /// an unknown user is checked against a dummy so that its answer costs the same time.
    pub fn verify(
        &self,
        creds: &Credentials,
        method: &str,
        now: u64,
        password: impl Fn(&str) -> Option<String>,
    ) -> Result<(), DigestError> {
        if creds.realm != self.realm {
            return Err(DigestError::Realm);
        }
        let algorithm = match creds.algorithm.as_deref() {
            None => Algorithm::Md5,
            Some(t) => Algorithm::parse(t).ok_or(DigestError::Algorithm)?,
        };
        if !self.algorithms.contains(&algorithm) {
            return Err(DigestError::Algorithm);
        }
        self.check_nonce(&creds.nonce, now)?;
        let known = password(&creds.username);
        let pass = known.as_deref().unwrap_or("\u{0}no such user\u{0}");
        let ha1 = algorithm.hash_hex(&format!("{}:{}:{pass}", creds.username, self.realm));
        let ha2 = algorithm.hash_hex(&format!("{method}:{}", creds.uri));
        let expected = match creds.qop.as_deref() {
            None => algorithm.hash_hex(&format!("{ha1}:{}:{ha2}", creds.nonce)),
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (&creds.nc, &creds.cnonce) else {
                    return Err(DigestError::Qop);
                };
                algorithm.hash_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", creds.nonce))
            }
            Some(_) => return Err(DigestError::Qop),
        };
        let matches = constant_time_eq(
            creds.response.to_ascii_lowercase().as_bytes(),
            expected.as_bytes(),
        );
        if matches && known.is_some() {
            Ok(())
        } else {
            Err(DigestError::Wrong)
        }
    }

    fn check_nonce(&self, nonce: &str, now: u64) -> Result<(), DigestError> {
        let (ts, mac) = nonce.split_once('.').ok_or(DigestError::BadNonce)?;
        let ts = u64::from_str_radix(ts, 16).map_err(|_| DigestError::BadNonce)?;
        if !constant_time_eq(mac.as_bytes(), self.nonce_mac(ts).as_bytes()) {
            return Err(DigestError::BadNonce);
        }
        if ts > now.saturating_add(5) || now - ts.min(now) > self.nonce_ttl_secs {
            return Err(DigestError::Stale);
        }
        Ok(())
    }
}

/// The nonce uses a node has accepted, each remembered until its nonce expires.
#[derive(Debug)]
pub struct ReplayGuard {
    seen: std::collections::HashSet<String>,
    /// Insertion order with each entry's expiry (unix seconds), oldest first.
    order: std::collections::VecDeque<(u64, String)>,
    capacity: usize,
}

impl ReplayGuard {
    /// A guard remembering at most `capacity` uses (the oldest is forgotten first).
    pub fn new(capacity: usize) -> ReplayGuard {
        ReplayGuard {
            seen: Default::default(),
            order: Default::default(),
            capacity: capacity.max(1),
        }
    }

    /// Records the use of verified `creds` at `now` whose nonce lives `ttl_secs`; false when
    /// the same use was accepted before (a replay).
    pub fn first_use(&mut self, creds: &Credentials, now: u64, ttl_secs: u64) -> bool {
        while let Some((expiry, _)) = self.order.front() {
            if *expiry >= now && self.order.len() < self.capacity {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.seen.remove(&key);
            }
        }
        let key = format!(
            "{}\u{0}{}\u{0}{}",
            creds.nonce,
            creds.cnonce.as_deref().unwrap_or(""),
            creds.nc.as_deref().unwrap_or("")
        );
        if self.seen.contains(&key) {
            return false;
        }
        // A nonce is valid from its timestamp for ttl_secs (plus the 5 s of clock skew
        // check_nonce allows); remembering it that long from now covers that.
        self.order
            .push_back((now.saturating_add(ttl_secs + 5), key.clone()));
        self.seen.insert(key);
        true
    }

    /// Uses remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// What a client hashes into its `response` (for tests and for a client of ours).
#[derive(Debug, Clone, Copy)]
pub struct ClientDigest<'a> {
    /// The algorithm of the challenge answered.
    pub algorithm: Algorithm,
    /// The user.
    pub username: &'a str,
    /// The challenge's realm.
    pub realm: &'a str,
    /// The user's password.
    pub password: &'a str,
    /// The request's method.
    pub method: &'a str,
    /// The digest-uri (the Request-URI).
    pub uri: &'a str,
    /// The challenge's nonce.
    pub nonce: &'a str,
    /// `(nc, cnonce)` for `qop=auth`; `None` for the RFC 2069 form.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

impl ClientDigest<'_> {
    /// The hex `response` parameter.
    pub fn response(&self) -> String {
        let a = self.algorithm;
        let ha1 = a.hash_hex(&format!(
            "{}:{}:{}",
            self.username, self.realm, self.password
        ));
        let ha2 = a.hash_hex(&format!("{}:{}", self.method, self.uri));
        match self.qop_auth {
            Some((nc, cnonce)) => {
                a.hash_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
            }
            None => a.hash_hex(&format!("{ha1}:{}:{ha2}", self.nonce)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing into a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for (i, y) in b.iter().enumerate() {
        let x = a.get(i).copied().unwrap_or(!*y);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_answered_so_that_the_server_accepts_it() {
        let auth = DigestAuth::new("cc.example", b"secret", 300, &[Algorithm::Sha256]);
        let password = "pw\\\"1";
        let header = &auth.challenges(1000, false)[0];
        let challenge = parse_challenge(header).unwrap();
        assert_eq!(challenge.algorithm, Algorithm::Sha256);
        assert!(challenge.qop_auth);
        let value = challenge.authorization("agent", password, "INVITE", "sip:a@b", "c0ffee");
        let creds = parse_credentials(&value).unwrap();
        let lookup = |user: &str| (user == "agent").then(|| password.to_owned());
        assert_eq!(auth.verify(&creds, "INVITE", 1001, lookup), Ok(()));
        let wrong = challenge.authorization("agent", "other", "INVITE", "sip:a@b", "c0ffee");
        let creds = parse_credentials(&wrong).unwrap();
        assert!(auth.verify(&creds, "INVITE", 1001, lookup).is_err());
        assert!(parse_challenge("Basic realm=\"x\"").is_err());
        assert!(parse_challenge("Digest realm=\"x\"").is_err());
        assert!(parse_challenge("Digest nonce=\"n\", algorithm=SHA-512").is_err());
    }

    const NOW: u64 = 1_800_000_000;

    fn auth() -> DigestAuth {
        DigestAuth::new("voxgate", b"k", 300, &[])
    }

    fn users(u: &str) -> Option<String> {
        (u == "alice").then(|| "s3cret".to_owned())
    }

    fn creds_for(a: Algorithm, nonce: &str, password: &str, qop: bool) -> Credentials {
        let uri = "sip:+15550100@127.0.0.1";
        let nc = qop.then_some(("00000001", "0a4f113b"));
        Credentials {
            username: "alice".into(),
            realm: "voxgate".into(),
            nonce: nonce.into(),
            uri: uri.into(),
            response: ClientDigest {
                algorithm: a,
                username: "alice",
                realm: "voxgate",
                password,
                method: "INVITE",
                uri,
                nonce,
                qop_auth: nc,
            }
            .response(),
            algorithm: Some(a.token().into()),
            qop: qop.then(|| "auth".into()),
            nc: nc.map(|x| x.0.into()),
            cnonce: nc.map(|x| x.1.into()),
            opaque: None,
        }
    }

    #[test]
    fn a_use_of_a_nonce_counts_once() {
        let a = auth();
        let nonce = a.nonce(NOW);
        let mut guard = ReplayGuard::new(8);
        let first = creds_for(Algorithm::Sha256, &nonce, "s3cret", true);
        assert!(a.verify(&first, "INVITE", NOW, users).is_ok());
        assert!(guard.first_use(&first, NOW, 300));
        // The same request again verifies, but the guard knows it.
        assert!(!guard.first_use(&first, NOW + 1, 300));
        // The next count on the same nonce is a new use.
        let mut second = first.clone();
        second.nc = Some("00000002".into());
        assert!(guard.first_use(&second, NOW + 2, 300));
        // Without qop a nonce is good for one use.
        let plain = creds_for(Algorithm::Md5, &a.nonce(NOW), "s3cret", false);
        assert!(guard.first_use(&plain, NOW, 300));
        assert!(!guard.first_use(&plain, NOW, 300));
        // Expired uses are forgotten, and the guard never holds more than its capacity.
        assert!(guard.first_use(&first, NOW + 400, 300));
        assert_eq!(guard.len(), 1);
        for i in 0..20 {
            let mut c = first.clone();
            c.nc = Some(format!("{i:08x}"));
            guard.first_use(&c, NOW + 400, 300);
        }
        assert!(guard.len() <= 8);
    }

    #[test]
    fn rfc2617_md5_vector() {
        // RFC 2617 §3.5 (HTTP, qop=auth): Mufasa / Circle Of Life.
        let r = ClientDigest {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop_auth: Some(("00000001", "0a4f113b")),
        }
        .response();
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_sha256_vector() {
        // RFC 7616 §3.9.1: SHA-256, qop=auth.
        let r = ClientDigest {
            algorithm: Algorithm::Sha256,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        }
        .response();
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn both_algorithms_with_and_without_qop_verify() {
        let a = auth();
        let nonce = a.nonce(NOW);
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            for qop in [false, true] {
                let c = creds_for(alg, &nonce, "s3cret", qop);
                assert_eq!(
                    a.verify(&c, "INVITE", NOW + 10, users),
                    Ok(()),
                    "{alg:?} {qop}"
                );
            }
        }
    }

    #[test]
    fn wrong_password_and_unknown_user_look_the_same() {
        let a = auth();
        let nonce = a.nonce(NOW);
        let c = creds_for(Algorithm::Md5, &nonce, "guess", true);
        assert_eq!(a.verify(&c, "INVITE", NOW, users), Err(DigestError::Wrong));
        let mut c = creds_for(Algorithm::Md5, &nonce, "s3cret", true);
        c.username = "bob".into();
        assert_eq!(a.verify(&c, "INVITE", NOW, users), Err(DigestError::Wrong));
    }

    #[test]
    fn forged_and_stale_nonces() {
        let a = auth();
        let c = creds_for(Algorithm::Md5, "65f0a000.deadbeef", "s3cret", true);
        assert_eq!(
            a.verify(&c, "INVITE", NOW, users),
            Err(DigestError::BadNonce)
        );
        let other = DigestAuth::new("voxgate", b"other", 300, &[]);
        let c = creds_for(Algorithm::Md5, &other.nonce(NOW), "s3cret", true);
        assert_eq!(
            a.verify(&c, "INVITE", NOW, users),
            Err(DigestError::BadNonce)
        );
        let c = creds_for(Algorithm::Md5, &a.nonce(NOW), "s3cret", true);
        assert_eq!(
            a.verify(&c, "INVITE", NOW + 301, users),
            Err(DigestError::Stale)
        );
    }

    #[test]
    fn method_is_part_of_the_hash() {
        let a = auth();
        let c = creds_for(Algorithm::Sha256, &a.nonce(NOW), "s3cret", true);
        assert_eq!(a.verify(&c, "BYE", NOW, users), Err(DigestError::Wrong));
    }

    #[test]
    fn algorithm_must_be_offered() {
        let a = DigestAuth::new("voxgate", b"k", 300, &[Algorithm::Sha256]);
        let c = creds_for(Algorithm::Md5, &a.nonce(NOW), "s3cret", true);
        assert_eq!(
            a.verify(&c, "INVITE", NOW, users),
            Err(DigestError::Algorithm)
        );
        let mut c = c;
        c.algorithm = Some("SHA-512-256".into());
        assert_eq!(
            a.verify(&c, "INVITE", NOW, users),
            Err(DigestError::Algorithm)
        );
    }

    #[test]
    fn challenges_offer_sha256_first() {
        let ch = auth().challenges(NOW, true);
        assert_eq!(ch.len(), 2);
        assert!(ch[0].contains("algorithm=SHA-256") && ch[0].ends_with("stale=true"));
        assert!(ch[1].contains("algorithm=MD5"));
        assert!(ch[0].starts_with("Digest realm=\"voxgate\", nonce=\""));
    }

    #[test]
    fn parses_quoted_and_token_params() {
        let c = parse_credentials(
            "Digest username=\"al\\\"ice\", realm=\"a,b\", nonce=\"n\", uri=\"sip:x@y\", \
             response=\"ABC\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c\", foo=bar",
        )
        .unwrap();
        assert_eq!(c.username, "al\"ice");
        assert_eq!(c.realm, "a,b");
        assert_eq!(c.algorithm.as_deref(), Some("MD5"));
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(c.nc.as_deref(), Some("00000001"));
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        for h in [
            "",
            "Basic abc",
            "Digest",
            "Digest username",
            "Digest username=\"unterminated",
            "Digest username=\"a\\",
            "Digest =x",
            "Digest username=a, nonce=n, uri=u",
            "Digest \"x\"=y",
        ] {
            assert!(parse_credentials(h).is_err(), "{h}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in ".{0,200}") {
            let _ = parse_credentials(&s);
            let _ = parse_credentials(&format!("Digest {s}"));
        }
    }
}
