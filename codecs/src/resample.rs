//! Sample-rate conversion between 8, 16 and 48 kHz on exact 20 ms frames.
//!
//! 8 kHz ⇄ 16 kHz, the pair of every G.711 ⇄ L16/16k call, runs our polyphase half-band FIR
//! ([`crate::halfband`]); the pairs with 48 kHz run rubato's `Fft` (`FixedSync::Both`).
//! Buffers are allocated once in [`Resampler::new`]; [`Resampler::process`] does not allocate.
//!
//! Algorithmic delay, measured by the impulse test below:
//!
//! | ratio | delay (output samples) | delay |
//! |---|---|---|
//! | 8k → 16k | 32 | 2 ms (half-band FIR) |
//! | 16k → 8k | 16 | 2 ms (half-band FIR) |
//! | 8k → 48k | 480 | 10 ms (rubato: half its output FFT) |
//! | 48k → 8k | 80 | 10 ms |
//! | 16k → 48k | 480 | 10 ms |
//! | 48k → 16k | 160 | 10 ms |

use crate::error::{CodecError, Result};
use crate::frame::SampleRate;
use crate::halfband::{self, Decimator, Interpolator};
use audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler as _};

/// A mono 20 ms-frame resampler between two of our rates.
pub struct Resampler {
    kind: Kind,
    from: SampleRate,
    to: SampleRate,
}

enum Kind {
    Up2(Box<Interpolator>),
    Down2(Box<Decimator>),
    Fft(Box<FftPath>),
}

/// rubato's FFT resampler with its `f32` staging buffers.
struct FftPath {
    inner: Fft<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl Resampler {
    /// Builds a resampler from `from` to `to` (they must differ).
    pub fn new(from: SampleRate, to: SampleRate) -> Result<Self> {
        let kind = match (from, to) {
            (SampleRate::Hz8000, SampleRate::Hz16000) => Kind::Up2(Box::default()),
            (SampleRate::Hz16000, SampleRate::Hz8000) => Kind::Down2(Box::default()),
            _ if from == to => {
                return Err(CodecError::UnsupportedRate {
                    from: from.hz(),
                    to: to.hz(),
                })
            }
            _ => Kind::Fft(Box::new(FftPath::new(from, to)?)),
        };
        Ok(Resampler { kind, from, to })
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
        match &self.kind {
            Kind::Up2(_) => halfband::DELAY_16K,
            Kind::Down2(_) => halfband::DELAY_8K,
            Kind::Fft(f) => f.inner.output_delay(),
        }
    }

    /// Resamples one 20 ms frame (`input.len() == from.frame_samples()`) into `output`
    /// (at least `to.frame_samples()` long); returns the samples written.
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> Result<usize> {
        let n_out = self.to.frame_samples();
        if input.len() != self.from.frame_samples() {
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
        match &mut self.kind {
            // The lengths were checked against the rates above, which fix the kind.
            Kind::Up2(f) => f.process(frame(input)?, frame_mut(output)?),
            Kind::Down2(f) => f.process(frame(input)?, frame_mut(output)?),
            Kind::Fft(f) => return f.process(input, output),
        }
        Ok(n_out)
    }

    /// Clears the filter history (e.g. after a stream restart).
    pub fn reset(&mut self) {
        match &mut self.kind {
            Kind::Up2(f) => f.reset(),
            Kind::Down2(f) => f.reset(),
            Kind::Fft(f) => f.inner.reset(),
        }
    }
}

fn frame<const N: usize>(s: &[i16]) -> Result<&[i16; N]> {
    s.try_into().map_err(|_| CodecError::BadLength {
        what: "resampler input",
        got: s.len(),
        expected: "one 20 ms frame",
    })
}

fn frame_mut<const N: usize>(s: &mut [i16]) -> Result<&mut [i16; N]> {
    let have = s.len();
    s.try_into()
        .map_err(|_| CodecError::OutputTooSmall { need: N, have })
}

impl FftPath {
    fn new(from: SampleRate, to: SampleRate) -> Result<Self> {
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
        Ok(FftPath {
            input: vec![0.0; from.frame_samples()],
            output: vec![0.0; inner.output_frames_max()],
            inner,
        })
    }

    /// `input` is one frame at the input rate, `output` one frame at the output rate.
    fn process(&mut self, input: &[i16], output: &mut [i16]) -> Result<usize> {
        let n_in = input.len();
        let n_out = output.len();
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
        (Hz8000, Hz16000, 32),
        (Hz16000, Hz8000, 16),
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

    /// A tone of `hz` at `amp`, `n` samples at `rate`.
    fn tone(rate: SampleRate, hz: f64, amp: f64, n: usize) -> Vec<i16> {
        let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate.hz());
        (0..n)
            .map(|i| (amp * (w * i as f64).sin()).round() as i16)
            .collect()
    }

    /// Runs `input` through `r` frame by frame (whole frames only).
    fn run(r: &mut Resampler, input: &[i16]) -> Vec<i16> {
        let mut out = Vec::new();
        let mut buf = [0i16; 960];
        for frame in input.chunks_exact(r.from_rate().frame_samples()) {
            let n = r.process(frame, &mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// A tone of `n` input samples through a fresh resampler.
    fn tone_through(from: SampleRate, to: SampleRate, hz: f64, amp: f64, n: usize) -> Vec<i16> {
        run(
            &mut Resampler::new(from, to).unwrap(),
            &tone(from, hz, amp, n),
        )
    }

    /// Amplitude of the `hz` component of `x` (one DFT bin; `x` holds whole cycles of it).
    fn amplitude_at(x: &[i16], rate: SampleRate, hz: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate.hz());
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in x.iter().enumerate() {
            re += f64::from(s) * (w * i as f64).cos();
            im += f64::from(s) * (w * i as f64).sin();
        }
        2.0 * re.hypot(im) / x.len() as f64
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    fn db(ratio: f64) -> f64 {
        20.0 * ratio.log10()
    }

    /// One second of output after a quarter second of settling (exact DFT bins for whole Hz).
    fn steady(out: &[i16], rate: SampleRate) -> &[i16] {
        let hz = rate.hz() as usize;
        &out[hz / 4..hz / 4 + hz]
    }

    /// Both half-band directions are flat to 3.4 kHz: every 100 Hz step within ±0.1 dB.
    #[test]
    fn passband_ripple_to_3400_hz() {
        let mut worst: f64 = 0.0;
        for (from, to) in [(Hz8000, Hz16000), (Hz16000, Hz8000)] {
            for f in (100..=3400).step_by(100) {
                let f = f64::from(f);
                let out = tone_through(from, to, f, 10000.0, from.hz() as usize * 3 / 2);
                let gain = db(amplitude_at(steady(&out, to), to, f) / 10000.0);
                assert!(gain.abs() < 0.1, "{from:?}->{to:?} {f} Hz: {gain:.4} dB");
                worst = worst.max(gain.abs());
            }
        }
        eprintln!("passband ripple to 3.4 kHz: ±{worst:.4} dB");
    }

    /// The highest of `level(f)` (in dB) over `freqs` Hz; each must be below -70 dB.
    fn worst_leak(
        what: &str,
        freqs: std::ops::RangeInclusive<u32>,
        level: impl Fn(f64) -> f64,
    ) -> f64 {
        let worst = freqs
            .step_by(100)
            .map(|f| (f, level(f64::from(f))))
            .inspect(|&(f, l)| assert!(l < -70.0, "{what}: {f} Hz leaks at {l:.1} dB"))
            .map(|(_, l)| l)
            .fold(f64::NEG_INFINITY, f64::max);
        eprintln!("{what}: rejection {:.1} dB", -worst);
        worst
    }

    /// 16k → 8k: tones from 4.6 kHz to 7.9 kHz (they would alias to 0.1–3.4 kHz) come out at
    /// least 70 dB down, all output energy counted.
    #[test]
    fn alias_rejection_above_4600_hz() {
        worst_leak("16k->8k aliases from 4.6 kHz", 4600..=7900, |f| {
            let out = tone_through(Hz16000, Hz8000, f, 16000.0, 24000);
            db(rms(steady(&out, Hz8000)) / (16000.0 / 2f64.sqrt()))
        });
    }

    /// 8k → 16k: the image of each 0.1–3.4 kHz tone (mirrored about 4 kHz) is at least 70 dB
    /// below the tone.
    #[test]
    fn image_rejection_8k_to_16k() {
        worst_leak("8k->16k images", 100..=3400, |f| {
            let out = tone_through(Hz8000, Hz16000, f, 16000.0, 12000);
            let window = steady(&out, Hz16000);
            db(amplitude_at(window, Hz16000, 8000.0 - f) / amplitude_at(window, Hz16000, f))
        });
    }

    /// 8k → 16k → 8k gives the input back, delayed by both filters, with a high SNR (for the
    /// 997 Hz tone the error stays under half a step and the round trip is bit-exact).
    #[test]
    fn round_trip_snr() {
        // 997 Hz rather than 1000: a 1 kHz tone at 8 kHz repeats every 8 samples and comes back
        // bit-exact, which measures nothing.
        for (f, min_snr) in [(997.0, 70.0), (300.0, 70.0), (3000.0, 60.0)] {
            let mut up = Resampler::new(Hz8000, Hz16000).unwrap();
            let mut down = Resampler::new(Hz16000, Hz8000).unwrap();
            let input = tone(Hz8000, f, 10000.0, 16000);
            let back = run(&mut down, &run(&mut up, &input));
            let delay = up.delay() / 2 + down.delay();
            assert_eq!(delay, 32, "2 ms each way, in 8 kHz samples");
            let (mut sig, mut noise) = (0.0, 0.0);
            for n in 2000..back.len() {
                let want = f64::from(input[n - delay]);
                sig += want * want;
                noise += (f64::from(back[n]) - want).powi(2);
            }
            let snr = 10.0 * (sig / noise).log10();
            eprintln!("round trip {f} Hz: SNR {snr:.1} dB");
            assert!(snr > min_snr, "{f} Hz: SNR {snr:.1} dB");
        }
    }

    /// Deterministic noise plus a tone, to exercise every tap.
    fn test_signal(n: usize) -> Vec<i16> {
        let mut seed = 0x1234_5678u32;
        (0..n)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = f64::from((seed >> 16) as i16) / 4.0;
                (noise + 8000.0 * (i as f64 * 0.3).sin()) as i16
            })
            .collect()
    }

    /// Frame edges are seamless: frame-by-frame output equals one long direct-form convolution
    /// with the prototype filter (zero-stuffing for 8k→16k), to within rounding.
    #[test]
    fn frames_match_one_long_convolution() {
        let g = |j: i64| -> f64 {
            // The prototype's tap at offset j from its centre.
            match j {
                0 => 0.5,
                j if j % 2 != 0 && j.abs() < halfband::TAPS as i64 => {
                    f64::from(halfband::taps()[((j + halfband::TAPS as i64 - 1) / 2) as usize])
                }
                _ => 0.0,
            }
        };
        let centre = halfband::TAPS as i64;
        let reach = halfband::TAPS as i64;

        // 16k -> 8k: y[m] = sum_j h(j) x[2m - D - j].
        let x = test_signal(320 * 12);
        let got = run(&mut Resampler::new(Hz16000, Hz8000).unwrap(), &x);
        for (m, &y) in got.iter().enumerate() {
            let mut acc = 0.0;
            for j in -reach..=reach {
                let t = 2 * m as i64 - centre - j;
                if t >= 0 {
                    acc += g(j) * f64::from(x[t as usize]);
                }
            }
            let want = acc.round().clamp(-32768.0, 32767.0);
            assert!(
                (f64::from(y) - want).abs() <= 1.0,
                "16k->8k sample {m}: {y} vs {want}"
            );
        }

        // 8k -> 16k: u[n] = sum_j h(j) w[n - D - j], w = 2x zero-stuffed.
        let x = test_signal(160 * 12);
        let got = run(&mut Resampler::new(Hz8000, Hz16000).unwrap(), &x);
        for (n, &u) in got.iter().enumerate() {
            let mut acc = 0.0;
            for j in -reach..=reach {
                let t = n as i64 - centre - j;
                if t >= 0 && t % 2 == 0 {
                    acc += g(j) * 2.0 * f64::from(x[(t / 2) as usize]);
                }
            }
            let want = acc.round().clamp(-32768.0, 32767.0);
            assert!(
                (f64::from(u) - want).abs() <= 1.0,
                "8k->16k sample {n}: {u} vs {want}"
            );
        }
    }

    /// A full-scale step overshoots (Gibbs) and is clipped, never wrapped around.
    #[test]
    fn full_scale_step_saturates() {
        for (from, to) in [(Hz8000, Hz16000), (Hz16000, Hz8000)] {
            for level in [i16::MAX, i16::MIN] {
                let mut r = Resampler::new(from, to).unwrap();
                let out = run(&mut r, &vec![level; from.frame_samples() * 3]);
                let after = &out[r.delay()..];
                assert!(
                    after.contains(&level),
                    "{from:?}->{to:?} {level}: not clipped"
                );
                assert!(
                    after
                        .iter()
                        .all(|&s| i32::from(s) * i32::from(level).signum() > 20000),
                    "{from:?}->{to:?} {level}: wrapped"
                );
                assert!(
                    out[out.len() - 1] == level,
                    "{from:?}->{to:?} settles at {level}"
                );
            }
        }
    }

    #[test]
    fn reset_forgets_history() {
        for (from, to) in [(Hz8000, Hz16000), (Hz16000, Hz8000)] {
            let mut r = Resampler::new(from, to).unwrap();
            run(&mut r, &vec![20000; from.frame_samples()]);
            r.reset();
            let out = run(&mut r, &vec![0; from.frame_samples()]);
            assert!(out.iter().all(|&s| s == 0), "{from:?}->{to:?}");
        }
    }
}
