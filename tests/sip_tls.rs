//! SIP over TLS against the real node: certificates are made at test time with `openssl`; a
//! rustls client places a whole call (INVITE, 200 with a `;transport=tls` Contact, ACK, BYE)
//! over one TLS connection and baresip calls over `;transport=tls` with audio; with
//! `client_ca` set (mutual TLS) a client without a certificate is refused at the handshake and
//! one with a certificate from that CA gets its answers.
//!
//! SIPp: Debian's `sip-tester` is built without OpenSSL (`sipp -t l1` exits with "To use a TLS
//! transport you must compile SIPp with OpenSSL"), so SIPp's TCP mode (`-t t1`) runs through a
//! relay in the test that carries its one connection inside a TLS connection to the node.

mod common;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use common::pki::{tls_connect, Pki, TlsStream};
use common::{baresip_call_ok, session_records, wait_until, Node, Sipp};

/// One TLS connection to the node, reading whole SIP messages (Content-Length framed).
struct TlsSip {
    /// Buffered for reading across calls: two messages may arrive in one TLS record.
    stream: BufReader<TlsStream>,
    local: SocketAddr,
}

impl TlsSip {
    fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> std::io::Result<TlsSip> {
        let stream = tls_connect(addr, config)?;
        stream.sock.set_read_timeout(Some(Duration::from_secs(5)))?;
        let local = stream.sock.local_addr()?;
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

/// An out-of-dialog OPTIONS from `local`.
fn options(local: SocketAddr) -> String {
    request(
        "OPTIONS",
        "sip:probe@127.0.0.1",
        local,
        1,
        "<sip:probe@127.0.0.1>",
        "Content-Length: 0\r\n\r\n",
    )
}

#[test]
fn a_whole_call_over_tls() {
    let pki = Pki::new();
    let node = Node::start(&pki.config(false));
    let sips = node.sips.expect("the node announces sips=");
    let mut c = TlsSip::connect(sips, pki.client(false)).expect("TLS handshake");
    let local = c.local;

    assert!(c.request(&options(local)).starts_with("SIP/2.0 200"));

    let ok = invite(&mut c);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    // The Contact names the TLS listener, where a new connection for this dialog must go.
    let contact = header(&ok, "Contact").expect("Contact in the 200");
    assert!(
        contact.contains(&format!(":{};transport=tls", sips.port())),
        "Contact: {contact}"
    );
    acknowledge_and_hang_up(&mut c, &ok);

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
            c.send(&options(local));
            c.recv().is_none()
        }
    };
    assert!(refused, "a client without a certificate was served");
    assert!(wait_until(Duration::from_secs(5), || {
        node.metric("voxgate_tls_handshake_failures_total") >= 1.0
    }));

    let mut c = TlsSip::connect(sips, pki.client(true)).expect("handshake with a client cert");
    let local = c.local;
    assert!(c.request(&options(local)).starts_with("SIP/2.0 200"));
}

/// Sends an INVITE with a PCMU offer over `c` and returns its final response.
fn invite(c: &mut TlsSip) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let invite = request(
        "INVITE",
        "sip:+15550100@127.0.0.1;transport=tls",
        c.local,
        2,
        "<sip:+15550100@127.0.0.1>",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    );
    c.request(&invite)
}

/// ACKs the `200` answer `ok` over TLS (its Contact says `transport=tls`) and hangs up with BYE.
fn acknowledge_and_hang_up(c: &mut TlsSip, ok: &str) {
    let local = c.local;
    let contact = header(ok, "Contact").expect("Contact in the 200");
    assert!(contact.contains("transport=tls"), "Contact: {contact}");
    let to = header(ok, "To").unwrap().to_owned();
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
}

/// The final response to an INVITE sent over UDP from loopback (the trunk's address) without
/// TLS.
fn invite_over_udp(sip: SocketAddr) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = sock.local_addr().unwrap();
    let msg = format!(
        "INVITE sip:+15550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKudp1\r\n\
         From: <sip:caller@127.0.0.1>;tag=u1\r\nTo: <sip:+15550100@127.0.0.1>\r\n\
         Call-ID: udp-call-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
         Contact: <sip:caller@{local}>\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(msg.as_bytes(), sip).unwrap();
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, _) = sock.recv_from(&mut buf).expect("an answer over UDP");
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !m.starts_with("SIP/2.0 1") {
            return m;
        }
    }
}

/// Mutual TLS per trunk (`[trunks.tls]`): the listener asks for a certificate without demanding
/// one, and the trunk's INVITEs are answered only on a connection whose certificate chains to
/// the trunk's CA and names one of its `client_names`; anything else gets `403`.
#[test]
fn a_trunk_demands_its_own_client_certificate() {
    let pki = Pki::new();
    let node = Node::start(&pki.trunk_config(&["sbc.trunk.test"]));
    let sips = node.sips.expect("the node announces sips=");

    let refused = invite_over_udp(node.sip);
    assert!(refused.starts_with("SIP/2.0 403"), "plain UDP: {refused}");

    let mut anonymous = TlsSip::connect(sips, pki.client(false)).expect("no certificate is fine");
    let local = anonymous.local;
    assert!(anonymous
        .request(&options(local))
        .starts_with("SIP/2.0 200"));
    let refused = invite(&mut anonymous);
    assert!(
        refused.starts_with("SIP/2.0 403"),
        "TLS without a certificate: {refused}"
    );

    let mut sbc = TlsSip::connect(sips, pki.client(true)).expect("handshake with the trunk's cert");
    let ok = invite(&mut sbc);
    assert!(
        ok.starts_with("SIP/2.0 200"),
        "the trunk's own certificate: {ok}"
    );
    acknowledge_and_hang_up(&mut sbc, &ok);
    assert!(wait_until(Duration::from_secs(5), || {
        node.metric("voxgate_sip_requests_screened_total{reason=\"client_cert\"}") >= 2.0
    }));

    // The same certificate does not satisfy a trunk expecting another name.
    let other = Node::start(&pki.trunk_config(&["other.trunk.test"]));
    let mut c = TlsSip::connect(other.sips.unwrap(), pki.client(true)).expect("handshake");
    let refused = invite(&mut c);
    assert!(refused.starts_with("SIP/2.0 403"), "wrong name: {refused}");
}

#[test]
fn baresip_calls_over_tls() {
    let pki = Pki::new();
    let node = Node::start(&pki.config(false));
    let sips = node.sips.expect("the node announces sips=");
    baresip_call_ok(
        &node,
        &format!("sip:+15550100@{sips};transport=tls"),
        "<sip:tester@127.0.0.1;transport=tls>;regint=0",
        &format!("sip_cafile {}\n", pki.path("ca.pem").display()),
    );
}

/// Listens on loopback for one TCP connection (SIPp's `-t t1`) and carries it, both ways, inside
/// a TLS connection to `tls` until either side closes. Returns the address to give SIPp and the
/// relay thread, which yields the bytes carried toward the node and back.
fn tls_relay(
    tls: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> (SocketAddr, std::thread::JoinHandle<(usize, usize)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let relay = std::thread::spawn(move || {
        let (mut plain, _) = listener.accept().expect("SIPp connects");
        let mut secure = tls_connect(tls, config).expect("TLS to the node");
        let sock = secure.sock.try_clone().unwrap();
        let (up, down) = (AtomicUsize::new(0), AtomicUsize::new(0));
        common::pki::pump(&mut plain, &mut secure, &sock, (&up, &down));
        (up.into_inner(), down.into_inner())
    });
    (addr, relay)
}

#[test]
fn sipp_call_over_tls() {
    let pki = Pki::new();
    let node = Node::start(&pki.config(false));
    let sips = node.sips.expect("the node announces sips=");
    let (relay, carried) = tls_relay(sips, pki.client(false));
    Sipp::new("uac_call.xml", relay).tcp().run_ok();
    let (up, down) = carried.join().expect("relay thread");
    assert!(up > 500 && down > 500, "carried {up} bytes up, {down} down");
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    assert_eq!(session_records(&node)[0].end_reason, "CallerHangUp");
}
