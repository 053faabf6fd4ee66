//! SIP over TLS (RFC 3261 §26.2, RFC 5630): a rustls listener in front of the same stream
//! service as TCP ([`super::tcp::serve_stream`]). The certificate chain and key come from
//! `[tls]`; with `client_ca` set, clients must present a certificate chaining to it (mutual
//! TLS). A client that does not finish its handshake within the timeout is dropped, and
//! handshakes count against the same connection cap as TCP.

use std::net::SocketAddr;
use std::sync::Arc;

use actix::Addr;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use voxgate_engine::config::TlsConfig;

use super::endpoint::SipEndpoint;
use super::tcp::{accept_capped, serve_stream, stream_framer};
use super::transport::{Kind, Outbound};

/// Handshakes that failed or timed out.
pub const TLS_HANDSHAKE_FAILURES: &str = "voxgate_tls_handshake_failures_total";

/// Builds the rustls server configuration of `[tls]`; errors name the file at fault.
pub fn server_config(tls: &TlsConfig) -> std::io::Result<Arc<ServerConfig>> {
    load_server_config(
        ("[tls] cert", &tls.cert),
        ("[tls] key", &tls.key),
        Some(("[tls] client_ca", &tls.client_ca)),
    )
}

/// A rustls server configuration from PEM files, each given with the config key that named it
/// (for the error message); `client_ca` non-empty asks clients for a certificate from that CA.
pub fn load_server_config(
    (cert_key, cert): (&str, &str),
    (key_key, key): (&str, &str),
    client_ca: Option<(&str, &str)>,
) -> std::io::Result<Arc<ServerConfig>> {
    let bad = |what: &str, path: &str, e: &dyn std::fmt::Display| {
        std::io::Error::other(format!("{what} `{path}`: {e}"))
    };
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
    let builder = match client_ca.filter(|(_, path)| !path.trim().is_empty()) {
        None => builder.with_no_client_auth(),
        Some((ca_key, ca)) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| bad(ca_key, ca, &e))? {
                let c = c.map_err(|e| bad(ca_key, ca, &e))?;
                roots.add(c).map_err(|e| bad(ca_key, ca, &e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| bad(ca_key, ca, &e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, private)
        .map_err(|e| bad(cert_key, cert, &e))?;
    Ok(Arc::new(config))
}

/// Accepts TLS connections until the listener fails.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    tls: TlsConfig,
    endpoint: Addr<SipEndpoint>,
    outbound: Outbound,
    max_connections: usize,
    max_message_bytes: usize,
) {
    let acceptor = TlsAcceptor::from(config);
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    let framer = stream_framer(max_message_bytes);
    let timeout = tls.handshake_timeout();
    loop {
        let (stream, peer, permit) = accept_capped(&listener, &permits).await;
        let acceptor = acceptor.clone();
        let endpoint = endpoint.clone();
        let outbound = outbound.clone();
        actix::spawn(async move {
            let Ok(local) = stream.local_addr() else {
                return;
            };
            let _ = stream.set_nodelay(true);
            match actix_rt::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    serve_stream(
                        tls_stream,
                        Kind::Tls,
                        peer,
                        local,
                        endpoint,
                        outbound,
                        framer,
                    )
                    .await;
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
