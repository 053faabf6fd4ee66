//! Proves the media path allocates nothing per frame once a `Transcoder` is built.
//!
//! A counting global allocator counts allocations made *by this thread* (a const-initialised
//! thread-local, so counting itself never allocates and parallel tests do not interfere).
//! It only sees Rust allocations: libopus allocates its state with C `malloc` once in
//! `opus_*_create` (and never while encoding or decoding), which this counter cannot see.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use voxgate_codecs::frame::{AudioFormat, ByteOrder, SampleRate};
use voxgate_codecs::{l16, Transcoder};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates every call to `System` unchanged; only bumps a thread-local counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

const FORMATS: [AudioFormat; 6] = [
    AudioFormat::Pcmu,
    AudioFormat::Pcma,
    AudioFormat::L16_8K,
    AudioFormat::L16_16K,
    AudioFormat::Opus48k,
    AudioFormat::G722,
];

const FRAMES: usize = 500;

/// 500 encoded frames of a tone in `format` (made before counting starts).
fn source(format: AudioFormat) -> Vec<Vec<u8>> {
    let rate = format.pcm_rate();
    let mut enc = Transcoder::new(
        AudioFormat::L16 {
            rate,
            order: ByteOrder::BigEndian,
        },
        format,
    )
    .unwrap();
    let n = rate.frame_samples();
    (0..FRAMES)
        .map(|f| {
            let pcm: Vec<i16> = (0..n)
                .map(|i| {
                    let t = (f * n + i) as f64 / f64::from(rate.hz());
                    (7000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as i16
                })
                .collect();
            let mut be = vec![0u8; n * 2];
            l16::pack(&pcm, ByteOrder::BigEndian, &mut be).unwrap();
            let mut out = [0u8; 1500];
            let len = enc.transcode(&be, &mut out).unwrap();
            out[..len].to_vec()
        })
        .collect()
}

#[test]
fn no_allocation_per_frame_on_any_path() {
    let sources: Vec<(AudioFormat, Vec<Vec<u8>>)> =
        FORMATS.iter().map(|&f| (f, source(f))).collect();
    let mut report = Vec::new();
    for (from, frames) in &sources {
        for &to in &FORMATS {
            let mut t = Transcoder::new(*from, to).unwrap();
            let mut out = [0u8; 1500];
            let before = allocs();
            for (i, frame) in frames.iter().enumerate() {
                // Every 50th frame is "lost" to exercise concealment too.
                let n = if i % 50 == 49 {
                    t.conceal(&mut out).unwrap()
                } else {
                    t.transcode(frame, &mut out).unwrap()
                };
                assert!(n > 0);
            }
            let count = allocs() - before;
            report.push(format!(
                "{} -> {}: {count} allocations",
                from.name(),
                to.name()
            ));
            assert_eq!(count, 0, "{} -> {} allocated", from.name(), to.name());
        }
    }
    println!("{}", report.join("\n"));
}

#[test]
fn pcm_entry_points_do_not_allocate() {
    let mut t = Transcoder::new(AudioFormat::L16_16K, AudioFormat::Opus48k).unwrap();
    let mut back = Transcoder::new(AudioFormat::Opus48k, AudioFormat::L16_16K).unwrap();
    let pcm = [1000i16; 320];
    let mut out = [0u8; 1500];
    let mut frame = voxgate_codecs::PcmFrame::silence(SampleRate::Hz16000);
    let before = allocs();
    for _ in 0..FRAMES {
        let n = t.encode_pcm(&pcm, &mut out).unwrap();
        back.decode_to_pcm(&out[..n], &mut frame).unwrap();
    }
    assert_eq!(allocs() - before, 0);
}
