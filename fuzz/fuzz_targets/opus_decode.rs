#![no_main]
//! Arbitrary bytes through the Opus decoder (plain, FEC, PLC) and an Opus-input transcoder.
//! Input layout: byte 0 picks the output rate; the rest is split into packets, each prefixed
//! by a one-byte length. Nothing may panic; decoded lengths stay within one 20 ms frame.

use voxgate_codecs::frame::{AudioFormat, SampleRate};
use voxgate_codecs::opus::OpusDecoder;
use voxgate_codecs::Transcoder;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let rate = match sel % 3 {
        0 => SampleRate::Hz48000,
        1 => SampleRate::Hz16000,
        _ => SampleRate::Hz8000,
    };
    let to = match sel % 3 {
        0 => AudioFormat::Pcmu,
        1 => AudioFormat::L16_16K,
        _ => AudioFormat::L16_8K,
    };
    let mut dec = OpusDecoder::new(rate).expect("valid rate");
    let mut tc = Transcoder::new(AudioFormat::Opus48k, to).expect("valid pair");
    let mut pcm = [0i16; 960];
    let mut out = [0u8; 1500];
    let frame = rate.frame_samples();
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (pkt, next) = tail.split_at(n);
        rest = next;
        if let Ok(got) = dec.decode(pkt, &mut pcm[..frame]) {
            assert!(got <= frame);
        }
        if len & 1 == 1 {
            if let Ok(got) = dec.decode_fec(pkt, &mut pcm) {
                assert_eq!(got, frame);
            }
        } else {
            assert_eq!(dec.conceal(&mut pcm).expect("PLC always works"), frame);
        }
        let _ = tc.transcode(pkt, &mut out);
        let _ = tc.conceal_with_fec(pkt, &mut out);
    }
});
