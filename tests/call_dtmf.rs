//! The builtin bot reacts to the caller's keys (RFC 4733 from SIPp's DTMF pcaps): `0` hands the
//! call back with a BYE carrying `kore-reason: TransferToAgent`, `#` with `kore-reason: HangUp`;
//! the session record keeps the digits and the escalation.

mod common;
use common::{call_expecting_bye, Node};
use voxgate_engine::store::EscalationOutcome;

#[test]
fn digit_zero_escalates_to_an_agent() {
    let node = Node::start_default();
    let r = &call_expecting_bye(&node, "dtmf_2833_0.pcap", "TransferToAgent", "0");
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
    let r = &call_expecting_bye(&node, "dtmf_2833_pound.pcap", "HangUp", "8");
    assert_eq!(r.end_reason, "HangUp");
    assert_eq!(r.codec.as_deref(), Some("PCMA/8000"));
}
