//! The transcoder leg carries audio both ways: PCMU from the caller → L16/8k to a bot that
//! echoes it → PCMU back to the caller, content intact within G.711 tolerance; lost frames are
//! concealed, bad frames counted and dropped, same formats passed through, and `StopLeg` is
//! answered with `LegExited`. Converting costs no allocation: a transcoding leg allocates
//! exactly as much per frame as one that passes frames through (the envelopes).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Context, Handler, Recipient};
use voxgate_actors::calls::messages::{AudioFrame, ExitCause, LegExited, LegKind, StopLeg};
use voxgate_actors::calls::transcoder::{Downstream, GetTranscoderStats, TranscoderLeg, Upstream};
use voxgate_codecs::{g711, AudioFormat, EncodedFrame};

/// Counts the allocations of this thread (the actix test runtime runs every actor on it).
struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call goes to `System` unchanged; only a thread-local counter is bumped.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Collects what reaches it.
#[derive(Default, Clone)]
struct Log {
    frames: Arc<Mutex<Vec<EncodedFrame>>>,
    exits: Arc<Mutex<Vec<LegExited>>>,
}

struct Sink(Log);

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<AudioFrame> for Sink {
    type Result = ();
    fn handle(&mut self, msg: AudioFrame, _: &mut Context<Self>) {
        self.0.frames.lock().unwrap().push(msg.0);
    }
}

impl Handler<LegExited> for Sink {
    type Result = ();
    fn handle(&mut self, msg: LegExited, _: &mut Context<Self>) {
        self.0.exits.lock().unwrap().push(msg);
    }
}

/// A bot that sends every frame straight back (and remembers it).
struct EchoBot {
    back: Option<Recipient<Downstream>>,
    seen: Log,
}

impl Actor for EchoBot {
    type Context = Context<Self>;
}

impl Handler<AudioFrame> for EchoBot {
    type Result = ();
    fn handle(&mut self, msg: AudioFrame, _: &mut Context<Self>) {
        self.seen.frames.lock().unwrap().push(msg.0.clone());
        if let Some(back) = &self.back {
            back.do_send(Downstream(msg));
        }
    }
}

#[derive(actix::Message)]
#[rtype(result = "()")]
struct Wire(Recipient<Downstream>);

impl Handler<Wire> for EchoBot {
    type Result = ();
    fn handle(&mut self, msg: Wire, _: &mut Context<Self>) {
        self.back = Some(msg.0);
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
}

fn tone_pcm(idx: usize) -> [i16; 160] {
    let mut pcm = [0i16; 160];
    for (i, s) in pcm.iter_mut().enumerate() {
        let t = (idx * 160 + i) as f64 / 8000.0;
        *s = (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
    }
    pcm
}

fn pcmu_frame(idx: usize) -> EncodedFrame {
    let mut bytes = [0u8; 160];
    g711::ulaw_encode(&tone_pcm(idx), &mut bytes);
    EncodedFrame::from_bytes(AudioFormat::Pcmu, &bytes).unwrap()
}

fn decode_pcmu(frame: &EncodedFrame) -> Vec<i16> {
    let mut pcm = vec![0i16; frame.bytes().len()];
    g711::ulaw_decode(frame.bytes(), &mut pcm);
    pcm
}

struct Rig {
    leg: Addr<TranscoderLeg>,
    caller: Log,
    bot: Log,
}

fn start(ingress: AudioFormat, bot_format: AudioFormat) -> Rig {
    let caller = Log::default();
    let bot = Log::default();
    let sink = Sink(caller.clone()).start();
    let echo = EchoBot {
        back: None,
        seen: bot.clone(),
    }
    .start();
    let leg = TranscoderLeg::new(
        ingress,
        bot_format,
        echo.clone().recipient(),
        sink.clone().recipient(),
        sink.recipient(),
    )
    .unwrap()
    .start();
    echo.do_send(Wire(leg.clone().recipient()));
    Rig { leg, caller, bot }
}

#[actix::test]
async fn pcmu_round_trip_through_l16_keeps_the_audio() {
    let rig = start(AudioFormat::Pcmu, AudioFormat::L16_8K);
    const N: usize = 200;
    for i in 0..N {
        rig.leg.do_send(Upstream(AudioFrame(pcmu_frame(i))));
        // One frame in flight at a time: mailboxes stay far from full.
        wait_for("echo", || rig.caller.frames.lock().unwrap().len() == i + 1).await;
    }
    let back = rig.caller.frames.lock().unwrap().clone();
    let at_bot = rig.bot.frames.lock().unwrap().clone();
    assert_eq!(back.len(), N);
    assert_eq!(at_bot.len(), N);
    for (i, (b, f)) in at_bot.iter().zip(&back).enumerate() {
        assert_eq!(b.format(), AudioFormat::L16_8K);
        assert_eq!(b.bytes().len(), 320, "L16/8k: 160 samples × 2 bytes");
        // The bot saw the caller's audio: L16 big-endian within G.711's step of the source.
        let src = tone_pcm(i);
        for (k, pair) in b.bytes().chunks_exact(2).enumerate() {
            let s = i16::from_be_bytes([pair[0], pair[1]]);
            let tol = (i32::from(src[k]).abs() / 16).max(8);
            assert!(
                (i32::from(s) - i32::from(src[k])).abs() <= tol,
                "frame {i} sample {k}"
            );
        }
        // The caller gets back PCMU that decodes to what it sent.
        assert_eq!(f.format(), AudioFormat::Pcmu);
        let sent = decode_pcmu(&pcmu_frame(i));
        let got = decode_pcmu(f);
        assert_eq!(got.len(), 160);
        let energy = |x: &[i16]| x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        let (e_sent, e_got) = (energy(&sent), energy(&got));
        assert!((e_got / e_sent - 1.0).abs() < 0.05, "frame {i} energy");
        for (k, (&a, &b)) in sent.iter().zip(&got).enumerate() {
            let tol = (i32::from(a).abs() / 16).max(8);
            assert!(
                (i32::from(a) - i32::from(b)).abs() <= tol,
                "frame {i} sample {k}"
            );
        }
    }
    let stats = rig.leg.send(GetTranscoderStats).await.unwrap();
    assert_eq!((stats.up_frames, stats.down_frames), (N as u64, N as u64));
    assert_eq!((stats.errors, stats.dropped, stats.concealed), (0, 0, 0));
}

#[actix::test]
async fn lost_frames_are_concealed_short_ones_recut_and_bad_ones_dropped() {
    let rig = start(AudioFormat::Pcmu, AudioFormat::L16_8K);
    for i in 0..3 {
        rig.leg.do_send(Upstream(AudioFrame(pcmu_frame(i))));
    }
    // A lost frame: concealed into a full L16 frame that still carries sound.
    rig.leg
        .do_send(Upstream(AudioFrame(EncodedFrame::empty(AudioFormat::Pcmu))));
    // A 100-byte (12.5 ms) packet is kept and re-cut with the next one into 20 ms frames; a
    // frame in the wrong format is dropped and counted.
    let short = EncodedFrame::from_bytes(AudioFormat::Pcmu, &[0xFF; 100]).unwrap();
    rig.leg.do_send(Upstream(AudioFrame(short)));
    let wrong = EncodedFrame::from_bytes(AudioFormat::Pcma, &[0xD5; 160]).unwrap();
    rig.leg.do_send(Upstream(AudioFrame(wrong)));
    rig.leg.do_send(Upstream(AudioFrame(pcmu_frame(4))));
    wait_for("5 frames", || rig.caller.frames.lock().unwrap().len() == 5).await;
    let at_bot = rig.bot.frames.lock().unwrap().clone();
    assert_eq!(at_bot.len(), 5);
    let concealed = &at_bot[3];
    assert_eq!(concealed.bytes().len(), 320);
    assert!(concealed.bytes().iter().any(|&b| b != 0));
    let stats = rig.leg.send(GetTranscoderStats).await.unwrap();
    assert_eq!(stats.concealed, 1);
    assert_eq!(stats.errors, 1);
    assert_eq!(stats.up_frames, 5);
}

#[actix::test]
async fn same_formats_pass_through_untouched() {
    let rig = start(AudioFormat::Pcmu, AudioFormat::Pcmu);
    let f = pcmu_frame(7);
    rig.leg.do_send(Upstream(AudioFrame(f.clone())));
    rig.leg
        .do_send(Upstream(AudioFrame(EncodedFrame::empty(AudioFormat::Pcmu))));
    wait_for("2 frames", || rig.caller.frames.lock().unwrap().len() == 2).await;
    let back = rig.caller.frames.lock().unwrap().clone();
    assert_eq!(back[0], f);
    // The loss marker goes on for the far side to conceal.
    assert!(back[1].bytes().is_empty());
}

#[actix::test]
async fn full_mailbox_drops_and_counts() {
    // A bot that never runs: its mailbox fills (16) and the rest is dropped, not queued.
    let caller = Log::default();
    let sink = Sink(caller.clone()).start();
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let stuck = actix::Arbiter::new();
    let stuck_addr = {
        let seen = Log::default();
        EchoBot::start_in_arbiter(&stuck.handle(), move |_| {
            // Blocks this arbiter until the test releases it, so the mailbox is not drained.
            let _ = blocked.recv_timeout(Duration::from_secs(10));
            EchoBot { back: None, seen }
        })
    };
    let leg = TranscoderLeg::new(
        AudioFormat::Pcmu,
        AudioFormat::Pcmu,
        stuck_addr.recipient(),
        sink.clone().recipient(),
        sink.recipient(),
    )
    .unwrap()
    .start();
    for i in 0..40 {
        leg.do_send(Upstream(AudioFrame(pcmu_frame(i))));
    }
    let mut stats = leg.send(GetTranscoderStats).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.up_frames + stats.dropped < 40 {
        assert!(Instant::now() < deadline);
        actix_rt::time::sleep(Duration::from_millis(1)).await;
        stats = leg.send(GetTranscoderStats).await.unwrap();
    }
    assert!(stats.dropped > 0, "{stats:?}");
    assert!(stats.up_frames <= 17, "{stats:?}");
    let _ = release.send(());
    stuck.stop();
}

#[actix::test]
async fn stop_leg_reports_exit() {
    let rig = start(AudioFormat::Pcmu, AudioFormat::L16_8K);
    let log = rig.caller.clone();
    rig.leg.do_send(StopLeg);
    wait_for("exit", || !log.exits.lock().unwrap().is_empty()).await;
    let exits = log.exits.lock().unwrap().clone();
    assert_eq!(exits.len(), 1);
    assert_eq!(exits[0].leg, LegKind::Transcoder);
    assert!(matches!(exits[0].cause, ExitCause::Normal(_)));
}

/// Takes frames and forgets them (no storage that could allocate).
struct Drain;

impl Actor for Drain {
    type Context = Context<Self>;
}

impl Handler<AudioFrame> for Drain {
    type Result = ();
    fn handle(&mut self, _: AudioFrame, _: &mut Context<Self>) {}
}

impl Handler<LegExited> for Drain {
    type Result = ();
    fn handle(&mut self, _: LegExited, _: &mut Context<Self>) {}
}

/// Allocations for `n` frames each way through a leg, after a warm-up.
async fn allocs_per_run(ingress: AudioFormat, bot_format: AudioFormat, n: usize) -> u64 {
    let drain = Drain.start();
    let leg = TranscoderLeg::new(
        ingress,
        bot_format,
        drain.clone().recipient(),
        drain.clone().recipient(),
        drain.recipient(),
    )
    .unwrap()
    .start();
    let up = pcmu_frame(0);
    let mut down = EncodedFrame::empty(bot_format);
    let down_len = match bot_format {
        AudioFormat::Pcmu => 160,
        other => other.pcm_rate().frame_samples() * 2,
    };
    down.set_bytes(&[0x10; 640][..down_len]).unwrap();
    let run = |count: usize| {
        let leg = leg.clone();
        let (up, down) = (up.clone(), down.clone());
        async move {
            for _ in 0..count {
                leg.do_send(Upstream(AudioFrame(up.clone())));
                leg.do_send(Downstream(AudioFrame(down.clone())));
                // The same round trip in every run: the leg has handled both frames.
                leg.send(GetTranscoderStats).await.unwrap();
            }
        }
    };
    run(50).await;
    let before = allocs();
    run(n).await;
    let used = allocs() - before;
    let stats = leg.send(GetTranscoderStats).await.unwrap();
    assert_eq!(stats.errors + stats.dropped, 0, "{stats:?}");
    used
}

#[actix::test]
async fn converting_allocates_nothing_beyond_the_envelopes() {
    const N: usize = 200;
    let passthrough = allocs_per_run(AudioFormat::Pcmu, AudioFormat::Pcmu, N).await;
    let converting = allocs_per_run(AudioFormat::Pcmu, AudioFormat::L16_8K, N).await;
    assert_eq!(
        converting, passthrough,
        "per-frame conversion must not allocate"
    );
    // What is left is actix's: per round (two frames in, two out, one request) about eleven
    // allocations for envelopes, queue nodes and the request's reply channel.
    assert!(
        passthrough <= 12 * N as u64,
        "{passthrough} allocations for {N} rounds"
    );
}
