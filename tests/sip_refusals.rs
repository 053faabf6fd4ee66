//! The node's own refusals, driven by SIPp: 403 from a source no trunk admits, 404 for a DID
//! without a route, 503 with Retry-After at capacity. And by a raw UDP socket: 405/501 for
//! methods it does not serve, 400 for malformed requests, 420 for a Require it does not
//! support, silence for garbage; the node keeps
//! serving afterwards.

mod common;
use std::time::Duration;

use common::{udp_exchange, wait_until, Node, Sipp, DEFAULT_TOML};

fn refused_scenario(status: u16) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::scenario("invite_refused.xml")).unwrap();
    let path = dir.path().join(format!("invite_{status}.xml"));
    std::fs::write(&path, text.replace("@STATUS@", &status.to_string())).unwrap();
    (dir, path)
}

#[test]
fn source_outside_every_trunk_acl_gets_403() {
    let config = DEFAULT_TOML.replace(
        "allow = [\"127.0.0.0/8\", \"::1/128\"]",
        "allow = [\"192.0.2.0/24\"]",
    );
    let node = Node::start(&config);
    let (_dir, path) = refused_scenario(403);
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    Sipp::with_scenario_file(&path, node.sip).tcp().run_ok();
    assert_eq!(
        node.metric("voxgate_sip_requests_refused_total{status=\"403\"}"),
        2.0
    );
}

#[test]
fn did_without_route_gets_404() {
    let config = DEFAULT_TOML.replace("did = \"*\"", "did = \"+4930123456\"");
    let node = Node::start(&config);
    let (_dir, path) = refused_scenario(404);
    Sipp::with_scenario_file(&path, node.sip).run_ok();
}

#[test]
fn full_node_gets_503_with_retry_after() {
    let config = DEFAULT_TOML.replace("max_calls = 2000", "max_calls = 0");
    let node = Node::start(&config);
    let (_dir, path) = refused_scenario(503);
    Sipp::with_scenario_file(&path, node.sip).run_ok();
}

fn request(method: &str, call_id: &str) -> String {
    format!(
        "{method} sip:+15550100@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{call_id};rport\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn methods_and_malformed_messages_get_protocol_answers() {
    let node = Node::start_default();
    let reply = udp_exchange(node.sip, request("REGISTER", "m1").as_bytes()).expect("answer");
    assert!(reply.starts_with("SIP/2.0 405 "), "{reply}");
    assert!(reply.contains("\r\nAllow: INVITE"), "{reply}");

    let reply = udp_exchange(node.sip, request("FOOBAR", "m2").as_bytes()).expect("answer");
    assert!(reply.starts_with("SIP/2.0 501 "), "{reply}");
    assert!(reply.contains("\r\nAllow: "), "{reply}");

    // CSeq method differs from the request method: 400 naming the problem.
    let bad = request("OPTIONS", "m3").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    let reply = udp_exchange(node.sip, bad.as_bytes()).expect("answer");
    assert!(reply.starts_with("SIP/2.0 400 "), "{reply}");

    // Missing Call-ID: 400.
    let bad = request("OPTIONS", "m4").replace("Call-ID: m4\r\n", "");
    let reply = udp_exchange(node.sip, bad.as_bytes()).expect("answer");
    assert!(reply.starts_with("SIP/2.0 400 "), "{reply}");

    // An extension we do not run (reliable provisionals) is refused, not silently ignored.
    let bad = request("INVITE", "m6").replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel\r\n",
    );
    let reply = udp_exchange(node.sip, bad.as_bytes()).expect("answer");
    assert!(reply.starts_with("SIP/2.0 420 "), "{reply}");
    assert!(reply.contains("\r\nUnsupported: 100rel\r\n"), "{reply}");

    // Garbage: no answer can be routed, so none comes; counted as dropped.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(b"\x16\x03\x01 not sip at all \xff\xfe", node.sip)
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        node.metric("voxgate_sip_messages_rejected_total{status=\"dropped\"}") >= 1.0
    }));

    // And the node still serves.
    let reply = udp_exchange(node.sip, request("OPTIONS", "m5").as_bytes()).expect("answer");
    assert!(reply.starts_with("SIP/2.0 200 "), "{reply}");
}
