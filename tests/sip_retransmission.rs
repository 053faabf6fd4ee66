//! An INVITE sent twice with the same branch (a retransmission) is one transaction and one
//! call: the scenario sees one 100/200 sequence and the node counts one call.

mod common;
use std::time::Duration;

use common::{wait_until, Node, Sipp};

#[test]
fn retransmitted_invite_is_absorbed() {
    let node = Node::start_default();
    Sipp::new("uac_retransmit.xml", node.sip).run_ok();
    assert!(wait_until(Duration::from_secs(10), || {
        node.metric("voxgate_calls_ended_total{outcome=\"CallerHangUp\"}") == 1.0
    }));
    let setups = node.metric("voxgate_call_setup_seconds_count");
    assert_eq!(
        setups, 1.0,
        "the retransmission must not start a second call"
    );
    assert_eq!(
        node.metric("voxgate_sip_requests_refused_total{status=\"482\"}"),
        0.0
    );
}
