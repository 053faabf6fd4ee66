//! SRTP cost on the media path: protecting one 20 ms PCMU packet (172 bytes) as an RTP leg
//! sends it, and unprotecting it as the peer's leg receives it (AES_CM_128_HMAC_SHA1_80, the
//! `webrtc-srtp` transform behind `engine::rtp::srtp`). Each call returns a new buffer: one
//! allocation per packet each way.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use voxgate_engine::rtp::srtp::SrtpTransform;
use voxgate_engine::sdp::{CryptoSuite, MasterKey, SrtpKeys, KEY_MATERIAL_LEN};

fn keys(local: u8, remote: u8) -> SrtpKeys {
    SrtpKeys {
        tag: 1,
        suite: CryptoSuite::AesCm128HmacSha1_80,
        local: MasterKey::from_bytes([local; KEY_MATERIAL_LEN]),
        remote: MasterKey::from_bytes([remote; KEY_MATERIAL_LEN]),
    }
}

/// A PCMU packet with sequence number `seq`.
fn packet(seq: u16, out: &mut [u8; 172]) {
    out[..2].copy_from_slice(&[0x80, 0x00]);
    out[2..4].copy_from_slice(&seq.to_be_bytes());
    out[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    out[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    out[12..].fill(0xd5);
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("srtp");
    group.throughput(Throughput::Elements(1));
    let mut sender = SrtpTransform::new(&keys(1, 2)).expect("valid keys");
    let mut receiver = SrtpTransform::new(&keys(2, 1)).expect("valid keys");
    let mut plain = [0u8; 172];
    let mut seq = 0u16;
    group.bench_function("protect_then_unprotect_pcmu_20ms", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            packet(seq, &mut plain);
            let wire = sender.protect(false, &plain).expect("protect");
            let back = receiver.unprotect(false, &wire).expect("unprotect");
            black_box(back.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
