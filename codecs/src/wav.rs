//! WAV files of 16-bit mono PCM at 8 or 16 kHz (ringback and hold audio), read from bytes with
//! `hound`: what the media path can play without a decoder of its own.

use std::io::Cursor;

use crate::error::{CodecError, Result};
use crate::frame::SampleRate;

/// The samples of a WAV file and their rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    /// 8 or 16 kHz.
    pub rate: SampleRate,
    /// Mono 16-bit samples.
    pub samples: Vec<i16>,
}

/// Reads a WAV file's `bytes`: PCM, 16-bit, mono, 8000 or 16000 Hz, at least one sample.
pub fn read(bytes: &[u8]) -> Result<Wav> {
    let reader = hound::WavReader::new(Cursor::new(bytes))
        .map_err(|e| CodecError::BadWav(format!("not a readable WAV file: {e}")))?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(CodecError::BadWav(format!(
            "{}-bit {:?} samples; 16-bit PCM is required",
            spec.bits_per_sample, spec.sample_format
        )));
    }
    if spec.channels != 1 {
        return Err(CodecError::BadWav(format!(
            "{} channels; mono is required",
            spec.channels
        )));
    }
    let rate = match spec.sample_rate {
        8000 => SampleRate::Hz8000,
        16000 => SampleRate::Hz16000,
        hz => {
            return Err(CodecError::BadWav(format!(
                "{hz} Hz; 8000 or 16000 Hz is required"
            )))
        }
    };
    let samples = reader
        .into_samples::<i16>()
        .collect::<std::result::Result<Vec<i16>, _>>()
        .map_err(|e| CodecError::BadWav(format!("truncated or damaged samples: {e}")))?;
    if samples.is_empty() {
        return Err(CodecError::BadWav("no samples".into()));
    }
    Ok(Wav { rate, samples })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(channels: u16, rate: u32, bits: u16, samples: &[i16]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for &s in samples {
            if bits == 16 {
                w.write_sample(s).unwrap();
            } else {
                w.write_sample(i32::from(s)).unwrap();
            }
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn reads_16_bit_mono_at_8_and_16_khz() {
        let w = read(&wav(1, 8000, 16, &[1, -2, 3])).unwrap();
        assert_eq!((w.rate, w.samples), (SampleRate::Hz8000, vec![1, -2, 3]));
        assert_eq!(
            read(&wav(1, 16000, 16, &[7])).unwrap().rate,
            SampleRate::Hz16000
        );
    }

    #[test]
    fn refuses_what_it_cannot_play_with_a_reason() {
        let why = |bytes: &[u8]| read(bytes).unwrap_err().to_string();
        assert!(why(&wav(2, 8000, 16, &[1, 2])).contains("mono"));
        assert!(why(&wav(1, 44100, 16, &[1])).contains("44100 Hz"));
        assert!(why(&wav(1, 8000, 24, &[1])).contains("24-bit"));
        assert!(why(&wav(1, 8000, 16, &[])).contains("no samples"));
        assert!(why(b"RIFF....WAVEjunk").contains("not a readable WAV"));
        assert!(why(b"").contains("not a readable WAV"));
    }
}
