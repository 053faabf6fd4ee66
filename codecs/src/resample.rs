//! Sample-rate conversion between 8, 16 and 48 kHz on exact 20 ms frames (rubato `Fft`,
//! `FixedSync::Both`).
//!
//! Buffers are allocated once in [`Resampler::new`]; [`Resampler::process`] does not allocate.
//!
//! Algorithmic delay (rubato reports it as half the output FFT length, and the impulse test
//! below confirms it), for every pair: **10 ms**, i.e.
//!
//! | ratio | delay (output samples) |
//! |---|---|
//! | 8k → 16k | 160 |
//! | 16k → 8k | 80 |
//! | 8k → 48k | 480 |
//! | 48k → 8k | 80 |
//! | 16k → 48k | 480 |
//! | 48k → 16k | 160 |

use crate::error::{CodecError, Result};
use crate::frame::SampleRate;
use audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler as _};

/// A mono 20 ms-frame resampler between two of our rates.
pub struct Resampler {
    inner: Fft<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
    from: SampleRate,
    to: SampleRate,
}

impl Resampler {
    /// Builds a resampler from `from` to `to` (they must differ).
    pub fn new(from: SampleRate, to: SampleRate) -> Result<Self> {
        if from == to {
            return Err(CodecError::UnsupportedRate {
                from: from.hz(),
                to: to.hz(),
            });
        }
        let inner = Fft::<f32>::new(
            from.hz() as usize,
            to.hz() as usize,
            from.frame_samples(),
            1,
            1,
            FixedSync::Both,
        )?;
        // With FixedSync::Both and 20 ms of input the chunk sizes are exactly one frame on each
        // side; anything else would break the frame contract, so refuse it.
        if inner.input_frames_next() != from.frame_samples()
            || inner.output_frames_next() != to.frame_samples()
        {
            return Err(CodecError::UnsupportedRate {
                from: from.hz(),
                to: to.hz(),
            });
        }
        Ok(Resampler {
            input: vec![0.0; from.frame_samples()],
            output: vec![0.0; inner.output_frames_max()],
            inner,
            from,
            to,
        })
    }

    /// Input rate.
    pub fn from_rate(&self) -> SampleRate {
        self.from
    }

    /// Output rate.
    pub fn to_rate(&self) -> SampleRate {
        self.to
    }

    /// Algorithmic delay in output samples (see the module table).
    pub fn delay(&self) -> usize {
        self.inner.output_delay()
    }

    /// Resamples one 20 ms frame (`input.len() == from.frame_samples()`) into `output`
    /// (at least `to.frame_samples()` long); returns the samples written.
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> Result<usize> {
        let n_in = self.from.frame_samples();
        let n_out = self.to.frame_samples();
        if input.len() != n_in {
            return Err(CodecError::BadLength {
                what: "resampler input",
                got: input.len(),
                expected: "one 20 ms frame",
            });
        }
        let have = output.len();
        let output = output
            .get_mut(..n_out)
            .ok_or(CodecError::OutputTooSmall { need: n_out, have })?;
        const SCALE_IN: f32 = 1.0 / 32768.0;
        for (d, &s) in self.input.iter_mut().zip(input) {
            *d = f32::from(s) * SCALE_IN;
        }
        let out_cap = self.output.len();
        let adapter_in =
            SequentialSlice::new(&self.input[..], 1, n_in).map_err(|_| CodecError::BadLength {
                what: "resampler input",
                got: n_in,
                expected: "one frame",
            })?;
        let mut adapter_out =
            SequentialSlice::new_mut(&mut self.output[..], 1, out_cap).map_err(|_| {
                CodecError::OutputTooSmall {
                    need: n_out,
                    have: out_cap,
                }
            })?;
        let (_, written) = self
            .inner
            .process_into_buffer(&adapter_in, &mut adapter_out, None)?;
        let written = written.min(n_out);
        for (d, &s) in output.iter_mut().zip(&self.output[..written]) {
            // `as` saturates float→int and maps NaN to 0.
            *d = (s * 32768.0).round() as i16;
        }
        Ok(written)
    }

    /// Clears the filter history (e.g. after a stream restart).
    pub fn reset(&mut self) {
        self.inner.reset();
    }
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SampleRate::*;

    const PAIRS: [(SampleRate, SampleRate, usize); 6] = [
        (Hz8000, Hz16000, 160),
        (Hz16000, Hz8000, 80),
        (Hz8000, Hz48000, 480),
        (Hz48000, Hz8000, 80),
        (Hz16000, Hz48000, 480),
        (Hz48000, Hz16000, 160),
    ];

    /// Feeds an impulse at input sample 0 and finds the output peak: that index is the delay.
    #[test]
    fn measured_delay_matches_table() {
        for (from, to, expected) in PAIRS {
            let mut r = Resampler::new(from, to).unwrap();
            assert_eq!(r.delay(), expected, "{from:?}->{to:?} reported delay");
            let mut input = vec![0i16; from.frame_samples()];
            input[0] = 30000;
            let mut out = Vec::new();
            let mut buf = [0i16; 960];
            for _ in 0..3 {
                let n = r.process(&input, &mut buf).unwrap();
                assert_eq!(n, to.frame_samples());
                out.extend_from_slice(&buf[..n]);
                input.iter_mut().for_each(|s| *s = 0);
            }
            let peak = out
                .iter()
                .enumerate()
                .max_by_key(|(_, s)| s.unsigned_abs())
                .map(|(i, _)| i)
                .unwrap();
            assert_eq!(peak, expected, "{from:?}->{to:?} measured delay");
        }
    }

    /// A step settles to its input level after the delay (no gain error).
    #[test]
    fn step_settles() {
        for (from, to, delay) in PAIRS {
            let mut r = Resampler::new(from, to).unwrap();
            let input = vec![10000i16; from.frame_samples()];
            let mut buf = [0i16; 960];
            let mut out = Vec::new();
            for _ in 0..4 {
                let n = r.process(&input, &mut buf).unwrap();
                out.extend_from_slice(&buf[..n]);
            }
            let settled = &out[delay + to.frame_samples()..];
            for &s in settled {
                assert!((i32::from(s) - 10000).abs() < 150, "{from:?}->{to:?} {s}");
            }
        }
    }

    #[test]
    fn bad_inputs() {
        assert!(Resampler::new(Hz8000, Hz8000).is_err());
        let mut r = Resampler::new(Hz8000, Hz16000).unwrap();
        let mut out = [0i16; 320];
        assert!(r.process(&[0; 159], &mut out).is_err());
        assert!(r.process(&[0; 160], &mut out[..319]).is_err());
        assert_eq!(r.process(&[i16::MAX; 160], &mut out).unwrap(), 320);
    }
}
