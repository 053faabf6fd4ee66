//! A load balancer's OPTIONS probe gets 200 with Allow (SIPp over UDP and TCP), and the node's
//! health endpoints answer.

mod common;
use common::{Node, Sipp};

#[test]
fn options_gets_200_over_udp_and_tcp() {
    let node = Node::start_default();
    Sipp::new("options.xml", node.sip).run_ok();
    Sipp::new("options.xml", node.sip).tcp().run_ok();
    assert_eq!(node.http_get("/healthz").0, 200);
    let (status, body) = node.http_get("/readyz");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn unknown_http_path_is_a_json_404() {
    let node = Node::start_default();
    let (status, body) = node.http_get("/no/such/thing");
    assert_eq!(status, 404);
    assert!(body.contains("\"error\":\"not_found\""), "{body}");
}
