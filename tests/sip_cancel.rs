//! A caller cancels while the bot's line rings: CANCEL gets 200, the INVITE gets 487.

mod common;
use std::time::Duration;

use common::{wait_until, Node, Sipp, DEFAULT_TOML};

#[test]
fn cancel_while_ringing_gets_487() {
    let config = DEFAULT_TOML.replace("answer_delay_ms = 0", "answer_delay_ms = 10000");
    let node = Node::start(&config);
    Sipp::new("uac_cancel.xml", node.sip).run_ok();
    let counted = wait_until(Duration::from_secs(10), || {
        node.metric("voxgate_calls_ended_total{outcome=\"CallerCancelled\"}") >= 1.0
    });
    assert!(counted, "cancel not counted:\n{}", node.log());
    assert!(wait_until(Duration::from_secs(10), || node
        .metric("voxgate_active_calls")
        == 0.0));
}
