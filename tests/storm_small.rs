//! A CI-sized call storm: `voxgate storm` places 50 PCMU calls (10 of them press `0`) and 10
//! PCMA calls against a real node, and every call must go right: answered, its own signed
//! frames echoed back (content, not counts), the escalating calls ended by the node's BYE with
//! `kore-reason: TransferToAgent`, the others by our BYE. The node's own session records must
//! tell the same story. Two storms that must fail show that the checks bite: a wrong expected
//! BYE reason, and a node that refuses the storm's source address.

mod common;
use std::process::Output;
use std::time::Duration;

use common::storm::{assert_all_went_right, n};
use common::{session_records, wait_until, Node, DEFAULT_TOML};
use serde_json::Value;

fn storm(node: &Node, extra: &[&str]) -> (Output, Value) {
    common::storm::run_at(node.sip, &[], extra)
}

#[test]
fn fifty_calls_with_media_and_escalations_all_go_right() {
    let node = Node::start_default();
    let (out, report) = storm(
        &node,
        &[
            "--calls",
            "50",
            "--rate",
            "25",
            "--total",
            "50",
            "--duration",
            "10s",
            "--hold",
            "3s",
            "--dtmf-escalate",
            "0.2",
        ],
    );
    // 3 s of hold is 150 frames a call; the greeting takes the first ~0.7 s, then the bot
    // echoes. Demand most of the rest back, each frame with the call's own signature.
    assert_all_went_right(&out, &report, 50, 10, 90);
    let loss = report["rtp_loss_percent"].as_f64().unwrap();
    assert!(loss < 1.0, "RTP loss {loss} %");

    // The node saw the same: 50 sessions, 10 handed back to an agent.
    assert!(
        wait_until(Duration::from_secs(10), || session_records(&node).len()
            == 50),
        "node recorded {} sessions",
        session_records(&node).len()
    );
    let records = session_records(&node);
    let escalated = records
        .iter()
        .filter(|r| r.end_reason == "TransferToAgent")
        .count();
    assert_eq!(escalated, 10);
    assert!(records
        .iter()
        .filter(|r| r.end_reason != "TransferToAgent")
        .all(|r| r.dtmf.is_empty()));

    // A-law too: the same checks hold for PCMA.
    let (out, report) = storm(
        &node,
        &[
            "--codec", "PCMA", "--calls", "10", "--rate", "20", "--total", "10", "--hold", "2s",
        ],
    );
    assert!(out.status.success(), "PCMA storm failed: {report:#}");
    assert_eq!(n(&report, "/succeeded"), 10);
    assert!(n(&report, "/rtp/echoed") >= 10 * 40, "{report:#}");
}

#[test]
fn a_storm_over_one_tcp_connection_goes_right_and_the_node_saw_tcp() {
    let node = Node::start_default();
    let tcp = [
        &common::storm::TWENTY_CALLS_FIVE_ESCALATING[..],
        &["--transport", "tcp"],
    ]
    .concat();
    let (out, report) = storm(&node, &tcp);
    // The node's escalation BYEs reach us over the same connection (our Contact says
    // transport=tcp, and the node reuses the connection the calls came in on).
    assert_all_went_right(&out, &report, 20, 5, 40);
    assert_eq!(report["transport"], "tcp");
    // Every request of the storm came over TCP: 20 INVITEs, 20 ACKs, 15 BYEs.
    let tcp = node.metric(r#"voxgate_sip_messages_received_total{kind="request",transport="tcp"}"#);
    let udp = node.metric(r#"voxgate_sip_messages_received_total{kind="request",transport="udp"}"#);
    assert!(
        tcp >= 55.0 && udp == 0.0,
        "requests over TCP {tcp}, over UDP {udp}"
    );
}

#[test]
fn an_opus_storm_is_checked_by_each_calls_tone() {
    let node = Node::start_default();
    let (out, report) = storm(
        &node,
        &[
            "--codec",
            "OPUS",
            "--calls",
            "10",
            "--rate",
            "20",
            "--total",
            "10",
            "--hold",
            "3s",
            "--dtmf-escalate",
            "0.2",
        ],
    );
    // 3 s is 150 frames, 135 of them tone; the greeting takes the first ~0.7 s and each
    // cycle's onset a frame or two. The round trip is measured on the tone's gaps.
    assert_all_went_right(&out, &report, 10, 2, 50);
    // The node really decoded and encoded Opus: its records name the codec.
    assert!(
        wait_until(Duration::from_secs(10), || session_records(&node).len()
            == 10),
        "node recorded {} sessions",
        session_records(&node).len()
    );
    let records = session_records(&node);
    assert!(
        records
            .iter()
            .all(|r| r.codec.as_deref() == Some("opus/48000/2")),
        "codecs: {:?}",
        records.iter().map(|r| r.codec.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r.end_reason == "TransferToAgent")
            .count(),
        2
    );
}

#[test]
fn the_storm_reports_wrong_bye_reasons_and_refusals_as_failures() {
    let node = Node::start_default();
    let (out, report) = storm(
        &node,
        &[
            "--calls",
            "4",
            "--rate",
            "20",
            "--total",
            "4",
            "--hold",
            "2s",
            "--dtmf-escalate",
            "0.5",
            "--escalate-reason",
            "SomethingElse",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    assert_eq!(n(&report, "/succeeded"), 2);
    assert_eq!(n(&report, "/failures/wrong_bye_reason"), 2, "{report:#}");

    // A trunk that admits nobody from loopback: every INVITE gets 403.
    let refusing = DEFAULT_TOML.replace(
        r#"allow = ["127.0.0.0/8", "::1/128"]"#,
        r#"allow = ["192.0.2.0/24"]"#,
    );
    assert_ne!(
        refusing, DEFAULT_TOML,
        "the default trunk's allow list moved"
    );
    let node = Node::start(&refusing);
    let (out, report) = storm(&node, &["--calls", "3", "--rate", "20", "--total", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(n(&report, "/answered"), 0);
    assert_eq!(n(&report, "/failures/status_403"), 3, "{report:#}");
}
