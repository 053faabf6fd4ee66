//! Session timers (RFC 4028) on the caller's dialog: an interval below Min-SE gets 422 with
//! `Min-SE`; an acceptable one is confirmed in the 200 with the refresher and `Require: timer`.
//! (Expiry and our own refreshes are tested on virtual time in `engine::sip::session_timer`.)

mod common;
use std::net::UdpSocket;
use std::time::Duration;

use common::Node;

fn invite(node: &Node, sock: &UdpSocket, call_id: &str, session_expires: &str) -> String {
    let port = sock.local_addr().unwrap().port();
    let text = format!(
        "INVITE sip:+15550100@{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call_id};rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=st1\r\nTo: <sip:+15550100@{sip}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:{port}>\r\n\
         Max-Forwards: 70\r\nSupported: timer\r\nSession-Expires: {session_expires}\r\n\
         Content-Type: application/sdp\r\n\r\n\
         v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\n",
        sip = node.sip
    );
    sock.send_to(text.as_bytes(), node.sip).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = sock.recv_from(&mut buf).expect("a final response");
        let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
        let status: u16 = reply[8..11].parse().unwrap();
        if status >= 200 {
            return reply;
        }
    }
}

#[test]
fn session_interval_negotiation() {
    let node = Node::start_default();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    let reply = invite(&node, &sock, "st-small", "30");
    assert!(reply.starts_with("SIP/2.0 422 "), "{reply}");
    assert!(reply.contains("\r\nMin-SE: 90\r\n"), "{reply}");

    let reply = invite(&node, &sock, "st-ok", "120;refresher=uac");
    assert!(reply.starts_with("SIP/2.0 200 "), "{reply}");
    assert!(
        reply.contains("\r\nSession-Expires: 120;refresher=uac\r\n"),
        "{reply}"
    );
    assert!(reply.contains("\r\nRequire: timer\r\n"), "{reply}");
}
