//! The content check: every audio frame the storm sends starts with a signature saying which
//! call and which frame it is, so an echoed frame proves that *this* call's audio came back
//! (not another call's, not silence, not the greeting) and tells the round-trip time.
//!
//! The signature is 48 bits carried by the *sign* of 96 loud samples, two per bit (`+LEVEL` =
//! 1, `-LEVEL` = 0): an 8-bit sync pattern, the 16-bit call tag, the 16-bit frame number and an
//! 8-bit check. Signs survive every G.711 path (µ-law ⇄ linear ⇄ A-law). Holding each bit for
//! two samples keeps the pattern below 2 kHz, so it also survives a bot path that resamples
//! (8 kHz → 16 kHz → 8 kHz for an L16/16k bot): with one sample per bit, alternating bits are a
//! 4 kHz tone that the resamplers' low-pass filters take away, and calls whose tag had such runs
//! never read back. A bit is read from the sum of its two samples. The other 64 samples carry a
//! 440 Hz tone so the stream sounds like audio to anything listening.

use voxgate_codecs::g711;

/// Bits of a signature.
const BITS: usize = 48;
/// Samples per bit.
const SPREAD: usize = 2;
/// Samples (= G.711 bytes) the signature occupies at the start of a frame.
pub const SIGNATURE_SAMPLES: usize = BITS * SPREAD;
/// Samples in one 20 ms G.711 frame.
pub const FRAME_SAMPLES: usize = 160;

/// Sync pattern: a byte no run of a sine tone reproduces in its signs.
const SYNC: u8 = 0b1011_0010;
/// Amplitude of the signature samples; a received sample counts when it is above half of it.
const LEVEL: i16 = 8_000;

/// The G.711 law of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// µ-law (PCMU).
    Ulaw,
    /// A-law (PCMA).
    Alaw,
}

impl Law {
    fn encode(self, s: i16) -> u8 {
        match self {
            Law::Ulaw => g711::ulaw_encode_sample(s),
            Law::Alaw => g711::alaw_encode_sample(s),
        }
    }

    fn decode(self, code: u8) -> i16 {
        match self {
            Law::Ulaw => g711::ulaw_decode_sample(code),
            Law::Alaw => g711::alaw_decode_sample(code),
        }
    }
}

/// Which call and which frame a payload belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// The call's tag (its slot and serial folded to 16 bits).
    pub tag: u16,
    /// The frame number within the call (wraps after 65,536 frames = 21 minutes).
    pub frame: u16,
}

impl Signature {
    fn bits(self) -> u64 {
        let check = checksum(self.tag, self.frame);
        (u64::from(SYNC) << 40)
            | (u64::from(self.tag) << 24)
            | (u64::from(self.frame) << 8)
            | u64::from(check)
    }
}

fn checksum(tag: u16, frame: u16) -> u8 {
    let [t0, t1] = tag.to_be_bytes();
    let [f0, f1] = frame.to_be_bytes();
    t0 ^ t1.rotate_left(3) ^ f0.rotate_left(5) ^ f1 ^ 0x5A
}

/// A frame template for one law: the tone part precomputed once, the signature codes for
/// the two signs ready to copy.
#[derive(Debug, Clone)]
pub struct FrameTemplate {
    law: Law,
    one: u8,
    zero: u8,
    tone: [u8; FRAME_SAMPLES - SIGNATURE_SAMPLES],
}

impl FrameTemplate {
    /// The template for `law`.
    pub fn new(law: Law) -> FrameTemplate {
        let mut tone = [0u8; FRAME_SAMPLES - SIGNATURE_SAMPLES];
        for (i, code) in tone.iter_mut().enumerate() {
            let t = (SIGNATURE_SAMPLES + i) as f64 / 8_000.0;
            // |sample| ≤ 4000: the cast cannot overflow.
            let s = (4_000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
            *code = law.encode(s);
        }
        FrameTemplate {
            law,
            one: law.encode(LEVEL),
            zero: law.encode(-LEVEL),
            tone,
        }
    }

    /// The law of the frames.
    pub fn law(&self) -> Law {
        self.law
    }

    /// Writes one 160-byte frame carrying `sig` into `out` (which must hold 160 bytes).
    pub fn write(&self, sig: Signature, out: &mut [u8]) {
        let bits = sig.bits();
        for (i, pair) in out[..SIGNATURE_SAMPLES]
            .chunks_exact_mut(SPREAD)
            .enumerate()
        {
            let bit = (bits >> (BITS - 1 - i)) & 1;
            pair.fill(if bit == 1 { self.one } else { self.zero });
        }
        out[SIGNATURE_SAMPLES..FRAME_SAMPLES].copy_from_slice(&self.tone);
    }

    /// Reads the signature of a received payload: `None` when the payload carries none
    /// (greeting, silence, comfort noise, a frame damaged on the way). The signature is looked
    /// for at every offset where it fits: a bot path that filters the audio delays it by a few
    /// samples (8 kHz → 16 kHz → 8 kHz through the half-band resamplers: 32 samples, 4 ms).
    pub fn read(&self, payload: &[u8]) -> Option<Signature> {
        let last = payload.len().checked_sub(SIGNATURE_SAMPLES)?;
        (0..=last).find_map(|at| self.read_at(&payload[at..at + SIGNATURE_SAMPLES]))
    }

    /// Reads a signature that starts at the first sample of `samples`.
    fn read_at(&self, samples: &[u8]) -> Option<Signature> {
        let mut bits = 0u64;
        for pair in samples.chunks_exact(SPREAD) {
            let sum: i32 = pair.iter().map(|&c| i32::from(self.law.decode(c))).sum();
            // On average at least half the level, or it is no signature.
            if sum.unsigned_abs() < LEVEL.unsigned_abs() as u32 / 2 * SPREAD as u32 {
                return None;
            }
            bits = (bits << 1) | u64::from(sum > 0);
        }
        // Each field is masked to its width, so the casts keep exactly those bits.
        let sync = (bits >> 40) as u8;
        let tag = (bits >> 24) as u16;
        let frame = (bits >> 8) as u16;
        let check = bits as u8;
        (sync == SYNC && check == checksum(tag, frame)).then_some(Signature { tag, frame })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_round_trip_in_both_laws() {
        for law in [Law::Ulaw, Law::Alaw] {
            let t = FrameTemplate::new(law);
            let mut frame = [0u8; FRAME_SAMPLES];
            for (tag, n) in [(0, 0), (1, 2), (0xFFFF, 0xFFFF), (0x1234, 0xBEEF)] {
                let sig = Signature { tag, frame: n };
                t.write(sig, &mut frame);
                assert_eq!(t.read(&frame), Some(sig));
            }
        }
    }

    fn signed_frame(t: &FrameTemplate, tag: u16, n: u16) -> (Signature, [u8; FRAME_SAMPLES]) {
        let sig = Signature { tag, frame: n };
        let mut frame = [0u8; FRAME_SAMPLES];
        t.write(sig, &mut frame);
        (sig, frame)
    }

    /// A signature delayed within the frame (by a resampling bot path) is still read.
    #[test]
    fn delayed_signatures_are_found() {
        let t = FrameTemplate::new(Law::Ulaw);
        let (sig, frame) = signed_frame(&t, 0x0BAD, 321);
        for delay in [1, 7, 32, FRAME_SAMPLES - SIGNATURE_SAMPLES] {
            let mut late = [0xFFu8; FRAME_SAMPLES];
            late[delay..].copy_from_slice(&frame[..FRAME_SAMPLES - delay]);
            assert_eq!(t.read(&late), Some(sig), "delay {delay}");
        }
        let mut too_late = [0xFFu8; FRAME_SAMPLES];
        too_late[80..].copy_from_slice(&frame[..80]);
        assert_eq!(t.read(&too_late), None, "cut by the frame's end");
    }

    #[test]
    fn signs_survive_transcoding_between_laws() {
        let u = FrameTemplate::new(Law::Ulaw);
        let a = FrameTemplate::new(Law::Alaw);
        let (sig, frame) = signed_frame(&u, 77, 4242);
        let transcoded: Vec<u8> = frame
            .iter()
            .map(|&c| g711::alaw_encode_sample(g711::ulaw_decode_sample(c)))
            .collect();
        assert_eq!(a.read(&transcoded), Some(sig));
    }

    #[test]
    fn tones_silence_and_damage_carry_no_signature() {
        let t = FrameTemplate::new(Law::Ulaw);
        assert_eq!(t.read(&[0xFF; FRAME_SAMPLES]), None, "silence");
        let tone: Vec<u8> = (0..FRAME_SAMPLES)
            .map(|i| {
                let s = 20_000.0 * (2.0 * std::f64::consts::PI * 523.0 * i as f64 / 8000.0).sin();
                g711::ulaw_encode_sample(s as i16)
            })
            .collect();
        assert_eq!(t.read(&tone), None, "a loud tone");
        let mut frame = [0u8; FRAME_SAMPLES];
        t.write(Signature { tag: 5, frame: 6 }, &mut frame);
        frame[60] ^= t.zero ^ t.one; // flip both samples of one bit of the frame number
        frame[61] ^= t.zero ^ t.one;
        assert_eq!(t.read(&frame), None, "a flipped bit fails the check");
        assert_eq!(t.read(&frame[..10]), None, "too short");
    }
}
