//! 2:1 resampling between 8 kHz and 16 kHz with a polyphase half-band FIR: the conversion every
//! G.711 ⇄ L16/16k (or G.722) call does twice per 20 ms frame.
//!
//! The prototype is a Kaiser-windowed sinc cut at a quarter of 16 kHz (4 kHz). A half-band
//! filter has every other tap zero except the centre one, which is exactly 1/2, so:
//! - 16k → 8k ([`Decimator`]): an output sample is half of one even input sample plus a
//!   [`TAPS`]-tap dot product over the odd input samples;
//! - 8k → 16k ([`Interpolator`]): the even output samples are the input samples themselves,
//!   the odd ones a [`TAPS`]-tap dot product (taps doubled for the zero-stuffing gain).
//!
//! Response (asserted by the tests in `resample.rs`): passband flat to 3.4 kHz (ripple well
//! under 0.1 dB), ≥ 70 dB rejection from 4.6 kHz up, images of 8k→16k and aliases of 16k→8k
//! alike. 4.0–4.6 kHz is the transition band: what 16k→8k lets through from there folds to
//! 3.4–4.0 kHz, above the telephone band.
//!
//! Delay: [`DELAY_16K`] samples at 16 kHz = [`DELAY_8K`] at 8 kHz = 2 ms, in each direction.
//!
//! The state is the last [`TAPS`] samples of each input phase, carried from frame to frame, so
//! a stream cut into frames gives the same samples as one long block. Arithmetic is `f32` in
//! sample units; the dot products run in [`LANES`] independent accumulators so that the
//! compiler vectorises them. Nothing allocates after construction.

use std::sync::OnceLock;

/// Non-zero off-centre taps of the prototype, i.e. the length of each polyphase dot product.
pub const TAPS: usize = 32;
/// Algorithmic delay in 16 kHz samples (the prototype's centre, 2 ms).
pub const DELAY_16K: usize = TAPS;
/// Algorithmic delay in 8 kHz samples (2 ms).
pub const DELAY_8K: usize = TAPS / 2;
/// Accumulators per dot product (two SSE or one AVX register of `f32`).
const LANES: usize = 8;
/// Kaiser window β: about 75 dB of stopband for this length.
const KAISER_BETA: f64 = 7.3;
/// Samples of one 20 ms frame at 8 kHz (one phase of a 16 kHz frame).
const N8: usize = 160;
/// Carried history plus one frame, per phase.
const BUF: usize = TAPS + N8;

/// The polyphase taps `c[k]`, `k = 0..TAPS`: the prototype's taps at the odd offsets
/// `2k - (TAPS - 1)` from its centre, scaled so that they sum to 1/2 (unity gain at DC).
/// Symmetric (`c[k] == c[TAPS - 1 - k]`), so the order of a dot product does not matter.
pub fn taps() -> &'static [f32; TAPS] {
    static TAPS_CELL: OnceLock<[f32; TAPS]> = OnceLock::new();
    TAPS_CELL.get_or_init(design)
}

fn design() -> [f32; TAPS] {
    // The window reaches zero-valued taps at ±TAPS, so its half-width is TAPS.
    let half_width = TAPS as f64;
    let i0_beta = bessel_i0(KAISER_BETA);
    let mut raw = [0.0f64; TAPS];
    for (k, c) in raw.iter_mut().enumerate() {
        let offset = 2.0 * k as f64 - (TAPS as f64 - 1.0);
        // Ideal half-band: h(j) = sin(πj/2) / (πj); odd j only.
        let ideal = (std::f64::consts::FRAC_PI_2 * offset).sin() / (std::f64::consts::PI * offset);
        let r = offset / half_width;
        let window = bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / i0_beta;
        *c = ideal * window;
    }
    let sum: f64 = raw.iter().sum();
    let mut out = [0.0f32; TAPS];
    for (o, r) in out.iter_mut().zip(raw) {
        *o = (r * 0.5 / sum) as f32;
    }
    out
}

/// The modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1.0;
    while term > sum * 1e-16 {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

#[inline(always)]
fn dot(taps: &[f32; TAPS], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    for (t, s) in taps.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
        for ((a, &t), &s) in acc.iter_mut().zip(t).zip(s) {
            *a += t * s;
        }
    }
    acc.iter().sum()
}

/// Rounds to the nearest sample (half away from zero); `as` saturates out-of-range values.
#[inline(always)]
fn to_i16(v: f32) -> i16 {
    (v + 0.5f32.copysign(v)) as i16
}

/// 8 kHz → 16 kHz on 20 ms frames (160 samples in, 320 out).
#[derive(Clone)]
pub struct Interpolator {
    /// `2 × taps()`: the zero-stuffed input has half the energy.
    taps: [f32; TAPS],
    /// Input samples: `TAPS` of history, then the current frame.
    x: [f32; BUF],
}

impl Interpolator {
    /// A filter with zero history.
    pub fn new() -> Self {
        let mut t = *taps();
        t.iter_mut().for_each(|c| *c *= 2.0);
        Interpolator {
            taps: t,
            x: [0.0; BUF],
        }
    }

    /// Converts one frame: `input` is 160 samples, `output` at least 320.
    pub(crate) fn process(&mut self, input: &[i16; N8], output: &mut [i16; 2 * N8]) {
        for (d, &s) in self.x[TAPS..].iter_mut().zip(input) {
            *d = f32::from(s);
        }
        for (m, pair) in output.chunks_exact_mut(2).enumerate() {
            // The even phase is a pure delay: the input sample DELAY_8K ago, exactly.
            pair[0] = self.x[TAPS - DELAY_8K + m] as i16;
            pair[1] = to_i16(dot(&self.taps, &self.x[m + 1..m + 1 + TAPS]));
        }
        self.x.copy_within(N8.., 0);
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.x = [0.0; BUF];
    }
}

impl Default for Interpolator {
    fn default() -> Self {
        Self::new()
    }
}

/// 16 kHz → 8 kHz on 20 ms frames (320 samples in, 160 out).
#[derive(Clone)]
pub struct Decimator {
    taps: [f32; TAPS],
    /// Even input samples: `TAPS` of history, then the current frame's.
    even: [f32; BUF],
    /// Odd input samples, likewise.
    odd: [f32; BUF],
}

impl Decimator {
    /// A filter with zero history.
    pub fn new() -> Self {
        Decimator {
            taps: *taps(),
            even: [0.0; BUF],
            odd: [0.0; BUF],
        }
    }

    /// Converts one frame: `input` is 320 samples, `output` 160.
    pub(crate) fn process(&mut self, input: &[i16; 2 * N8], output: &mut [i16; N8]) {
        for ((e, o), pair) in self.even[TAPS..]
            .iter_mut()
            .zip(&mut self.odd[TAPS..])
            .zip(input.chunks_exact(2))
        {
            *e = f32::from(pair[0]);
            *o = f32::from(pair[1]);
        }
        for (m, out) in output.iter_mut().enumerate() {
            let centre = 0.5 * self.even[TAPS - DELAY_8K + m];
            *out = to_i16(centre + dot(&self.taps, &self.odd[m..m + TAPS]));
        }
        self.even.copy_within(N8.., 0);
        self.odd.copy_within(N8.., 0);
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.even = [0.0; BUF];
        self.odd = [0.0; BUF];
    }
}

impl Default for Decimator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_are_symmetric_and_sum_to_one_half() {
        let t = taps();
        for k in 0..TAPS {
            assert!((t[k] - t[TAPS - 1 - k]).abs() < 1e-7, "tap {k}");
        }
        let sum: f32 = t.iter().sum();
        assert!((sum - 0.5).abs() < 1e-6, "sum {sum}");
        // The main lobe is next to the centre, with the sinc's alternating signs outward.
        let mid = TAPS / 2;
        assert!(t[mid] > 0.3 && t[mid - 1] > 0.3);
        assert!(t[mid + 1] < 0.0 && t[mid + 2] > 0.0);
    }

    #[test]
    fn bessel_i0_known_values() {
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-12);
        assert!((bessel_i0(5.0) - 27.239_871_823_604_442).abs() < 1e-9);
    }
}
