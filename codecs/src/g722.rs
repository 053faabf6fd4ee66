//! G.722 at 64 kbit/s (16 kHz audio, 20 ms = 320 samples = 160 bytes), via `ezk-g722`.
//!
//! `ezk-g722`'s encoder and decoder return a fresh `Vec` per call, so each G.722 frame costs
//! one heap allocation inside that crate (copied into the caller's buffer here). Every other
//! codec in this crate is allocation-free per frame.

use crate::error::{CodecError, Result};
use ezk_g722::libg722::{decoder::Decoder, encoder::Encoder, Bitrate};

/// G.722 encoder state (64 kbit/s, unpacked, 16 kHz input).
pub struct G722Encoder {
    inner: Encoder,
}

impl G722Encoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        G722Encoder {
            inner: Encoder::new(Bitrate::Mode1_64000, false, false),
        }
    }

    /// Encodes an even number of 16 kHz samples into `out` (`pcm.len() / 2` bytes).
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize> {
        if pcm.len() % 2 != 0 {
            return Err(CodecError::BadLength {
                what: "G.722 input",
                got: pcm.len(),
                expected: "an even number of samples",
            });
        }
        let need = pcm.len() / 2;
        if out.len() < need {
            return Err(CodecError::OutputTooSmall {
                need,
                have: out.len(),
            });
        }
        let bytes = self.inner.encode(pcm);
        let n = bytes.len().min(out.len());
        out[..n].copy_from_slice(&bytes[..n]);
        Ok(n)
    }
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for G722Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("G722Encoder")
    }
}

/// G.722 decoder state (64 kbit/s, unpacked, 16 kHz output).
pub struct G722Decoder {
    inner: Decoder,
}

impl G722Decoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        G722Decoder {
            inner: Decoder::new(Bitrate::Mode1_64000, false, false),
        }
    }

    /// Decodes `bytes` into `out` (two samples per byte); returns the sample count.
    pub fn decode(&mut self, bytes: &[u8], out: &mut [i16]) -> Result<usize> {
        let need = bytes.len() * 2;
        if out.len() < need {
            return Err(CodecError::OutputTooSmall {
                need,
                have: out.len(),
            });
        }
        let pcm = self.inner.decode(bytes);
        let n = pcm.len().min(out.len());
        out[..n].copy_from_slice(&pcm[..n]);
        Ok(n)
    }
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for G722Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("G722Decoder")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A 1 kHz tone survives encode→decode with a high SNR once the codec delay is aligned.
    #[test]
    fn tone_round_trip() {
        let n = 16000;
        let tone: Vec<i16> = (0..n)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 16000.0).sin()) as i16
            })
            .collect();
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let mut out = vec![0i16; n];
        for (i, chunk) in tone.chunks(320).enumerate() {
            let mut bytes = [0u8; 160];
            assert_eq!(enc.encode(chunk, &mut bytes).unwrap(), 160);
            assert_eq!(
                dec.decode(&bytes, &mut out[i * 320..(i + 1) * 320])
                    .unwrap(),
                320
            );
        }
        // Find the delay that best aligns output to input, then measure the SNR.
        let best = (0..64)
            .map(|d| {
                let err: f64 = (4000..n - 64)
                    .map(|i| (f64::from(out[i + d]) - f64::from(tone[i])).powi(2))
                    .sum();
                (err, d)
            })
            .fold((f64::MAX, 0), |a, b| if b.0 < a.0 { b } else { a });
        let sig: f64 = (4000..n - 64).map(|i| f64::from(tone[i]).powi(2)).sum();
        let snr = 10.0 * (sig / best.0).log10();
        assert!(snr > 20.0, "SNR {snr} dB at delay {}", best.1);
    }

    #[test]
    fn odd_input_and_short_output() {
        let mut enc = G722Encoder::new();
        assert!(enc.encode(&[0; 3], &mut [0; 10]).is_err());
        assert!(enc.encode(&[0; 4], &mut [0; 1]).is_err());
        let mut dec = G722Decoder::new();
        assert!(dec.decode(&[0; 4], &mut [0; 7]).is_err());
    }

    proptest! {
        #[test]
        fn decode_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut dec = G722Decoder::new();
            let mut out = [0i16; 800];
            prop_assert_eq!(dec.decode(&bytes, &mut out).unwrap(), bytes.len() * 2);
        }
    }
}
