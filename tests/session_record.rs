//! Every call leaves a session record in the embedded SQLite store: ids, DID, trunk, bot,
//! times, end reason, codec.

mod common;
use std::time::Duration;

use common::{session_records, wait_until, Node, Sipp};

#[test]
fn a_finished_call_is_recorded() {
    let node = Node::start_default();
    Sipp::new("uac_call.xml", node.sip).run_ok();
    assert!(
        wait_until(Duration::from_secs(10), || !session_records(&node)
            .is_empty()),
        "no record:\n{}",
        node.log()
    );
    let records = session_records(&node);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.did, "+15550100");
    assert_eq!(r.trunk.as_deref(), Some("local"));
    assert_eq!(r.bot_id, "demo");
    assert_eq!(r.end_reason, "CallerHangUp");
    assert_eq!(r.codec.as_deref(), Some("PCMU/8000"));
    assert!(r.answer_ms.is_some());
    assert!(r.start_ms <= r.answer_ms.unwrap() && r.answer_ms.unwrap() <= r.end_ms);
    assert_eq!(r.session_id.len(), 32);
}
