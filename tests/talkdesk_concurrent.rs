//! Fifty Talkdesk streams at once against the builtin bot, each with 2 s of tone: every stream
//! gets its own caller's audio back (its tone, not another stream's), and every call is
//! recorded. `VOXGATE_TALKDESK_STREAMS` raises the count for measurements (docs/performance.md).

mod common;
use std::time::Duration;

use common::talkdesk::Stream;
use common::{wait_until, Node, DEFAULT_TOML};

/// Frame `n` of stream `k`'s tone: a frequency of its own, µ-law.
fn tone(k: usize, n: usize) -> Vec<u8> {
    let hz = 300.0 + 20.0 * k as f64;
    (0..160)
        .map(|i| {
            let t = (n * 160 + i) as f64 / 8000.0;
            let s = (6000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
            voxgate_codecs::g711::ulaw_encode_sample(s)
        })
        .collect()
}

#[test]
fn fifty_concurrent_streams_each_hear_their_own_echo() {
    let streams: usize = std::env::var("VOXGATE_TALKDESK_STREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seconds: usize = std::env::var("VOXGATE_TALKDESK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let config = DEFAULT_TOML.replace("max_calls = 2000", "max_calls = 5000");
    let node = Node::start(&config);
    let handles: Vec<_> = (0..streams)
        .map(|k| {
            let mut s = Stream::open_demo(&node, "+15550100", "");
            std::thread::spawn(move || {
                s.start(&format!("MZ{k}"));
                let frames = seconds * 50;
                s.play(frames, |n| tone(k, n));
                s.pump(Duration::from_millis(300));
                let mine: std::collections::HashSet<Vec<u8>> =
                    (0..frames).map(|n| tone(k, n)).collect();
                let media = s.media_payloads();
                let echoed = media.iter().filter(|p| mine.contains(*p)).count();
                s.send_stop();
                assert!(s.wait_closed(Duration::from_secs(10)), "stream {k} closed");
                (k, echoed, media.len())
            })
        })
        .collect();
    for h in handles {
        let (k, echoed, total) = h.join().expect("stream thread");
        assert!(
            echoed >= seconds * 50 / 3,
            "stream {k}: {echoed} of {total} frames are its own tone"
        );
    }
    assert!(wait_until(Duration::from_secs(20), || {
        session_records_all(&node) >= streams
    }));
}

fn session_records_all(node: &Node) -> usize {
    use voxgate_engine::store::Store as _;
    let store = voxgate_engine::store::SqliteStore::open(node.dir.path().join("voxgate.db"))
        .expect("open the node's store");
    store
        .list_sessions("demo", 0, 10_000)
        .map(|v| v.len())
        .unwrap_or(0)
}
