//! re-INVITE on the caller's dialog: hold (a=sendonly → a=recvonly) and unhold (a=sendrecv)
//! are answered in the same dialog, and the call then ends normally.

mod common;
use std::time::Duration;

use common::{wait_until, Node, Sipp};

#[test]
fn hold_and_unhold_by_reinvite() {
    let node = Node::start_default();
    Sipp::new("uac_hold.xml", node.sip).run_ok();
    assert!(wait_until(Duration::from_secs(10), || {
        node.metric("voxgate_calls_ended_total{outcome=\"CallerHangUp\"}") == 1.0
    }));
}
