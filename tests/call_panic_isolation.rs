//! A panic in one call's code ends that call cleanly — the caller gets the hand-back BYE with
//! `kore-reason: BotFailure` — while a call in progress beside it carries on untouched.
//! The panic is injected with the node's test hook `VOXGATE_TEST_PANIC_DID`.

mod common;
use std::time::Duration;

use common::{scenario_with, wait_until, Node, Sipp, DEFAULT_TOML};

#[test]
fn a_panicking_call_is_handed_back_and_the_other_call_survives() {
    let node = Node::start_with_env(DEFAULT_TOML, &[("VOXGATE_TEST_PANIC_DID", "+1999")]);
    // A healthy 3 s call first.
    let healthy = Sipp::new("uac_call.xml", node.sip).arg("-d").arg("3000");
    let mut healthy_child = healthy.spawn();
    assert!(wait_until(Duration::from_secs(10), || node
        .metric("voxgate_active_calls")
        == 1.0));

    // The call that panics when its ACK arrives.
    let (_dir, path) = scenario_with(
        "uac_expect_bye.xml",
        &[
            ("HEADER", "kore-reason"),
            ("REASON", "BotFailure"),
            ("CODEC_PT", "0"),
            ("PLAY", ""),
        ],
    );
    Sipp::with_scenario_file(&path, node.sip)
        .arg("-s")
        .arg("+1999")
        .run_ok();
    assert_eq!(node.metric("voxgate_call_panics_total"), 1.0);

    let status = healthy_child.wait().expect("sipp ran");
    assert!(
        status.success(),
        "the healthy call must not notice:\n{}",
        node.log()
    );
    assert!(wait_until(Duration::from_secs(10), || node
        .metric("voxgate_active_calls")
        == 0.0));
}
