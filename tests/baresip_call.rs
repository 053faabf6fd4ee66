//! A real SIP user agent, baresip (Debian `baresip-core`), calls the node: the call is
//! established, audio flows both ways (baresip sends a 440 Hz sine and the demo bot's RTP
//! reaches it), baresip hangs up, and the session record shows it.

mod common;
use common::{baresip_call_ok, Node};

#[test]
fn baresip_calls_talks_and_hangs_up() {
    let node = Node::start_default();
    // baresip hangs up and quits after 4 s.
    let record = baresip_call_ok(
        &node,
        &format!("sip:+15550100@{}", node.sip),
        "<sip:tester@127.0.0.1>;regint=0",
        "",
    );
    assert_eq!(record.end_reason, "CallerHangUp");
    assert_eq!(record.did, "+15550100");
    assert_eq!(record.codec.as_deref(), Some("PCMU/8000"));
}
