//! The builtin bot reacts to the caller's keys (RFC 4733 from SIPp's DTMF pcaps): `0` hands the
//! call back with a BYE carrying `kore-reason: TransferToAgent`, `#` with `kore-reason: HangUp`;
//! the session record keeps the digits and the escalation.

mod common;
use std::time::Duration;

use common::{
    expect_bye_scenario, play_pcap, scenario_with, session_records, wait_until, Node, Sipp,
};
use voxgate_engine::store::EscalationOutcome;

#[test]
fn digit_zero_escalates_to_an_agent() {
    let node = Node::start_default();
    let play = play_pcap("dtmf_2833_0.pcap");
    let (_dir, path) = expect_bye_scenario("TransferToAgent", &play);
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    let r = &session_records(&node)[0];
    assert_eq!(r.end_reason, "TransferToAgent");
    assert_eq!(r.dtmf, "0");
    let esc = r.escalation.as_ref().expect("escalation recorded");
    assert_eq!(esc.reason, "TransferToAgent");
    assert_eq!(esc.profile, "zoom-cc");
    assert_eq!(
        esc.variables.get("ringGroup").map(String::as_str),
        Some("agents")
    );
    assert_eq!(esc.outcome, EscalationOutcome::Completed);
}

#[test]
fn pound_hangs_up() {
    let node = Node::start_default();
    let play = play_pcap("dtmf_2833_pound.pcap");
    let (_dir, path) = scenario_with(
        "uac_expect_bye.xml",
        &[
            ("HEADER", "kore-reason"),
            ("REASON", "HangUp"),
            ("CODEC_PT", "8"),
            ("PLAY", &play),
        ],
    );
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    let r = &session_records(&node)[0];
    assert_eq!(r.end_reason, "HangUp");
    assert_eq!(r.codec.as_deref(), Some("PCMA/8000"));
}
