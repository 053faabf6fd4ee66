//! Ringback for a caller waiting on an agent: a 425 Hz tone, 1 s on and 4 s off (the ITU-T
//! E.180 cadence most of Europe uses), or a WAV file in a loop (`ringback = "file"`). Either is
//! encoded once per agent leg in the agent leg's format, into one byte buffer with the bounds of
//! each 20 ms frame. Playing it costs a stack copy of one frame per 20 ms tick and nothing on the
//! heap. A file is read from disk once, at node start (`NodeState::ringback_files`).

use std::collections::HashMap;
use std::f64::consts::PI;
use std::ops::Range;
use std::sync::Arc;

use voxgate_codecs::wav::Wav;
use voxgate_codecs::{AudioFormat, ByteOrder, CodecError, EncodedFrame, SampleRate, Transcoder};
use voxgate_engine::config::InviteConfig;

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
    format: AudioFormat,
    /// The encoded frames, back to back.
    bytes: Vec<u8>,
    /// Each frame's bytes.
    frames: Vec<Range<usize>>,
    /// Frames per loop: past `frames`, silence.
    period: usize,
    silence: EncodedFrame,
    next: usize,
}

impl Ringback {
    /// The tone cadence encoded in `format`.
    pub fn new(format: AudioFormat) -> Result<Ringback, CodecError> {
        let tone: Vec<i16> = (0..ON_FRAMES * FRAME)
            .map(|i| {
                let t = i as f64 / 8000.0;
                // |PEAK · sin| < i16::MAX: the cast neither wraps nor saturates.
                (PEAK * (2.0 * PI * TONE_HZ * t).sin()).round() as i16
            })
            .collect();
        Ringback::encode(format, SampleRate::Hz8000, &tone, ON_FRAMES + OFF_FRAMES)
    }

    /// A WAV file's samples, in a loop, encoded in `format`.
    pub fn from_wav(format: AudioFormat, wav: &Wav) -> Result<Ringback, CodecError> {
        let frames = wav.samples.len().div_ceil(wav.rate.frame_samples());
        Ringback::encode(format, wav.rate, &wav.samples, frames)
    }

    /// `pcm` at `rate` cut into 20 ms frames (the last padded with silence) and encoded; a loop
    /// lasts `period` frames.
    fn encode(
        format: AudioFormat,
        rate: SampleRate,
        pcm: &[i16],
        period: usize,
    ) -> Result<Ringback, CodecError> {
        let input = AudioFormat::L16 {
            rate,
            order: ByteOrder::BigEndian,
        };
        let mut encoder = Transcoder::new(input, format)?;
        let mut frame = EncodedFrame::empty(format);
        let mut encode = |pcm: &[i16]| -> Result<EncodedFrame, CodecError> {
            let n = encoder.encode_pcm(pcm, frame.buffer_mut())?;
            frame.set_len(n)?;
            Ok(frame.clone())
        };
        let n = rate.frame_samples();
        let (mut bytes, mut frames) = (Vec::new(), Vec::new());
        let mut padded = vec![0i16; n];
        for chunk in pcm.chunks(n) {
            padded[..chunk.len()].copy_from_slice(chunk);
            padded[chunk.len()..].fill(0);
            let encoded = encode(&padded)?;
            frames.push(bytes.len()..bytes.len() + encoded.bytes().len());
            bytes.extend_from_slice(encoded.bytes());
        }
        let silence = encode(&vec![0i16; n])?;
        Ok(Ringback {
            format,
            bytes,
            frames,
            period: period.max(1),
            silence,
            next: 0,
        })
    }

    /// The next 20 ms of the cadence.
    pub fn next_frame(&mut self) -> EncodedFrame {
        let i = self.next;
        self.next = (self.next + 1) % self.period;
        // A stack copy into an inline frame: no heap allocation.
        self.frames
            .get(i)
            .and_then(|r| self.bytes.get(r.clone()))
            .and_then(|b| EncodedFrame::from_bytes(self.format, b).ok())
            .unwrap_or_else(|| self.silence.clone())
    }

    /// What `config` asks the caller to hear, encoded in `format`; `None` for silence.
    /// `files` are the node's ringback files, read at start ([`crate::state::NodeState`]).
    pub fn for_config(
        config: &InviteConfig,
        format: AudioFormat,
        files: &HashMap<String, Arc<Wav>>,
    ) -> Option<Ringback> {
        use voxgate_engine::config::Ringback as Kind;
        let made = match config.ringback {
            Kind::None => return None,
            Kind::Tone => Ringback::new(format).map_err(|e| e.to_string()),
            Kind::File => match files.get(config.ringback_file.trim()) {
                Some(wav) => Ringback::from_wav(format, wav).map_err(|e| e.to_string()),
                None => Err(format!(
                    "ringback_file {:?} was not read at start",
                    config.ringback_file
                )),
            },
        };
        made.map_err(|e| tracing::warn!(error = %e, "no ringback; the caller hears silence"))
            .ok()
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
    fn a_wav_file_loops_whole_frames_in_the_agent_format() {
        // 50 ms at 8 kHz: two whole frames and a padded third, then again.
        let wav = Wav {
            rate: SampleRate::Hz8000,
            samples: vec![8000; 400],
        };
        let mut rb = Ringback::from_wav(AudioFormat::Pcmu, &wav).unwrap();
        let frames: Vec<EncodedFrame> = (0..6).map(|_| rb.next_frame()).collect();
        assert!(frames.iter().all(|f| f.bytes().len() == FRAME));
        assert!(rms(&frames[1]) > 6000.0, "{}", rms(&frames[1]));
        assert!(rms(&frames[2]) < 6000.0, "the padded frame is quieter");
        assert_eq!(frames[1].bytes(), frames[4].bytes(), "it loops");
    }

    #[test]
    fn other_formats_encode_too() {
        for format in [AudioFormat::Pcma, AudioFormat::G722, AudioFormat::Opus48k] {
            let mut rb = Ringback::new(format).unwrap();
            assert!(!rb.next_frame().bytes().is_empty(), "{format:?}");
        }
    }
}
