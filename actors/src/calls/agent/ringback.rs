//! Ringback for a caller waiting on an agent: a 425 Hz tone, 1 s on and 4 s off (the ITU-T
//! E.180 cadence most of Europe uses), synthesised and encoded once per agent leg in the agent
//! leg's format. Playing it costs a stack copy of one preallocated frame per 20 ms tick: the
//! 50 tone frames and one silence frame are all there is.

use std::f64::consts::PI;

use voxgate_codecs::{AudioFormat, CodecError, EncodedFrame, Transcoder};

/// The tone's frequency.
pub const TONE_HZ: f64 = 425.0;
/// Frames (20 ms) of tone per cadence.
pub const ON_FRAMES: usize = 50;
/// Frames of silence per cadence.
pub const OFF_FRAMES: usize = 200;
/// Peak level, in 16-bit units (about -16 dBFS: audible, not loud).
const PEAK: f64 = 5000.0;
/// Samples per 20 ms frame at 8 kHz.
const FRAME: usize = 160;

/// The encoded cadence and where playing it has got to.
pub struct Ringback {
    tone: Vec<EncodedFrame>,
    silence: EncodedFrame,
    next: usize,
}

impl Ringback {
    /// The cadence encoded in `format`.
    pub fn new(format: AudioFormat) -> Result<Ringback, CodecError> {
        let mut encoder = Transcoder::new(AudioFormat::L16_8K, format)?;
        let mut pcm = [0i16; FRAME];
        let mut encode = |pcm: &[i16]| -> Result<EncodedFrame, CodecError> {
            let mut frame = EncodedFrame::empty(format);
            let n = encoder.encode_pcm(pcm, frame.buffer_mut())?;
            frame.set_len(n)?;
            Ok(frame)
        };
        let mut tone = Vec::with_capacity(ON_FRAMES);
        for f in 0..ON_FRAMES {
            for (i, s) in pcm.iter_mut().enumerate() {
                let t = (f * FRAME + i) as f64 / 8000.0;
                // |PEAK · sin| < i16::MAX: the cast neither wraps nor saturates.
                *s = (PEAK * (2.0 * PI * TONE_HZ * t).sin()).round() as i16;
            }
            tone.push(encode(&pcm)?);
        }
        let silence = encode(&[0i16; FRAME])?;
        Ok(Ringback {
            tone,
            silence,
            next: 0,
        })
    }

    /// The next 20 ms of the cadence.
    pub fn next_frame(&mut self) -> EncodedFrame {
        let i = self.next;
        self.next = (self.next + 1) % (ON_FRAMES + OFF_FRAMES);
        // A stack copy of an inline frame: no heap allocation.
        self.tone.get(i).unwrap_or(&self.silence).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(frame: &EncodedFrame) -> f64 {
        let b = frame.bytes();
        let sum: f64 = b
            .iter()
            .map(|&c| f64::from(voxgate_codecs::g711::ulaw_decode_sample(c)).powi(2))
            .sum();
        (sum / b.len().max(1) as f64).sqrt()
    }

    #[test]
    fn one_second_of_tone_then_four_of_silence_then_again() {
        let mut rb = Ringback::new(AudioFormat::Pcmu).unwrap();
        let frames: Vec<EncodedFrame> = (0..2 * (ON_FRAMES + OFF_FRAMES))
            .map(|_| rb.next_frame())
            .collect();
        assert!(frames.iter().all(|f| f.bytes().len() == FRAME));
        let loud: Vec<bool> = frames.iter().map(|f| rms(f) > 2000.0).collect();
        assert!(loud[..ON_FRAMES].iter().all(|&l| l));
        assert!(loud[ON_FRAMES..ON_FRAMES + OFF_FRAMES].iter().all(|&l| !l));
        assert_eq!(loud[..250], loud[250..]);
    }

    #[test]
    fn the_tone_is_425_hz() {
        let mut rb = Ringback::new(AudioFormat::Pcmu).unwrap();
        let samples: Vec<f64> = (0..10)
            .flat_map(|_| rb.next_frame().bytes().to_vec())
            .map(|c| f64::from(voxgate_codecs::g711::ulaw_decode_sample(c)))
            .collect();
        // Zero crossings over 200 ms: 2 per period, 425 Hz → 170.
        let crossings = samples
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((165..=175).contains(&crossings), "{crossings} crossings");
    }

    #[test]
    fn other_formats_encode_too() {
        for format in [AudioFormat::Pcma, AudioFormat::G722, AudioFormat::Opus48k] {
            let mut rb = Ringback::new(format).unwrap();
            assert!(!rb.next_frame().bytes().is_empty(), "{format:?}");
        }
    }
}
