//! Fifty Talkdesk streams at once against the builtin bot, each with 2 s of tone: every stream
//! gets its own caller's audio back (its tone, not another stream's), and every call is
//! recorded. `VOXGATE_TALKDESK_STREAMS` / `VOXGATE_TALKDESK_SECONDS` size the run and the node's
//! CPU and memory are printed (with `VOXGATE_TEST_BIN=target/release/voxgate` for the numbers
//! in docs/performance.md).

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
    let before = Usage::of(node.pid());
    let peak_rss = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (pid, peak, on) = (node.pid(), peak_rss.clone(), sampling.clone());
        std::thread::spawn(move || {
            use std::sync::atomic::Ordering;
            while on.load(Ordering::Relaxed) {
                peak.fetch_max(Usage::of(pid).rss_kb, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let t0 = std::time::Instant::now();
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
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("stream thread"))
        .collect();
    let wall = t0.elapsed().as_secs_f64();
    let after = Usage::of(node.pid());
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let cpu_secs = after.cpu_secs - before.cpu_secs;
    let peak = peak_rss.load(std::sync::atomic::Ordering::Relaxed);
    // CPU per stream as a share of one core: CPU time over the streams' media time (setup and
    // teardown included in the CPU time, so this errs high).
    eprintln!(
        "talkdesk streams={streams} seconds={seconds} wall={wall:.1}s node_cpu={cpu_secs:.2}s \
         ({:.3}% of a core per stream) rss_before={}KiB rss_peak={peak}KiB \
         ({:.1} KiB per stream)",
        cpu_secs * 100.0 / (streams * seconds) as f64,
        before.rss_kb,
        peak.saturating_sub(before.rss_kb) as f64 / streams as f64,
    );
    for (k, echoed, total) in results {
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

/// CPU time and resident memory of a process, from /proc.
struct Usage {
    cpu_secs: f64,
    rss_kb: u64,
}

impl Usage {
    fn of(pid: u32) -> Usage {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| f.get(i).and_then(|v| v.parse::<f64>().ok()))
            .sum();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // USER_HZ is 100 on Linux.
        Usage {
            cpu_secs: ticks / 100.0,
            rss_kb,
        }
    }
}
