//! A CI-sized Talkdesk storm: `voxgate storm --mode talkdesk` opens 20 voice streams (4 of
//! them press `0`) against a real node's `/audiosocket/talkdesk/` endpoint, and every stream
//! must go right: admitted, its own signed frames echoed back as `media`, the escalating ones
//! ended by exactly the node's `stop` with `command: escalate` and `ringGroup: agents`, the
//! others closed by the node after Talkdesk's `stop`. The node's session records tell the same
//! story. Two storms that must fail show that the checks bite: a wrong secret (401) and a
//! wrong expected ring group.

mod common;
use std::process::Output;
use std::time::Duration;

use common::storm::{assert_all_went_right, n};
use common::{session_records, wait_until, Node};
use serde_json::Value;
use voxgate_engine::store::IngressKind;

fn storm(node: &Node, extra: &[&str]) -> (Output, Value) {
    let pid = node.pid().to_string();
    common::storm::run_at(
        node.http,
        &["--mode", "talkdesk", "--node-pid", &pid],
        extra,
    )
}

#[test]
fn twenty_streams_with_media_and_escalations_all_go_right() {
    let node = Node::start_default();
    let (out, report) = storm(
        &node,
        &[
            "--calls",
            "20",
            "--rate",
            "20",
            "--total",
            "20",
            "--duration",
            "5s",
            "--hold",
            "3s",
            "--dtmf-escalate",
            "0.2",
        ],
    );
    // 3 s of hold is 150 frames a call; the greeting takes the first ~0.7 s, then the bot
    // echoes. Demand most of the rest back, each frame with the call's own signature.
    assert_all_went_right(&out, &report, 20, 4, 90);
    assert!(report["cpu"]["node_cpu_s"].as_f64().is_some(), "{report:#}");

    // The node saw the same: 20 Talkdesk sessions, 4 handed back to an agent.
    let talkdesk = || {
        session_records(&node)
            .into_iter()
            .filter(|r| r.ingress == IngressKind::Talkdesk)
            .collect::<Vec<_>>()
    };
    assert!(
        wait_until(Duration::from_secs(10), || talkdesk().len() == 20),
        "node recorded {} sessions",
        talkdesk().len()
    );
    let records = talkdesk();
    let escalated = records
        .iter()
        .filter(|r| r.end_reason == "TransferToAgent")
        .count();
    assert_eq!(escalated, 4);
    assert!(records
        .iter()
        .filter(|r| r.end_reason != "TransferToAgent")
        .all(|r| r.end_reason == "CallerHangUp"));
}

#[test]
fn the_storm_reports_refused_streams_and_wrong_stops_as_failures() {
    let node = Node::start_default();
    let (out, report) = storm(
        &node,
        &[
            "--calls",
            "3",
            "--rate",
            "20",
            "--total",
            "3",
            "--client-secret",
            "not-the-secret",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    assert_eq!(n(&report, "/answered"), 0);
    assert_eq!(n(&report, "/failures/status_401"), 3, "{report:#}");

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
            "1s",
            "--dtmf-escalate",
            "0.5",
            "--ring-group",
            "billing",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    assert_eq!(n(&report, "/succeeded"), 2, "{report:#}");
    assert_eq!(n(&report, "/failures/wrong_stop"), 2, "{report:#}");
}
