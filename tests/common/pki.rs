//! A throw-away PKI for the TLS tests, made with `openssl` at test time: a CA, a server
//! certificate for 127.0.0.1/localhost and a client certificate, and rustls clients trusting it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::DEFAULT_TOML;

/// A CA, a server certificate for 127.0.0.1 and a client certificate (for `sbc.trunk.test`),
/// all signed by the CA.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// Makes the CA and both certificates with `openssl` in a fresh temporary directory.
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .stdin(Stdio::null())
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // `openssl req` with a new P-256 key and no passphrase, plus `args`.
        let new_key = |args: &[&str]| {
            let mut all = vec![
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ];
            all.push("-nodes");
            all.extend_from_slice(args);
            run(&all);
        };
        new_key(&[
            "-x509",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=voxgate test CA",
        ]);
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(
            d.join("client.ext"),
            "subjectAltName=DNS:sbc.trunk.test\nextendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        for who in ["server", "client"] {
            new_key(&[
                "-keyout",
                &format!("{who}.key"),
                "-out",
                &format!("{who}.csr"),
                "-subj",
                &format!("/CN={who}"),
            ]);
            run(&[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &format!("{who}.pem"),
                "-extfile",
                &format!("{who}.ext"),
            ]);
        }
        Pki { dir }
    }

    /// A file of the PKI: `ca.pem`, `server.pem`, `server.key`, `client.pem`, `client.key`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The default configuration with the SIP TLS listener on an ephemeral port, and mutual
    /// TLS when `mutual`.
    pub fn config(&self, mutual: bool) -> String {
        let client_ca = if mutual {
            self.path("ca.pem").display().to_string()
        } else {
            String::new()
        };
        DEFAULT_TOML.replace(
            "[tls]\n# listen = \"0.0.0.0:5061\"\ncert = \"\"\nkey = \"\"\nclient_ca = \"\"\n",
            &format!(
                "[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{client_ca}\"\n",
                self.path("server.pem").display(),
                self.path("server.key").display()
            ),
        )
    }

    /// [`Pki::config`] (without `[tls] client_ca`) whose trunk demands a client certificate from
    /// the test CA (`[trunks.tls]`) carrying one of `names` (any name when empty).
    pub fn trunk_config(&self, names: &[&str]) -> String {
        let base = self.config(false);
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        let config = base.replacen(
            "[trunks.refer]\n",
            &format!(
                "[trunks.tls]\nclient_ca = \"{}\"\nclient_names = [{}]\n\n[trunks.refer]\n",
                self.path("ca.pem").display(),
                quoted.join(", ")
            ),
            1,
        );
        assert_ne!(
            config, base,
            "the default config has a [trunks.refer] section"
        );
        config
    }

    /// A client trusting the test CA, with the client certificate when `with_cert`.
    pub fn client(&self, with_cert: bool) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let config = if with_cert {
            let certs = CertificateDer::pem_file_iter(self.path("client.pem"))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(self.path("client.key")).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }
}

impl Pki {
    /// The default configuration with HTTPS on the HTTP listener (`[http]`).
    pub fn https_config(&self) -> String {
        let config = DEFAULT_TOML.replace(
            "[http]\ntls_cert = \"\"\ntls_key = \"\"\n",
            &format!(
                "[http]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
                self.path("server.pem").display(),
                self.path("server.key").display()
            ),
        );
        assert_ne!(
            config, DEFAULT_TOML,
            "the default config has an [http] section"
        );
        config
    }

    /// A TLS connection to `addr` (127.0.0.1) trusting the test CA, handshake done.
    pub fn connect(&self, addr: SocketAddr) -> TlsStream {
        tls_connect(addr, self.client(false)).expect("TLS handshake with the node")
    }
}

impl Pki {
    /// A server with the test server certificate (127.0.0.1, localhost), demanding a client
    /// certificate from the test CA when `require_client`.
    pub fn server(&self, require_client: bool) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let certs = CertificateDer::pem_file_iter(self.path("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(self.path("server.key")).unwrap();
        Arc::new(builder.with_single_cert(certs, key).unwrap())
    }
}

/// Carries bytes both ways between a plain TCP connection and a TLS stream over `secure_sock`
/// until either side closes, counting them in `counts` (plain → secure, secure → plain) as it
/// goes. Both sockets get a 5 ms read timeout, so each side is polled in turn.
pub fn pump<S: Read + Write>(
    plain: &mut TcpStream,
    secure: &mut S,
    secure_sock: &TcpStream,
    (up, down): (&AtomicUsize, &AtomicUsize),
) {
    let tick = Some(std::time::Duration::from_millis(5));
    plain.set_read_timeout(tick).unwrap();
    secure_sock.set_read_timeout(tick).unwrap();
    let idle = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match plain.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if secure
                    .write_all(&buf[..n])
                    .and_then(|()| secure.flush())
                    .is_err()
                {
                    break;
                }
                up.fetch_add(n, Ordering::SeqCst);
            }
            Err(e) if idle(&e) => {}
            Err(_) => break,
        }
        match secure.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if plain.write_all(&buf[..n]).is_err() {
                    break;
                }
                down.fetch_add(n, Ordering::SeqCst);
            }
            Err(e) if idle(&e) => {}
            Err(_) => break,
        }
    }
}

/// What a [`tls_server_relay`] has seen so far.
#[derive(Debug, Default)]
pub struct Carried {
    /// Bytes from the TLS client to the plain side.
    pub up: AtomicUsize,
    /// Bytes from the plain side to the TLS client.
    pub down: AtomicUsize,
    /// The client showed a certificate (a server demanding one also checked its chain).
    pub client_certificate: AtomicBool,
    /// The handshake failed.
    pub refused: AtomicBool,
}

/// A TLS server on loopback (`config`) for one connection, carried as plain TCP to `plain`:
/// a TLS peer in front of a TCP-only one (SIPp). Returns its address and what it has carried,
/// updated as it goes; the relay thread ends when either side closes.
pub fn tls_server_relay(
    plain: SocketAddr,
    config: Arc<rustls::ServerConfig>,
) -> (SocketAddr, Arc<Carried>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let carried = Arc::new(Carried::default());
    let seen = Arc::clone(&carried);
    std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else {
            return;
        };
        let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut secure = rustls::StreamOwned::new(conn, tcp);
        while secure.conn.is_handshaking() {
            if secure.conn.complete_io(&mut secure.sock).is_err() {
                seen.refused.store(true, Ordering::SeqCst);
                return;
            }
        }
        seen.client_certificate
            .store(secure.conn.peer_certificates().is_some(), Ordering::SeqCst);
        let Ok(mut to) = TcpStream::connect(plain) else {
            return;
        };
        let sock = secure.sock.try_clone().unwrap();
        // Seen from the TLS client: what it sends goes to the plain side.
        pump(&mut to, &mut secure, &sock, (&seen.down, &seen.up));
    });
    (addr, carried)
}

/// A client TLS stream over TCP.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connects to `addr` (as 127.0.0.1) with `config` and drives the handshake to its end, so a
/// refusal shows here; reads time out after 10 s.
pub fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let name = ServerName::try_from("127.0.0.1").expect("an IP address is a server name");
    let conn = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}
