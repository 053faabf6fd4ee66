//! SIP over TLS against the real node: certificates are made at test time with `openssl`; a
//! rustls client places a whole call (INVITE, 200 with a `;transport=tls` Contact, ACK, BYE)
//! over one TLS connection and baresip calls over `;transport=tls` with audio; with
//! `client_ca` set (mutual TLS) a client without a certificate is refused at the handshake and
//! one with a certificate from that CA gets its answers.

mod common;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{baresip_dial, session_records, wait_until, Node, DEFAULT_TOML};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
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
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
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
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for who in ["server", "client"] {
            run(&[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
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

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, mutual: bool) -> String {
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

    /// A client trusting the test CA, with the client certificate when `with_cert`.
    fn client(&self, with_cert: bool) -> Arc<rustls::ClientConfig> {
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

/// One TLS connection to the node, reading whole SIP messages (Content-Length framed).
struct TlsSip {
    /// Buffered for reading across calls: two messages may arrive in one TLS record.
    stream: BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
    local: SocketAddr,
}

impl TlsSip {
    fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> std::io::Result<TlsSip> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
        let local = tcp.local_addr()?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        // Drive the handshake now so that a refusal shows here.
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(TlsSip {
            stream: BufReader::new(stream),
            local,
        })
    }

    fn send(&mut self, msg: &str) {
        let stream = self.stream.get_mut();
        stream.write_all(msg.as_bytes()).unwrap();
        stream.flush().unwrap();
    }

    /// The next message, or `None` when the connection ends or stays silent for 5 s.
    fn recv(&mut self) -> Option<String> {
        let reader = &mut self.stream;
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if line == "\r\n" && head.is_empty() {
                continue;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let len = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                let n = n.trim();
                (n.eq_ignore_ascii_case("content-length") || n == "l").then(|| v.trim())
            })
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).ok()?;
        Some(head + &String::from_utf8_lossy(&body))
    }

    /// Sends `msg` and returns the first final response to it.
    fn request(&mut self, msg: &str) -> String {
        self.send(msg);
        loop {
            let m = self.recv().expect("a response over TLS");
            if m.starts_with("SIP/2.0 ") && !m.starts_with("SIP/2.0 1") {
                return m;
            }
        }
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn request(method: &str, uri: &str, local: SocketAddr, cseq: u32, to: &str, extra: &str) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKtls{cseq}{method}\r\n\
         From: <sip:caller@127.0.0.1>;tag=tlsc\r\nTo: {to}\r\nCall-ID: tls-call-1\r\n\
         CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
         Contact: <sip:caller@{local};transport=tls>\r\n{extra}"
    )
}

#[test]
fn a_whole_call_over_tls() {
    let pki = Pki::new();
    let node = Node::start(&pki.config(false));
    let sips = node.sips.expect("the node announces sips=");
    let mut c = TlsSip::connect(sips, pki.client(false)).expect("TLS handshake");
    let local = c.local;

    let options = request(
        "OPTIONS",
        "sip:probe@127.0.0.1",
        local,
        1,
        "<sip:probe@127.0.0.1>",
        "Content-Length: 0\r\n\r\n",
    );
    assert!(c.request(&options).starts_with("SIP/2.0 200"));

    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let invite = request(
        "INVITE",
        "sip:+15550100@127.0.0.1;transport=tls",
        local,
        2,
        "<sip:+15550100@127.0.0.1>",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    );
    let ok = c.request(&invite);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let contact = header(&ok, "Contact").expect("Contact in the 200");
    assert!(contact.contains("transport=tls"), "Contact: {contact}");
    let to = header(&ok, "To").unwrap().to_owned();
    let target = contact
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    c.send(&request(
        "ACK",
        &target,
        local,
        2,
        &to,
        "Content-Length: 0\r\n\r\n",
    ));
    let bye = c.request(&request(
        "BYE",
        &target,
        local,
        3,
        &to,
        "Content-Length: 0\r\n\r\n",
    ));
    assert!(bye.starts_with("SIP/2.0 200"), "{bye}");

    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    assert_eq!(session_records(&node)[0].end_reason, "CallerHangUp");
}

#[test]
fn mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = Pki::new();
    let node = Node::start(&pki.config(true));
    let sips = node.sips.expect("the node announces sips=");
    // rustls reports the server's refusal either at the handshake or at the first read.
    let refused = match TlsSip::connect(sips, pki.client(false)) {
        Err(_) => true,
        Ok(mut c) => {
            let local = c.local;
            c.send(&request(
                "OPTIONS",
                "sip:p@127.0.0.1",
                local,
                1,
                "<sip:p@127.0.0.1>",
                "Content-Length: 0\r\n\r\n",
            ));
            c.recv().is_none()
        }
    };
    assert!(refused, "a client without a certificate was served");
    assert!(wait_until(Duration::from_secs(5), || {
        node.metric("voxgate_tls_handshake_failures_total") >= 1.0
    }));

    let mut c = TlsSip::connect(sips, pki.client(true)).expect("handshake with a client cert");
    let local = c.local;
    let options = request(
        "OPTIONS",
        "sip:p@127.0.0.1",
        local,
        1,
        "<sip:p@127.0.0.1>",
        "Content-Length: 0\r\n\r\n",
    );
    assert!(c.request(&options).starts_with("SIP/2.0 200"));
}

#[test]
fn baresip_calls_over_tls() {
    let pki = Pki::new();
    let node = Node::start(&pki.config(false));
    let sips = node.sips.expect("the node announces sips=");
    let text = baresip_dial(
        &format!("sip:+15550100@{sips};transport=tls"),
        "<sip:tester@127.0.0.1;transport=tls>;regint=0",
        &format!("sip_cafile {}\n", pki.path("ca.pem").display()),
    );
    assert!(text.contains("Call established"), "baresip output:\n{text}");
    assert!(
        text.contains("incoming rtp for 'audio' established"),
        "no audio came back:\n{text}"
    );
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
}
