//! The content check of Opus calls. A lossy codec does not keep the sample signs the G.711
//! signature ([`crate::signature`]) is written in, so an Opus call is told by a steady tone
//! instead: call tag `t` plays `TONES[t % 26]`, 400 to 2,900 Hz in steps of 100 Hz. A frame
//! that comes back is decoded (8 kHz) and measured by Goertzel filters at the 26 frequencies:
//! when one of them carries most of the frame's energy, it names the call the audio came from
//! — this one (echoed) or another (foreign). (Pairs of tones, as DTMF uses, would tell 64
//! calls apart, but SILK at a node's bitrate often loses one tone of a pair; a single tone
//! survives it. Calls 26 tags apart share a tone, so a leak between them goes unseen.) Every second the tones stop for [`GAP_FRAMES`] frames; the round trip is the time
//! from the first silent frame sent to the first quiet frame heard back after the tones.
//!
//! Why it is cheap: the audio of a call repeats every cycle, so the storm encodes each tone's
//! cycle once at start ([`OpusBank`]) and replays its packets; per frame it only decodes what
//! came back. Opus frames depend on the ones before (SILK and CELT predict gains and energies
//! from the previous frame), so a replayed loop must be seamless: each cycle is encoded by a
//! fresh encoder after [`GAP_FRAMES`] of silence and ends with the same silence, so the encoder
//! (and so the node's decoder) is in the same state where the loop closes as where it opened.
//! Every frequency is a multiple of 50 Hz: each 20 ms frame holds whole periods.

use std::time::{Duration, Instant};

use voxgate_codecs::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
use voxgate_codecs::SampleRate;

use crate::frames::{Received, SignedFrames};
use crate::StormError;

/// Distinct tones: calls whose tags differ by a multiple of this share a tone.
pub const TONES: usize = 26;
/// The lowest tone (Hz); the others follow every [`STEP_HZ`], below the 3.4 kHz edge of
/// narrowband codecs. Multiples of 50 Hz: whole periods in 20 ms, and Goertzel bins of a
/// 160-sample frame that do not leak into each other.
const LOWEST_HZ: f32 = 400.0;
/// Spacing of the tones (two bins).
const STEP_HZ: f32 = 100.0;

/// The frequency of tone `i`.
fn tone_hz(i: usize) -> f32 {
    LOWEST_HZ + STEP_HZ * i as f32
}

/// Frames of one cycle: tones, then a gap.
pub const CYCLE_FRAMES: u32 = 50;
/// Silent frames at the end of each cycle (100 ms).
pub const GAP_FRAMES: u32 = 5;
/// Samples of a 20 ms frame at 8 kHz.
const FRAME: usize = 160;
/// Amplitude of the tone.
const AMPLITUDE: f32 = 8_000.0;
/// Bitrate of the storm's encoder (bit/s): 160 bytes per 20 ms at most.
const BITRATE: i32 = 32_000;
/// Largest packet the storm sends.
pub const MAX_PACKET: usize = 160;
/// Share of a frame's energy the tone must carry. A tone off the 50 Hz grid (the builtin bot's
/// greeting: 523, 659 and 784 Hz) spreads over two bins and carries at most ~70 % in one.
const TONE_SHARE: f32 = 0.8;
/// How many times the runner-up bin a tone must be.
const DOMINANCE: f32 = 8.0;
/// Goertzel bins measured: every 50 Hz from 350 Hz, i.e. the tones and the bins between and
/// around them, which an on-grid tone leaves empty and an off-grid one does not.
const BINS: usize = 2 * TONES + 1;

/// The frequency of bin `b` (odd bins are the tones).
fn bin_hz(b: usize) -> f32 {
    LOWEST_HZ - STEP_HZ / 2.0 + STEP_HZ / 2.0 * b as f32
}
/// Below this RMS a frame is quiet (the gap, or silence).
const QUIET_RMS: f32 = 300.0;

/// The Opus packets of all tones, encoded once per storm: for each tone, one cycle
/// ([`CYCLE_FRAMES`] packets, the last [`GAP_FRAMES`] of them silence).
#[derive(Debug)]
pub struct OpusBank {
    cycles: Vec<Vec<Vec<u8>>>,
    coefficients: [f32; BINS],
}

/// One frame of tone `tone` at 8 kHz.
fn frame_of(tone: usize, out: &mut [i16; FRAME]) {
    let hz = tone_hz(tone);
    for (i, s) in out.iter_mut().enumerate() {
        let t = i as f32 / 8_000.0;
        // |v| ≤ 8,000: the cast cannot saturate.
        *s = (AMPLITUDE * (std::f32::consts::TAU * hz * t).sin()) as i16;
    }
}

impl OpusBank {
    /// Encodes every tone's cycle.
    pub fn new() -> Result<OpusBank, StormError> {
        let config = OpusEncoderConfig {
            rate: SampleRate::Hz8000,
            inband_fec: false,
            packet_loss_percent: 0,
            bitrate: Some(BITRATE),
            ..OpusEncoderConfig::default()
        };
        let codec = |e: voxgate_codecs::CodecError| StormError::Codec(e.to_string());
        let mut cycles = Vec::with_capacity(TONES);
        let (mut tone, silence) = ([0i16; FRAME], [0i16; FRAME]);
        let mut out = [0u8; MAX_PACKET];
        for i in 0..TONES {
            frame_of(i, &mut tone);
            let mut encoder = OpusEncoder::new(config).map_err(codec)?;
            let mut encode = |pcm: &[i16; FRAME]| -> Result<Vec<u8>, StormError> {
                let n = encoder.encode(pcm, &mut out).map_err(codec)?;
                Ok(out[..n].to_vec())
            };
            // The silence the loop closes with, so that it opens in the same state.
            for _ in 0..GAP_FRAMES {
                encode(&silence)?;
            }
            let cycle = (0..CYCLE_FRAMES)
                .map(|i| {
                    encode(if i < CYCLE_FRAMES - GAP_FRAMES {
                        &tone
                    } else {
                        &silence
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            cycles.push(cycle);
        }
        let mut coefficients = [0f32; BINS];
        for (b, c) in coefficients.iter_mut().enumerate() {
            *c = 2.0 * (std::f32::consts::TAU * bin_hz(b) / 8_000.0).cos();
        }
        Ok(OpusBank {
            cycles,
            coefficients,
        })
    }

    /// What a decoded frame holds: the tone it carries, if any, or whether it is quiet.
    fn classify(&self, pcm: &[i16]) -> Heard {
        let energy: f32 = pcm.iter().map(|&s| f32::from(s) * f32::from(s)).sum();
        let n = pcm.len() as f32;
        if pcm.is_empty() || (energy / n).sqrt() < QUIET_RMS {
            return Heard::Quiet;
        }
        // Goertzel power of each frequency, as a share of the frame's energy (a steady tone
        // on a bin gives about its share of the power).
        let mut share = [0f32; BINS];
        for (s, &coeff) in share.iter_mut().zip(&self.coefficients) {
            let (mut q1, mut q2) = (0f32, 0f32);
            for &x in pcm {
                let q0 = coeff * q1 - q2 + f32::from(x);
                q2 = q1;
                q1 = q0;
            }
            let power = q1 * q1 + q2 * q2 - coeff * q1 * q2;
            *s = 2.0 * power / (n * energy);
        }
        let (mut first, mut second) = ((0, 0f32), 0f32);
        for (i, &x) in share.iter().enumerate() {
            if x > first.1 {
                second = first.1;
                first = (i, x);
            } else {
                second = second.max(x);
            }
        }
        if first.1 < TONE_SHARE || first.1 < DOMINANCE * second || first.0 % 2 == 0 {
            return Heard::Other;
        }
        Heard::Tone(first.0 / 2)
    }
}

/// What a decoded frame held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    Tone(usize),
    Quiet,
    Other,
}

/// The tone a call tag plays.
pub fn tone_of(tag: u16) -> usize {
    usize::from(tag) % TONES
}

/// One Opus call's send and check state.
pub struct ToneStream {
    tone: usize,
    decoder: OpusDecoder,
    pcm: [i16; FRAME],
    /// Frames sent.
    frame: u32,
    /// When the current gap's first frame left (until its echo is heard).
    gap_sent_at: Option<Instant>,
    /// The last frame heard was this call's tones.
    in_tone: bool,
}

impl std::fmt::Debug for ToneStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToneStream")
            .field("tone", &self.tone)
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
}

impl ToneStream {
    /// The stream of call `tag`.
    pub fn new(tag: u16) -> Result<ToneStream, StormError> {
        Ok(ToneStream {
            tone: tone_of(tag),
            decoder: OpusDecoder::new(SampleRate::Hz8000)
                .map_err(|e| StormError::Codec(e.to_string()))?,
            pcm: [0; FRAME],
            frame: 0,
            gap_sent_at: None,
            in_tone: false,
        })
    }

    /// The next packet to send (sent at `now`).
    pub fn next<'b>(&mut self, bank: &'b OpusBank, now: Instant) -> &'b [u8] {
        let pos = self.frame % CYCLE_FRAMES;
        self.frame = self.frame.wrapping_add(1);
        if pos == CYCLE_FRAMES - GAP_FRAMES {
            self.gap_sent_at = Some(now);
        }
        &bank.cycles[self.tone][pos as usize]
    }

    /// Checks one received payload at `now`, counting it in `counts`.
    pub fn check(
        &mut self,
        bank: &OpusBank,
        payload: &[u8],
        now: Instant,
        counts: &mut SignedFrames,
    ) -> Received {
        let Ok(n) = self.decoder.decode(payload, &mut self.pcm) else {
            return Received::Other;
        };
        match bank.classify(&self.pcm[..n]) {
            Heard::Tone(p) if p == self.tone => {
                counts.echoed += 1;
                self.in_tone = true;
                Received::Echo { rtt: None }
            }
            Heard::Tone(_) => {
                counts.foreign += 1;
                Received::Foreign
            }
            Heard::Quiet if self.in_tone => {
                self.in_tone = false;
                // A gap sent more than a cycle ago is not this one's.
                let rtt = self
                    .gap_sent_at
                    .take()
                    .map(|at| now.saturating_duration_since(at))
                    .filter(|rtt| *rtt < Duration::from_millis(20 * u64::from(CYCLE_FRAMES)));
                Received::Echo { rtt }
            }
            Heard::Quiet | Heard::Other => Received::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `frames` frames of call `me` (or of call `other`, when given) through a decoder
    /// and an encoder, as a node's echo bot does, and checks them on `me`; returns the counts
    /// and the round trips measured.
    fn echo_through_a_node(
        bank: &OpusBank,
        me: &mut ToneStream,
        other: Option<u16>,
        frames: u32,
    ) -> (SignedFrames, Vec<Duration>) {
        let mut sender = other.map(|tag| ToneStream::new(tag).unwrap());
        let mut node_decoder = OpusDecoder::new(SampleRate::Hz8000).unwrap();
        let mut node_encoder = OpusEncoder::new(OpusEncoderConfig {
            rate: SampleRate::Hz8000,
            ..OpusEncoderConfig::default()
        })
        .unwrap();
        let mut counts = SignedFrames::new(0);
        let (mut pcm, mut packet) = ([0i16; FRAME], [0u8; 400]);
        let t0 = Instant::now();
        let mut rtts = Vec::new();
        for i in 0..frames {
            let sent_at = t0 + Duration::from_millis(20 * u64::from(i));
            let p = match sender.as_mut() {
                Some(s) => s.next(bank, sent_at),
                None => me.next(bank, sent_at),
            };
            node_decoder.decode(p, &mut pcm).unwrap();
            let n = node_encoder.encode(&pcm, &mut packet).unwrap();
            // The node answers one frame (20 ms) later.
            let heard_at = sent_at + Duration::from_millis(20);
            if let Received::Echo { rtt: Some(rtt) } =
                me.check(bank, &packet[..n], heard_at, &mut counts)
            {
                rtts.push(rtt);
            }
        }
        (counts, rtts)
    }

    #[test]
    fn every_tone_is_heard_as_itself_through_two_opus_passes() {
        let bank = OpusBank::new().unwrap();
        for tag in 0..TONES as u16 {
            let mut me = ToneStream::new(tag).unwrap();
            let (counts, rtts) = echo_through_a_node(&bank, &mut me, None, 150);
            // 3 cycles of 45 tone frames; the first few of each cycle are the codecs' onset.
            assert!(counts.echoed >= 110, "tag {tag}: {}", counts.echoed);
            assert_eq!(counts.foreign, 0, "tag {tag}");
            // Each of the 3 gaps is heard back, 20 ms late plus the codecs' delay.
            assert_eq!(rtts.len(), 3, "tag {tag}: {rtts:?}");
            assert!(
                rtts.iter()
                    .all(|r| *r >= Duration::from_millis(20) && *r <= Duration::from_millis(80)),
                "tag {tag}: {rtts:?}"
            );
        }
    }

    #[test]
    fn another_calls_tones_are_foreign() {
        let mut me = ToneStream::new(5).unwrap();
        let bank = OpusBank::new().unwrap();
        let (counts, rtts) = echo_through_a_node(&bank, &mut me, Some(6), 100);
        assert!(rtts.is_empty(), "{rtts:?}");
        assert_eq!(counts.echoed, 0);
        assert!(counts.foreign >= 80, "{}", counts.foreign);
        // Tags 26 apart share a tone: the check cannot tell them apart (documented).
        assert_eq!(tone_of(5), tone_of(31));
    }

    #[test]
    fn silence_and_two_tones_at_once_are_neither() {
        let bank = OpusBank::new().unwrap();
        assert_eq!(bank.classify(&[0; FRAME]), Heard::Quiet);
        let two: Vec<i16> = (0..FRAME)
            .map(|i| {
                let t = i as f32 / 8_000.0;
                let s = |hz: f32| (std::f32::consts::TAU * hz * t).sin();
                (6_000.0 * (s(tone_hz(3)) + s(tone_hz(9)))) as i16
            })
            .collect();
        assert_eq!(bank.classify(&two), Heard::Other);
        let mut one = [0i16; FRAME];
        frame_of(9, &mut one);
        assert_eq!(bank.classify(&one), Heard::Tone(9));
        // The builtin bot's greeting tones are off the grid: none of them is a call's tone.
        for hz in [523.25f32, 659.25, 783.99] {
            let greeting: Vec<i16> = (0..FRAME)
                .map(|i| (8_000.0 * (std::f32::consts::TAU * hz * i as f32 / 8_000.0).sin()) as i16)
                .collect();
            assert_eq!(bank.classify(&greeting), Heard::Other, "{hz} Hz");
        }
    }
}
