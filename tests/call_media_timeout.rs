//! A caller that sends no RTP is hung up after the configured inactivity timeout, with a BYE
//! carrying `Reason: SIP;cause=408;text="MediaTimeout"`, and the record says `MediaTimeout`.

mod common;
use std::time::Duration;

use common::{scenario_with, session_records, wait_until, Node, Sipp, DEFAULT_TOML};

#[test]
fn silent_caller_is_hung_up_after_the_inactivity_timeout() {
    let config = DEFAULT_TOML.replace(
        "inactivity_timeout_secs = 30",
        "inactivity_timeout_secs = 1",
    );
    let node = Node::start(&config);
    let (_dir, path) = scenario_with(
        "uac_expect_bye.xml",
        &[
            ("HEADER", "Reason"),
            ("REASON", "SIP;cause=408;text=.MediaTimeout."),
            ("CODEC_PT", "0"),
            ("PLAY", ""),
        ],
    );
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    assert_eq!(session_records(&node)[0].end_reason, "MediaTimeout");
}
