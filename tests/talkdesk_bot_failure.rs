//! A Talkdesk stream whose WebSocket bot cannot be reached: the bot leg is restarted within its
//! budget, then the caller is escalated (`stop` with `command: escalate` and the configured ring
//! group), never dropped, and the session record says `BotFailure`.

mod common;
use std::time::Duration;

use common::talkdesk::Stream;
use common::{free_port, session_records, tone_frame, wait_until, Node, DEFAULT_TOML};
use voxgate_engine::store::{EscalationOutcome, IngressKind};

#[test]
fn unreachable_bot_escalates_after_the_restart_budget() {
    // Nothing listens on this port: every connection attempt is refused.
    let dead = free_port();
    let mut config = DEFAULT_TOML.replace("kind = \"builtin\"", "kind = \"websocket\"");
    config.push_str(&format!(
        "\n[bots.websocket]\nurl = \"ws://127.0.0.1:{dead}/bot\"\nconnect_timeout_ms = 500\n\n\
         [bots.restart]\nmax_restarts = 2\nwindow_secs = 30\nbackoff_ms = 50\n"
    ));
    let node = Node::start(&config);
    let mut s = Stream::open_demo(&node, "+15550100", "");
    s.start("MZfail");
    s.play(10, tone_frame);
    assert!(
        s.wait_closed(Duration::from_secs(10)),
        "closed after escalation"
    );
    let stops = s.events("stop");
    assert_eq!(stops.len(), 1, "exactly one stop: {:?}", s.received);
    assert_eq!(stops[0]["stop"]["command"], "escalate");
    assert_eq!(
        stops[0]["stop"]["ringGroup"], "agents",
        "the configured default"
    );
    assert_eq!(stops[0]["stop"]["reason"], "BotFailure");
    assert_eq!(node.metric("voxgate_bot_restarts_total"), 2.0);
    assert!(wait_until(Duration::from_secs(5), || !session_records(
        &node
    )
    .is_empty()));
    let r = session_records(&node).pop().unwrap();
    assert_eq!(r.ingress, IngressKind::Talkdesk);
    assert_eq!(r.end_reason, "BotFailure");
    let esc = r.escalation.expect("escalation recorded");
    assert_eq!(esc.reason, "BotFailure");
    assert_eq!(esc.outcome, EscalationOutcome::Completed);
}
