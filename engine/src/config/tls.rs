//! `[tls]`: SIP over TLS (RFC 3261 §26.2, `sips:` and `;transport=tls`). The listener is off
//! unless `listen` is set; the certificate chain and key are PEM files. With `client_ca` set
//! the listener asks every client for a certificate signed by that CA (mutual TLS) and refuses
//! the handshake without one.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Where SIP over TLS listens (conventionally port 5061). Absent: no TLS listener.
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain, leaf first.
    pub cert: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// PEM CA bundle that client certificates must chain to (mutual TLS). Empty: no client
    /// certificates asked.
    pub client_ca: String,
    /// Seconds a client gets to finish its handshake.
    pub handshake_timeout_secs: u64,
}

impl TlsConfig {
    /// Problems for `Config::validate`.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.listen.is_some() && (self.cert.trim().is_empty() || self.key.trim().is_empty()) {
            out.push("[tls] listen needs `cert` and `key` (PEM files)".into());
        }
        out
    }

    /// The handshake timeout (10 s when unset).
    pub fn handshake_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(if self.handshake_timeout_secs == 0 {
            10
        } else {
            self.handshake_timeout_secs
        })
    }
}

/// `[trunks.tls]`: the trunk's SBC must call over TLS with a client certificate of its own
/// (mutual TLS per trunk). The listener asks for a client certificate without demanding one;
/// an INVITE from this trunk's addresses is refused with `403` unless its connection showed a
/// certificate chaining to `client_ca` and, when `client_names` is set, naming one of them
/// (DNS or IP subjectAltName).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkTls {
    /// PEM CA bundle the trunk's client certificate must chain to.
    pub client_ca: String,
    /// Names (DNS or IP) the certificate must carry, any one of them; empty: any name.
    #[serde(default)]
    pub client_names: Vec<String>,
}

/// At most this many trunks may demand client certificates (one bit each per connection).
pub const MAX_CERTIFIED_TRUNKS: usize = 64;

impl TrunkTls {
    /// Problems for `Config::validate`.
    pub(crate) fn problems(&self, trunk: &str, listener: &TlsConfig) -> Vec<String> {
        let mut out = Vec::new();
        if self.client_ca.trim().is_empty() {
            out.push(format!(
                "trunk `{trunk}`: [trunks.tls] needs `client_ca` (a PEM CA bundle)"
            ));
        }
        if listener.listen.is_none() {
            out.push(format!(
                "trunk `{trunk}`: [trunks.tls] needs the SIP TLS listener ([tls] listen)"
            ));
        }
        for name in &self.client_names {
            if !is_subject_name(name) {
                out.push(format!(
                    "trunk `{trunk}`: [trunks.tls] client_names: `{name}` is not a DNS name or IP address"
                ));
            }
        }
        out
    }
}

/// A DNS name (letters, digits, `-`, dots between labels) or an IP address.
fn is_subject_name(name: &str) -> bool {
    name.parse::<std::net::IpAddr>().is_ok()
        || (!name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }))
}

/// `[http]`: HTTPS/WSS on the HTTP listener (Talkdesk streams, the API, metrics). Off (plain
/// HTTP, the default contract) until both PEM files are set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// PEM certificate chain of the HTTP listener, leaf first. Empty: plain HTTP.
    pub tls_cert: String,
    /// PEM private key of the HTTP listener (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: String,
}

impl HttpConfig {
    /// Whether the listener serves HTTPS.
    pub fn tls(&self) -> bool {
        !self.tls_cert.trim().is_empty()
    }

    /// Problems for `Config::validate`.
    pub(crate) fn problems(&self) -> Vec<String> {
        let (cert, key) = (self.tls_cert.trim(), self.tls_key.trim());
        if cert.is_empty() != key.is_empty() {
            vec!["[http] HTTPS needs both `tls_cert` and `tls_key` (PEM files)".into()]
        } else {
            Vec::new()
        }
    }
}
