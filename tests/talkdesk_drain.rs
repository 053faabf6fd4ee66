//! SIGTERM with a Talkdesk stream live: new streams get 503 before any upgrade, the live one
//! runs on until the drain deadline and is then handed back (one `stop` with `command:
//! escalate`, reason `NodeShutdown`), not cut off, and the node exits 0.

mod common;
use std::time::Duration;

use common::talkdesk::{demo_token, stream_path, Stream};
use common::{tone_frame, Node, DEFAULT_TOML};

#[test]
fn live_stream_is_escalated_at_the_drain_deadline() {
    let config = DEFAULT_TOML.replace("drain_deadline_secs = 300", "drain_deadline_secs = 3");
    let mut node = Node::start(&config);
    let mut s = Stream::open_demo(&node, "+15550100", "");
    s.start("MZdrain");
    s.play(20, tone_frame);
    node.terminate();
    // Still served during the drain, until the deadline.
    s.play(50, tone_frame);
    assert!(
        s.events("stop").is_empty(),
        "the stream runs on during the drain"
    );
    match Stream::open(
        &node,
        &stream_path("+15550100", "demo", &demo_token(60), ""),
    ) {
        Ok(_) => panic!("a new stream was accepted while draining"),
        Err((status, body)) => assert_eq!(status, 503, "{body}"),
    }
    assert!(
        s.wait_closed(Duration::from_secs(6)),
        "closed at the deadline"
    );
    let stops = s.events("stop");
    assert_eq!(stops.len(), 1, "{:?}", s.received);
    assert_eq!(stops[0]["stop"]["command"], "escalate");
    assert_eq!(stops[0]["stop"]["reason"], "NodeShutdown");
    assert_eq!(stops[0]["stop"]["ringGroup"], "agents");
    assert_eq!(
        node.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        node.log()
    );
}
