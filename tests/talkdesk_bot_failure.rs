//! A Talkdesk stream whose WebSocket bot cannot be reached: the bot leg is restarted within its
//! budget, then the caller is escalated (`stop` with `command: escalate` and the configured ring
//! group), never dropped, and the session record says `BotFailure`.

mod common;
use std::time::Duration;

use common::talkdesk::{assert_bot_failure_escalation, Stream};
use common::{free_port, tone_frame, Node, DEFAULT_TOML};

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
    let stop = assert_bot_failure_escalation(&s, &node);
    assert_eq!(stop["ringGroup"], "agents", "the configured default");
}
