//! A caller places a call (INVITE with offer, 200 with answer and the zoom-cc session headers,
//! ACK, BYE, 200) over UDP and over TCP; the node counts it as a caller hang-up.

mod common;
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
