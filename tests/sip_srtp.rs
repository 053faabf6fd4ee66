//! SRTP with SDES keys (RFC 4568) on a trunk with `srtp = "required"`: baresip (Debian
//! `baresip-core`, its `srtp` module with `mediaenc=srtp-mand`) calls and audio flows both ways
//! encrypted; a plain RTP offer (SIPp) gets 488; a raw INVITE shows the answer's format (RTP/SAVP,
//! the offer's tag and suite, our own 30-byte inline key).

mod common;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{baresip_call_ok, scenario_with, Node, Sipp, DEFAULT_TOML};

fn srtp_config(mode: &str) -> String {
    let config = DEFAULT_TOML.replace("srtp = \"off\"", &format!("srtp = \"{mode}\""));
    assert_ne!(
        config, DEFAULT_TOML,
        "the default config names `srtp = \"off\"`"
    );
    config
}

#[test]
fn baresip_calls_with_srtp_and_audio_flows() {
    let node = Node::start(&srtp_config("required"));
    // baresip's srtp module drops what does not authenticate, so its "incoming rtp" line
    // (checked by the helper) means our SRTP reached its RTP stack.
    let record = baresip_call_ok(
        &node,
        &format!("sip:+15550100@{}", node.sip),
        "<sip:tester@127.0.0.1>;regint=0;mediaenc=srtp-mand",
        "module srtp.so\n",
    );
    assert_eq!(record.end_reason, "CallerHangUp");
    let rtp = record.rtp.as_ref().expect("RTP counters in the record");
    // ~4 s of 20 ms packets each way; only authenticated packets reach the RTP session.
    assert!(rtp.packets_received > 50, "{rtp:?}");
    assert!(rtp.packets_sent > 50, "{rtp:?}");
    // baresip opens the RTCP port with one plain 16-byte RTCP APP packet before keys are agreed;
    // it does not authenticate and is dropped. Nothing else may be.
    let rejected = node.metric("voxgate_srtp_packets_rejected_total{direction=\"received\"}");
    assert!(
        rejected <= 2.0,
        "{rejected} packets rejected:\n{}",
        node.log()
    );
}

#[test]
fn plain_rtp_offer_to_an_srtp_trunk_gets_488() {
    let node = Node::start(&srtp_config("required"));
    let (_dir, path) = scenario_with("invite_refused.xml", &[("STATUS", "488")]);
    Sipp::with_scenario_file(&path, node.sip).run_ok();
}

/// Sends `request` from `sock` and returns the first final response.
fn final_response(sock: &UdpSocket, to: SocketAddr, request: &str) -> String {
    sock.send_to(request.as_bytes(), to).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 65535];
    while Instant::now() < deadline {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0 1") {
            return text;
        }
    }
    panic!("no final response to:\n{request}");
}

const OFFER_KEY: &str = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";

fn invite(sock: &UdpSocket, call_id: &str, proto: &str) -> String {
    let local = sock.local_addr().unwrap();
    let body = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 9 {proto} 8 0\r\n\
         a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:{OFFER_KEY}|2^31\r\n\
         a=crypto:8 AES_CM_128_HMAC_SHA1_32 inline:{OFFER_KEY}\r\n"
    );
    format!(
        "INVITE sip:+15550100@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\n\
         From: <sip:caller@127.0.0.1>;tag=c1\r\nTo: <sip:+15550100@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
         Contact: <sip:caller@{local}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn in_dialog(method: &str, cseq: u32, ok: &str, sock: &UdpSocket, call_id: &str) -> String {
    let local = sock.local_addr().unwrap();
    let to = ok
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .expect("To in the 200")
        .to_owned();
    format!(
        "{method} sip:+15550100@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}-{cseq}\r\n\
         From: <sip:caller@127.0.0.1>;tag=c1\r\n{to}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn savp_answer_carries_our_key_with_the_offer_tag() {
    let node = Node::start(&srtp_config("optional"));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let ok = final_response(&sock, node.sip, &invite(&sock, "savp-1", "RTP/SAVP"));
    assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");
    let body = &ok[ok.find("\r\n\r\n").expect("a body") + 4..];
    let m = body
        .lines()
        .find(|l| l.starts_with("m=audio "))
        .expect("m= line");
    assert!(m.ends_with(" RTP/SAVP 8"), "{body}");
    let crypto: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("a=crypto:"))
        .collect();
    assert_eq!(crypto.len(), 1, "exactly one crypto line answered:\n{body}");
    let key = crypto[0]
        .strip_prefix("a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:")
        .unwrap_or_else(|| panic!("the offer's first tag and suite: {body}"));
    assert_eq!(key.len(), 40, "30 bytes in base64: {key}");
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "{key}"
    );
    assert_ne!(key, OFFER_KEY, "our own key, not the offerer's");
    sock.send_to(
        in_dialog("ACK", 1, &ok, &sock, "savp-1").as_bytes(),
        node.sip,
    )
    .unwrap();
    let bye = final_response(&sock, node.sip, &in_dialog("BYE", 2, &ok, &sock, "savp-1"));
    assert!(bye.starts_with("SIP/2.0 200 "), "{bye}");

    // Where SRTP is optional a plain offer is answered plainly, without crypto.
    let ok = final_response(&sock, node.sip, &invite(&sock, "avp-1", "RTP/AVP"));
    assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");
    assert!(ok.contains(" RTP/AVP 8\r\n"), "{ok}");
    assert!(!ok.contains("a=crypto"), "{ok}");
    sock.send_to(
        in_dialog("ACK", 1, &ok, &sock, "avp-1").as_bytes(),
        node.sip,
    )
    .unwrap();
    let bye = final_response(&sock, node.sip, &in_dialog("BYE", 2, &ok, &sock, "avp-1"));
    assert!(bye.starts_with("SIP/2.0 200 "), "{bye}");
}

#[test]
fn savp_offer_where_srtp_is_off_gets_488() {
    let node = Node::start_default();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let reply = final_response(&sock, node.sip, &invite(&sock, "savp-off", "RTP/SAVP"));
    assert!(reply.starts_with("SIP/2.0 488 "), "{reply}");
}
