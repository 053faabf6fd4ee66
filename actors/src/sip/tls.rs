//! SIP over TLS (RFC 3261 §26.2, RFC 5630): a rustls listener in front of the same stream
//! service as TCP ([`super::tcp::serve_stream`]). The certificate chain and key come from
//! `[tls]`; with `client_ca` set, clients must present a certificate chaining to it (mutual
//! TLS for the whole listener). Trunks with `[trunks.tls]` each demand a certificate from
//! their own CA (mutual TLS per trunk): the listener asks for one, and the endpoint refuses
//! that trunk's INVITEs on connections whose certificate did not satisfy it. A client that does not finish its handshake within the timeout is dropped, and
//! handshakes count against the same connection cap as TCP.

use std::net::SocketAddr;
use std::sync::Arc;

use actix::Addr;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use voxgate_engine::config::{Config, InviteConfig, TrunkConfig, TrunkTls};

use super::endpoint::SipEndpoint;
use super::tcp::{accept_capped, serve_stream, stream_framer, Link};
use super::transport::{Certified, Kind, Outbound};

/// Handshakes that failed or timed out.
pub const TLS_HANDSHAKE_FAILURES: &str = "voxgate_tls_handshake_failures_total";

/// The listener's rustls configuration and the per-trunk certificate checks of `config`;
/// errors name the file at fault.
///
/// `[tls] client_ca` makes a certificate from that CA mandatory for every client. Without it,
/// trunks with `[trunks.tls]` make the listener ask for (not demand) a certificate from any of
/// their CAs; which trunks a certificate satisfies is settled per connection by
/// [`TrunkCerts::certify`].
pub fn server_config(config: &Config) -> std::io::Result<TlsSetup> {
    let tls = &config.tls;
    let trunks = TrunkCerts::load(config)?;
    let client_auth = if !tls.client_ca.trim().is_empty() {
        ClientAuth::Require(load_roots("[tls] client_ca", &tls.client_ca)?)
    } else if trunks.is_empty() {
        ClientAuth::None
    } else {
        ClientAuth::Optional(trunks.roots.clone())
    };
    let server = load_server_config(
        ("[tls] cert", &tls.cert),
        ("[tls] key", &tls.key),
        client_auth,
    )?;
    Ok(TlsSetup {
        server,
        trunks: Arc::new(trunks),
        handshake_timeout: tls.handshake_timeout(),
    })
}

/// What the SIP TLS listener serves with.
pub struct TlsSetup {
    /// The rustls configuration.
    pub server: Arc<ServerConfig>,
    /// The per-trunk client-certificate checks.
    pub trunks: Arc<TrunkCerts>,
    /// How long a client gets to finish its handshake.
    pub handshake_timeout: std::time::Duration,
}

/// What a TLS listener asks of clients.
pub enum ClientAuth {
    /// No certificate asked.
    None,
    /// A certificate chaining to these roots is mandatory.
    Require(RootCertStore),
    /// A certificate is asked for; one that is given must chain to these roots.
    Optional(RootCertStore),
}

/// A rustls server configuration from PEM files, each given with the config key that named it
/// (for the error message), asking clients for certificates as `client_auth` says.
pub fn load_server_config(
    (cert_key, cert): (&str, &str),
    (key_key, key): (&str, &str),
    client_auth: ClientAuth,
) -> std::io::Result<Arc<ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert_key, cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(cert_key, cert, &e))?;
    if certs.is_empty() {
        return Err(bad(cert_key, cert, &"no certificate in the file"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key_key, key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| std::io::Error::other(format!("{cert_key}: {e}")))?;
    let verifier = |roots: RootCertStore, optional: bool| {
        let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
        let b = if optional {
            b.allow_unauthenticated()
        } else {
            b
        };
        b.build()
            .map_err(|e| std::io::Error::other(format!("client CA: {e}")))
    };
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Require(roots) => builder.with_client_cert_verifier(verifier(roots, false)?),
        ClientAuth::Optional(roots) => builder.with_client_cert_verifier(verifier(roots, true)?),
    };
    let config = builder
        .with_single_cert(certs, private)
        .map_err(|e| bad(cert_key, cert, &e))?;
    Ok(Arc::new(config))
}

/// How the node dials a peer over TLS: its client configuration and the name the peer's
/// certificate must carry (also sent as SNI).
#[derive(Clone)]
pub struct TlsDial {
    /// Roots that sign the peer's certificate, and the node's own client certificate if any.
    pub config: Arc<ClientConfig>,
    /// The name the peer's certificate must carry.
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsDial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsDial")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsDial {
    /// Dialling with `config` a peer whose certificate must name `name` (a DNS name or an IP
    /// address, as a URI's host gives it; IPv6 brackets are dropped).
    pub fn new(config: Arc<ClientConfig>, name: &str) -> Result<TlsDial, String> {
        let name = name.trim().trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|e| format!("TLS server name {name:?}: {e}"))?;
        Ok(TlsDial {
            config,
            server_name,
        })
    }
}

/// The client configuration of an `invite` trunk that calls its agents over TLS: the agent
/// side's certificate must chain to `tls_ca`; `tls_cert`/`tls_key` are shown when it asks for
/// a client certificate. Errors name the file at fault.
pub fn agent_client_config(invite: &InviteConfig) -> std::io::Result<Arc<ClientConfig>> {
    let roots = load_roots("[trunks.invite] tls_ca", invite.tls_ca.trim())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| std::io::Error::other(format!("[trunks.invite] TLS: {e}")))?
        .with_root_certificates(roots);
    let (cert, key) = (invite.tls_cert.trim(), invite.tls_key.trim());
    let config = if cert.is_empty() {
        builder.with_no_client_auth()
    } else {
        let what = "[trunks.invite] tls_cert";
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| bad(what, cert, &e))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad(what, cert, &e))?;
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| bad("[trunks.invite] tls_key", key, &e))?;
        builder
            .with_client_auth_cert(chain, private)
            .map_err(|e| bad(what, cert, &e))?
    };
    Ok(Arc::new(config))
}

fn bad(what: &str, path: &str, e: &dyn std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what} `{path}`: {e}"))
}

/// The CA certificates of a PEM bundle.
fn load_roots(what: &str, path: &str) -> std::io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    add_roots(&mut roots, what, path)?;
    Ok(roots)
}

fn add_roots(roots: &mut RootCertStore, what: &str, path: &str) -> std::io::Result<()> {
    for c in CertificateDer::pem_file_iter(path).map_err(|e| bad(what, path, &e))? {
        roots
            .add(c.map_err(|e| bad(what, path, &e))?)
            .map_err(|e| bad(what, path, &e))?;
    }
    if roots.is_empty() {
        return Err(bad(what, path, &"no CA certificate in the file"));
    }
    Ok(())
}

/// The client-certificate demands of the trunks with `[trunks.tls]`, in configuration order
/// (bit `i` of [`Certified`] is the `i`-th such trunk: see [`trunk_bit`]).
pub struct TrunkCerts {
    checks: Vec<TrunkCheck>,
    /// Every trunk CA, for the handshake's own chain check.
    roots: RootCertStore,
}

struct TrunkCheck {
    verifier: Arc<dyn ClientCertVerifier>,
    names: Vec<ServerName<'static>>,
}

impl TrunkCerts {
    /// Reads every trunk's CA bundle.
    pub fn load(config: &Config) -> std::io::Result<TrunkCerts> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut all = RootCertStore::empty();
        let mut checks = Vec::new();
        for (trunk, tls) in certified_trunks(config) {
            let what = format!("trunk `{}` [trunks.tls] client_ca", trunk.name);
            let roots = load_roots(&what, &tls.client_ca)?;
            add_roots(&mut all, &what, &tls.client_ca)?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| bad(&what, &tls.client_ca, &e))?;
            let names = tls
                .client_names
                .iter()
                .map(|n| {
                    ServerName::try_from(n.clone()).map_err(|e| {
                        std::io::Error::other(format!(
                            "trunk `{}` client_names `{n}`: {e}",
                            trunk.name
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            checks.push(TrunkCheck { verifier, names });
        }
        Ok(TrunkCerts { checks, roots: all })
    }

    /// Whether no trunk demands a client certificate.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// The trunks whose demands the client's certificate `chain` (leaf first) meets: it chains
    /// to the trunk's CA, and names one of the trunk's `client_names` when it lists any.
    pub fn certify(&self, chain: &[CertificateDer<'_>]) -> Certified {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Certified::default();
        };
        let now = UnixTime::now();
        let leaf_names = webpki::EndEntityCert::try_from(leaf).ok();
        let mut bits = 0u64;
        for (bit, check) in self.checks.iter().enumerate().take(64) {
            let chained = check
                .verifier
                .verify_client_cert(leaf, intermediates, now)
                .is_ok();
            let named = check.names.is_empty()
                || leaf_names.as_ref().is_some_and(|cert| {
                    (check.names.iter()).any(|n| cert.verify_is_valid_for_subject_name(n).is_ok())
                });
            if chained && named {
                bits |= 1 << bit;
            }
        }
        Certified(bits)
    }
}

/// The trunks with `[trunks.tls]`, in configuration order.
fn certified_trunks(config: &Config) -> impl Iterator<Item = (&TrunkConfig, &TrunkTls)> {
    (config.trunks.iter()).filter_map(|t| t.tls.as_ref().map(|tls| (t, tls)))
}

/// The [`Certified`] bit of `trunk`, when it demands a client certificate.
pub fn trunk_bit(config: &Config, trunk: &TrunkConfig) -> Option<usize> {
    certified_trunks(config).position(|(t, _)| t.name == trunk.name)
}

/// Accepts TLS connections until the listener fails.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    setup: TlsSetup,
    endpoint: Addr<SipEndpoint>,
    outbound: Outbound,
    max_connections: usize,
    max_message_bytes: usize,
) {
    let TlsSetup {
        server,
        trunks,
        handshake_timeout: timeout,
    } = setup;
    let acceptor = TlsAcceptor::from(server);
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    let framer = stream_framer(max_message_bytes);
    loop {
        let (stream, peer, permit) = accept_capped(&listener, &permits).await;
        let acceptor = acceptor.clone();
        let endpoint = endpoint.clone();
        let outbound = outbound.clone();
        let trunks = Arc::clone(&trunks);
        actix::spawn(async move {
            let Ok(local) = stream.local_addr() else {
                return;
            };
            let _ = stream.set_nodelay(true);
            match actix_rt::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    let chain = tls_stream.get_ref().1.peer_certificates();
                    let link = Link {
                        kind: Kind::Tls,
                        peer,
                        local,
                        certified: trunks.certify(chain.unwrap_or_default()),
                    };
                    serve_stream(tls_stream, link, endpoint, outbound, framer).await;
                }
                Ok(Err(e)) => handshake_failed(peer, &e),
                Err(_) => handshake_failed(peer, &"timed out"),
            }
            drop(permit);
        });
    }
}

fn handshake_failed(peer: SocketAddr, error: &dyn std::fmt::Display) {
    metrics::counter!(TLS_HANDSHAKE_FAILURES).increment(1);
    tracing::debug!(%peer, %error, "TLS handshake failed");
}
