//! Codec costs per 20 ms frame (criterion). Run:
//! `cargo bench --bench codecs -- --warm-up-time 1 --measurement-time 3`
//! The medians are recorded in `docs/performance.md` ("## Codecs").

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};
use voxgate_codecs::frame::{AudioFormat, ByteOrder, SampleRate};
use voxgate_codecs::g722::{G722Decoder, G722Encoder};
use voxgate_codecs::jitter::{JitterBuffer, JitterConfig, Playout};
use voxgate_codecs::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
use voxgate_codecs::resample::Resampler;
use voxgate_codecs::rfc4733::{DtmfReceiver, TelephoneEvent};
use voxgate_codecs::{g711, l16, EncodedFrame, Transcoder};

/// A speech-like test frame: two tones plus a little deterministic noise.
fn frame(rate: SampleRate, idx: usize) -> Vec<i16> {
    let n = rate.frame_samples();
    let mut seed = 0x1234_5678u32.wrapping_add(idx as u32);
    (0..n)
        .map(|i| {
            let t = (idx * n + i) as f64 / f64::from(rate.hz());
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = f64::from((seed >> 20) as i32 - 2048) * 0.5;
            let tone = 6000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()
                + 3000.0 * (2.0 * std::f64::consts::PI * 1200.0 * t).sin();
            (tone + noise) as i16
        })
        .collect()
}

fn encoded(format: AudioFormat, frames: usize) -> Vec<Vec<u8>> {
    let rate = format.pcm_rate();
    let mut t = Transcoder::new(
        AudioFormat::L16 {
            rate,
            order: ByteOrder::BigEndian,
        },
        format,
    )
    .unwrap();
    (0..frames)
        .map(|i| {
            let pcm = frame(rate, i);
            let mut be = vec![0u8; pcm.len() * 2];
            l16::pack(&pcm, ByteOrder::BigEndian, &mut be).unwrap();
            let mut out = [0u8; 1500];
            let n = t.transcode(&be, &mut out).unwrap();
            out[..n].to_vec()
        })
        .collect()
}

fn g711_benches(c: &mut Criterion) {
    let pcm = frame(SampleRate::Hz8000, 3);
    let mut bytes = [0u8; 160];
    let mut out = [0i16; 160];
    let mut g = c.benchmark_group("g711");
    g.bench_function("ulaw_encode_160", |b| {
        b.iter(|| g711::ulaw_encode(black_box(&pcm), black_box(&mut bytes)))
    });
    g711::ulaw_encode(&pcm, &mut bytes);
    g.bench_function("ulaw_decode_160", |b| {
        b.iter(|| g711::ulaw_decode(black_box(&bytes), black_box(&mut out)))
    });
    g.bench_function("alaw_encode_160", |b| {
        b.iter(|| g711::alaw_encode(black_box(&pcm), black_box(&mut bytes)))
    });
    g711::alaw_encode(&pcm, &mut bytes);
    g.bench_function("alaw_decode_160", |b| {
        b.iter(|| g711::alaw_decode(black_box(&bytes), black_box(&mut out)))
    });
    g.finish();
}

fn l16_benches(c: &mut Criterion) {
    let pcm = frame(SampleRate::Hz16000, 3);
    let mut bytes = [0u8; 640];
    let mut out = [0i16; 320];
    let mut g = c.benchmark_group("l16");
    for (name, order) in [
        ("be", ByteOrder::BigEndian),
        ("le", ByteOrder::LittleEndian),
    ] {
        g.bench_function(format!("pack_{name}_320"), |b| {
            b.iter(|| l16::pack(black_box(&pcm), order, black_box(&mut bytes)).unwrap())
        });
        g.bench_function(format!("unpack_{name}_320"), |b| {
            b.iter(|| l16::unpack(black_box(&bytes), order, black_box(&mut out)).unwrap())
        });
    }
    g.finish();
}

fn g722_benches(c: &mut Criterion) {
    let pcm = frame(SampleRate::Hz16000, 3);
    let mut enc = G722Encoder::new();
    let mut dec = G722Decoder::new();
    let mut bytes = [0u8; 160];
    let mut out = [0i16; 320];
    let mut g = c.benchmark_group("g722");
    g.bench_function("encode_320", |b| {
        b.iter(|| enc.encode(black_box(&pcm), black_box(&mut bytes)).unwrap())
    });
    g.bench_function("decode_160", |b| {
        b.iter(|| dec.decode(black_box(&bytes), black_box(&mut out)).unwrap())
    });
    g.finish();
}

fn opus_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("opus");
    for rate in [SampleRate::Hz48000, SampleRate::Hz16000] {
        let khz = rate.hz() / 1000;
        let frames: Vec<Vec<i16>> = (0..50).map(|i| frame(rate, i)).collect();
        let mut enc = OpusEncoder::new(OpusEncoderConfig {
            rate,
            ..Default::default()
        })
        .unwrap();
        let mut pkt = [0u8; 1500];
        let mut i = 0;
        g.bench_function(format!("encode_{khz}k"), |b| {
            b.iter(|| {
                i = (i + 1) % frames.len();
                enc.encode(black_box(&frames[i]), black_box(&mut pkt))
                    .unwrap()
            })
        });
        let packets: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| {
                let n = enc.encode(f, &mut pkt).unwrap();
                pkt[..n].to_vec()
            })
            .collect();
        let mut dec = OpusDecoder::new(rate).unwrap();
        let mut out = [0i16; 960];
        let mut j = 0;
        g.bench_function(format!("decode_{khz}k"), |b| {
            b.iter(|| {
                j = (j + 1) % packets.len();
                dec.decode(black_box(&packets[j]), black_box(&mut out))
                    .unwrap()
            })
        });
        g.bench_function(format!("plc_{khz}k"), |b| {
            b.iter(|| dec.conceal(black_box(&mut out)).unwrap())
        });
    }
    // libopus' default complexity, for comparison with our default of 5.
    let frames: Vec<Vec<i16>> = (0..50).map(|i| frame(SampleRate::Hz48000, i)).collect();
    let mut enc = OpusEncoder::new(OpusEncoderConfig {
        complexity: 10,
        ..Default::default()
    })
    .unwrap();
    let mut pkt = [0u8; 1500];
    let mut i = 0;
    g.bench_function("encode_48k_complexity10", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            enc.encode(black_box(&frames[i]), black_box(&mut pkt))
                .unwrap()
        })
    });
    g.finish();
}

fn resample_benches(c: &mut Criterion) {
    use SampleRate::*;
    let mut g = c.benchmark_group("resample");
    for (from, to) in [
        (Hz8000, Hz16000),
        (Hz16000, Hz8000),
        (Hz8000, Hz48000),
        (Hz48000, Hz8000),
        (Hz16000, Hz48000),
        (Hz48000, Hz16000),
    ] {
        let mut r = Resampler::new(from, to).unwrap();
        let input = frame(from, 3);
        let mut out = [0i16; 960];
        g.bench_function(
            format!("{}k_to_{}k", from.hz() / 1000, to.hz() / 1000),
            |b| b.iter(|| r.process(black_box(&input), black_box(&mut out)).unwrap()),
        );
    }
    g.finish();
}

fn transcode_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("transcode");
    for (from, to) in [
        (AudioFormat::Pcmu, AudioFormat::L16_16K),
        (AudioFormat::L16_16K, AudioFormat::Pcmu),
        (AudioFormat::Opus48k, AudioFormat::L16_16K),
        (AudioFormat::L16_16K, AudioFormat::Opus48k),
        (AudioFormat::Pcmu, AudioFormat::Opus48k),
        (AudioFormat::Opus48k, AudioFormat::Pcmu),
        (AudioFormat::G722, AudioFormat::Pcmu),
        (AudioFormat::Pcmu, AudioFormat::G722),
    ] {
        let src = encoded(from, 50);
        let mut t = Transcoder::new(from, to).unwrap();
        let mut out = [0u8; 1500];
        let mut i = 0;
        let name = format!("{}_to_{}", from.name(), to.name()).replace('/', "_");
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % src.len();
                t.transcode(black_box(&src[i]), black_box(&mut out))
                    .unwrap()
            })
        });
    }
    g.finish();
}

fn dtmf_and_jitter_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("media_path");
    let payload = TelephoneEvent {
        event: 5,
        end: false,
        volume: 10,
        duration: 160,
    }
    .encode();
    let mut rx = DtmfReceiver::new();
    g.bench_function("rfc4733_receive", |b| {
        b.iter(|| rx.on_packet(black_box(1000), black_box(&payload)).unwrap())
    });
    let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
    let t0 = Instant::now();
    let pkt = [0xFFu8; 160];
    let mut seq: u16 = 0;
    g.bench_function("jitter_push_pop_160B", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let now = t0 + Duration::from_millis(20 * u64::from(seq));
            jb.push(seq, u32::from(seq) * 160, black_box(&pkt), now);
            matches!(jb.pop(), Playout::Frame { .. })
        })
    });
    // What one hop between two legs costs a caller frame: filled from the packet, moved into
    // a heap envelope (actix boxes every message), read out. Its cost follows the size of
    // `EncodedFrame`, which every frame in flight carries whatever its payload.
    g.bench_function("encoded_frame_boxed_160B", |b| {
        b.iter(|| {
            let frame = EncodedFrame::from_bytes(AudioFormat::Pcmu, black_box(&pkt)).unwrap();
            let envelope = black_box(Box::new(frame));
            envelope.bytes().len()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    g711_benches,
    l16_benches,
    g722_benches,
    opus_benches,
    resample_benches,
    transcode_benches,
    dtmf_and_jitter_benches
);
criterion_main!(benches);
