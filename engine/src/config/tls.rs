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
