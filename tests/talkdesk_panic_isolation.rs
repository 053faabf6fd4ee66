//! A panic while one Talkdesk stream handles its input (the `VOXGATE_TEST_PANIC_DID` hook makes
//! a stream to that number panic on its first DTMF) ends that stream cleanly — its caller is
//! escalated with `BotFailure`, one final `stop` — while another stream on the same HTTP worker
//! keeps hearing its echo.

mod common;
use std::time::Duration;

use common::talkdesk::Stream;
use common::{tone_frame, wait_until, Node, DEFAULT_TOML};

#[test]
fn a_panicking_stream_is_escalated_and_its_neighbour_goes_on() {
    let node = Node::start_with_env(DEFAULT_TOML, &[("VOXGATE_TEST_PANIC_DID", "+1999")]);
    let mut doomed = Stream::open_demo(&node, "+1999", "");
    let mut neighbour = Stream::open_demo(&node, "+15550100", "");
    doomed.start("MZdoomed");
    neighbour.start("MZneighbour");
    doomed.play(5, tone_frame);

    doomed.send_dtmf("5");
    assert!(
        doomed.wait_closed(Duration::from_secs(10)),
        "the panicking stream was closed"
    );
    let stop = doomed.final_stop();
    assert_eq!(stop["command"], "escalate");
    assert_eq!(stop["reason"], "BotFailure");
    assert_eq!(stop["ringGroup"], "agents");
    assert!(wait_until(Duration::from_secs(5), || {
        node.metric("voxgate_call_panics_total") == 1.0
    }));

    // The other stream still gets its own audio back, byte for byte.
    neighbour.play(100, tone_frame);
    neighbour.pump(Duration::from_millis(400));
    let sent: std::collections::HashSet<Vec<u8>> = (0..100).map(tone_frame).collect();
    let echoed = neighbour
        .media_payloads()
        .iter()
        .filter(|p| sent.contains(*p))
        .count();
    assert!(echoed >= 40, "only {echoed} frames echoed after the panic");
    assert!(
        neighbour.events("stop").is_empty(),
        "the neighbour was ended"
    );
}
