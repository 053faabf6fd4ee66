//! A real SIP user agent, baresip (Debian `baresip-core`), calls the node: the call is
//! established, audio flows both ways (baresip sends a 440 Hz sine and the demo bot's RTP
//! reaches it), baresip hangs up, and the session record shows it.

mod common;
use std::time::Duration;

use common::{baresip_dial, session_records, wait_until, Node};

#[test]
fn baresip_calls_talks_and_hangs_up() {
    let node = Node::start_default();
    // baresip hangs up and quits after 4 s.
    let text = baresip_dial(
        &format!("sip:+15550100@{}", node.sip),
        "<sip:tester@127.0.0.1>;regint=0",
        "",
    );
    assert!(text.contains("Call established"), "baresip output:\n{text}");
    // baresip says so when the first RTP packet of the echo arrives.
    assert!(
        text.contains("incoming rtp for 'audio' established"),
        "no audio came back:\n{text}"
    );

    assert!(
        wait_until(Duration::from_secs(10), || !session_records(&node)
            .is_empty()),
        "no session record:\n{}",
        node.log()
    );
    let record = &session_records(&node)[0];
    assert_eq!(record.end_reason, "CallerHangUp");
    assert_eq!(record.did, "+15550100");
    assert_eq!(record.codec.as_deref(), Some("PCMU/8000"));
}
