//! A caller places a call (INVITE with offer, 200 with answer and the zoom-cc session headers,
//! ACK, BYE, 200) over UDP and over TCP; the node counts it as a caller hang-up, and the RTP it
//! answered with really is a live port (the echo comes back).

mod common;
use std::net::UdpSocket;
use std::time::Duration;

use common::{wait_until, Node, Sipp};

#[test]
fn call_over_udp_ends_with_caller_bye() {
    let node = Node::start_default();
    Sipp::new("uac_call.xml", node.sip).run_ok();
    let ended = wait_until(Duration::from_secs(10), || {
        node.metric("voxgate_calls_ended_total{outcome=\"CallerHangUp\"}") >= 1.0
    });
    assert!(ended, "call not counted as ended:\n{}", node.log());
    assert!(wait_until(Duration::from_secs(10), || node
        .metric("voxgate_active_calls")
        == 0.0));
}

#[test]
fn call_over_tcp_ends_with_caller_bye() {
    let node = Node::start_default();
    Sipp::new("uac_call.xml", node.sip).tcp().run_ok();
    let ended = wait_until(Duration::from_secs(10), || {
        node.metric("voxgate_calls_ended_total{outcome=\"CallerHangUp\"}") >= 1.0
    });
    assert!(ended, "call not counted as ended:\n{}", node.log());
}

#[test]
fn answered_rtp_port_echoes_media() {
    let node = Node::start_default();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = sock.local_addr().unwrap().port();
    let invite = format!(
        "INVITE sip:+15550100@{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{media_port};branch=z9hG4bKecho1;rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=e1\r\n\
         To: <sip:+15550100@{sip}>\r\n\
         Call-ID: echo-test-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:{media_port}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\r\n\
         v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {media_port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
        sip = node.sip
    );
    // The SIP replies come to this socket too (rport): read until the 200.
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(invite.as_bytes(), node.sip).unwrap();
    let mut buf = [0u8; 4096];
    let ok = loop {
        let (n, _) = sock.recv_from(&mut buf).expect("a 200 OK");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
    };
    assert!(ok.contains("\r\nkore-session_id: "), "{ok}");
    assert!(ok.contains("\r\nkore-bot_id: demo\r\n"), "{ok}");
    assert!(ok.contains("m=audio "), "{ok}");
    assert!(ok.contains(" RTP/AVP 8"), "PCMA must be chosen: {ok}");
    let port: u16 = ok
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("answer port");
    // An RTP packet (PCMA, seq 1) to the answered port comes straight back.
    let mut rtp = vec![0x80, 8, 0, 1, 0, 0, 0, 160, 0x11, 0x22, 0x33, 0x44];
    rtp.extend(std::iter::repeat_n(0xd5, 160));
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    media
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    media.send_to(&rtp, ("127.0.0.1", port)).unwrap();
    let (n, _) = media.recv_from(&mut buf).expect("echoed RTP");
    assert_eq!(&buf[..n], &rtp[..]);
}
