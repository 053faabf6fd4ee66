//! SIGTERM drains the node: /readyz turns 503, a new INVITE gets 503 with Retry-After, the
//! call in progress runs to its end, then the process exits 0. A call still alive at the drain
//! deadline is ended with a BYE (`Reason: SIP;cause=503`) and the node still exits 0.

mod common;
use std::time::Duration;

use common::{scenario_with, wait_until, Node, Sipp, DEFAULT_TOML};

#[test]
fn sigterm_drains_live_calls_then_exits_zero() {
    let mut node = Node::start_default();
    // A 3 s call in the background.
    let live = Sipp::new("uac_call.xml", node.sip).arg("-d").arg("3000");
    let mut live_child = live.spawn();
    assert!(
        wait_until(Duration::from_secs(10), || node
            .metric("voxgate_active_calls")
            == 1.0),
        "the live call did not start:\n{}",
        node.log()
    );

    node.terminate();
    assert!(wait_until(Duration::from_secs(5), || node
        .http_get("/readyz")
        .0
        == 503));

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::scenario("invite_refused.xml")).unwrap();
    let path = dir.path().join("invite_503.xml");
    std::fs::write(&path, text.replace("@STATUS@", "503")).unwrap();
    Sipp::with_scenario_file(&path, node.sip).run_ok();

    let status = live_child.wait().expect("sipp ran");
    assert!(
        status.success(),
        "the live call must finish normally during the drain"
    );
    assert_eq!(
        node.wait_exit(Duration::from_secs(20)),
        Some(0),
        "log:\n{}",
        node.log()
    );
}

#[test]
fn calls_alive_at_the_drain_deadline_get_a_bye() {
    let config = DEFAULT_TOML.replace("drain_deadline_secs = 300", "drain_deadline_secs = 1");
    let mut node = Node::start(&config);
    let (_dir, path) = scenario_with(
        "uac_expect_bye.xml",
        &[
            ("HEADER", "Reason"),
            ("REASON", "SIP;cause=503.*"),
            ("CODEC_PT", "0"),
            ("PLAY", ""),
        ],
    );
    let caller = Sipp::with_scenario_file(&path, node.sip);
    let mut child = caller.spawn();
    assert!(wait_until(Duration::from_secs(10), || node
        .metric("voxgate_active_calls")
        == 1.0));
    node.terminate();
    let status = child.wait().expect("sipp ran");
    assert!(
        status.success(),
        "the caller must get the drain BYE:\n{}",
        node.log()
    );
    assert_eq!(
        node.wait_exit(Duration::from_secs(20)),
        Some(0),
        "log:\n{}",
        node.log()
    );
}
