//! The caller really talks to the builtin bot: a UA written here sends a PCMU call with a
//! 440 Hz tone; what comes back is first the greeting (loud, not our tone), then our own audio,
//! byte for byte (µ-law → L16 → µ-law is lossless), and the RTP stream is continuous (one SSRC,
//! sequence numbers without gaps, timestamps stepping 160).

mod common;
use common::{call_with_tone, echoed, ulaw_rms, Node};

#[test]
fn greeting_then_our_own_audio_comes_back() {
    let node = Node::start_default();
    let (sent, received) = call_with_tone(&node, "echo-content", 150);

    assert!(
        received.len() >= 120,
        "only {} packets came back",
        received.len()
    );
    // The greeting comes first: audible, and not our tone.
    let greeting = &received[..10];
    assert!(
        greeting.iter().all(|p| !sent.contains(&p.payload)),
        "the greeting must come first"
    );
    assert!(
        greeting
            .iter()
            .map(|p| ulaw_rms(&p.payload))
            .fold(0.0, f64::max)
            > 1000.0,
        "greeting is silent"
    );
    // Then our own audio, exactly.
    let echoed = echoed(&sent, &received);
    assert!(echoed >= 80, "only {echoed} of our frames came back");
    // One continuous stream: same SSRC, consecutive sequence numbers, 160-step timestamps.
    assert!(
        received.windows(2).all(|w| w[0].ssrc == w[1].ssrc),
        "SSRC changed"
    );
    for w in received.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "sequence gap");
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts) % 160, 0, "timestamp step");
    }
}
