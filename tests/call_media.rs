//! Media end to end with SIPp: a PCMA call plays `g711a.pcap` (236 packets) to the builtin bot,
//! which greets and then echoes; the session record's RTP counters show the caller's packets
//! arrived and the greeting plus the echo went back.

mod common;
use std::time::Duration;

use common::{scenario_with, session_records, wait_until, Node, Sipp};

#[test]
fn pcma_call_with_pcap_media_is_greeted_and_echoed() {
    let node = Node::start_default();
    let media = "<exec play_pcap_audio=\"/usr/share/sip-tester/g711a.pcap\"/>";
    let (_dir, path) = scenario_with("uac_media.xml", &[("CODEC_PT", "8"), ("MEDIA", media)]);
    // The pcap lasts ~7 s; hang up after 8.
    Sipp::with_scenario_file(&path, node.sip)
        .arg("-d")
        .arg("8000")
        .run_ok();
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    let r = &session_records(&node)[0];
    assert_eq!(r.end_reason, "CallerHangUp");
    assert_eq!(r.codec.as_deref(), Some("PCMA/8000"));
    let rtp = r.rtp.as_ref().expect("RTP counters");
    assert!(rtp.packets_received >= 230, "received {rtp:?}");
    // Greeting (33 frames) plus the echo of what came after it.
    assert!(rtp.packets_sent >= 200, "sent {rtp:?}");
    assert_eq!(rtp.packets_lost, 0, "{rtp:?}");
    assert!(node.metric("voxgate_rtp_packets_total{direction=\"received\"}") >= 230.0);
}
