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
//! sample units. Nothing allocates after construction.
//!
//! Speed: the dot products are vectorised across output samples, not across taps (see
//! [`convolve`]), and the same loops are compiled twice: for the target's baseline and, on
//! x86_64, for AVX2 with fused multiply-add, which a filter picks once at construction if the
//! CPU has it. A fused multiply-add rounds once where the baseline rounds twice, so the two
//! copies may differ by one in the last bit of a sample (asserted by the tests below); the
//! taps, delay and response are the same.

use std::sync::OnceLock;

/// Non-zero off-centre taps of the prototype, i.e. the length of each polyphase dot product.
pub const TAPS: usize = 32;
/// Algorithmic delay in 16 kHz samples (the prototype's centre, 2 ms).
pub const DELAY_16K: usize = TAPS;
/// Algorithmic delay in 8 kHz samples (2 ms).
pub const DELAY_8K: usize = TAPS / 2;
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

/// Which compiled copy of the filter loops a filter runs, chosen once at construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// The loops as compiled for the target's baseline (SSE2 on x86_64).
    Portable,
    /// The same loops compiled for AVX2 with fused multiply-add.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Path {
    /// The fastest copy this CPU can run.
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if Path::Avx2Fma.runs_here() {
            return Path::Avx2Fma;
        }
        Path::Portable
    }

    /// Whether this CPU has the instructions the copy is compiled for.
    fn runs_here(self) -> bool {
        match self {
            Path::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2Fma => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
        }
    }
}

/// `a + c·s` rounded twice: what the baseline has, and what every CPU computes alike.
#[inline(always)]
fn mul_add_portable(a: f32, c: f32, s: f32) -> f32 {
    a + c * s
}

/// `a + c·s` rounded once. Only for code compiled with the `fma` feature: elsewhere
/// `f32::mul_add` is a call into libm.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mul_add_fused(a: f32, c: f32, s: f32) -> f32 {
    c.mul_add(s, a)
}

/// `y[m] = Σ_k c[k]·x[m + k]` for the `N8` outputs of a frame.
///
/// Vectorised across outputs rather than across taps: a block of `8 × V` outputs is summed in
/// as many accumulators, and each tap is one multiply-add of that tap with `8 × V` consecutive
/// inputs, so there is no horizontal sum per output and no shuffling. The accumulators stay in
/// registers for all [`TAPS`] taps if `V` vectors of eight fit in the target's sixteen vector
/// registers with room for a tap and an input: `V = 10` with AVX2 (two blocks per frame),
/// `V = 4` with SSE2 (eight registers, five blocks). Then each tap is one broadcast, `V` loads
/// and `V` multiply-adds that do not wait on each other, and the loop runs close to the
/// CPU's multiply-add throughput.
///
/// `mac(a, c, s)` is `a + c·s`, fused or not.
#[inline(always)]
fn convolve<const V: usize>(
    c: &[f32; TAPS],
    x: &[f32],
    y: &mut [f32; N8],
    mac: impl Fn(f32, f32, f32) -> f32,
) {
    let x = &x[..N8 + TAPS - 1];
    for (block, ys) in y.chunks_exact_mut(8 * V).enumerate() {
        let mut acc = [[0.0f32; 8]; V];
        for (k, &ck) in c.iter().enumerate() {
            let xs = &x[block * 8 * V + k..][..8 * V];
            for (a, xv) in acc.iter_mut().zip(xs.chunks_exact(8)) {
                for (a, &s) in a.iter_mut().zip(xv) {
                    *a = mac(*a, ck, s);
                }
            }
        }
        for (yv, a) in ys.chunks_exact_mut(8).zip(&acc) {
            yv.copy_from_slice(a);
        }
    }
}

/// Rounds to the nearest sample (half away from zero) and saturates.
///
/// The same function as `(v + 0.5f32.copysign(v)) as i16` for every value but NaN (which the
/// filters cannot produce from integer samples and finite taps), written so that it vectorises:
/// LLVM turns Rust's saturating float-to-integer `as` into one scalar conversion per sample,
/// and `f32::trunc` into a call into libm on baseline x86_64, so both are done by hand with
/// plain float arithmetic on `MAGIC`.
#[inline(always)]
fn to_i16(v: f32) -> i16 {
    let r = (v + 0.5f32.copysign(v)).clamp(-32768.0, 32767.0);
    // Rounded to the nearest integer (ties to even); one step back towards zero where that
    // rounded away from it gives the truncation `as` would do.
    let nearest = (r + MAGIC) - MAGIC;
    let t = if nearest.abs() > r.abs() {
        nearest - 1.0f32.copysign(r)
    } else {
        nearest
    };
    exact_i16(t)
}

/// 1.5 × 2²³. Any float `x` with `|x| < 2²²` added to it lands in `[2²³, 2²⁴)`, where floats are
/// exactly the integers: the sum is `x` rounded to the nearest integer, and its bit pattern is
/// `MAGIC`'s plus that integer.
const MAGIC: f32 = 12_582_912.0;

/// The integer an integer-valued `t` in the `i16` range holds (by the bit pattern of
/// `t + MAGIC`, because a float-to-integer `as` does not vectorise).
#[inline(always)]
fn exact_i16(t: f32) -> i16 {
    ((t + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32) as i16
}

/// One direction of the filter: a frame of `In` to a frame of `Out` by [`Phases::run`], whose
/// loops are compiled once per [`Path`] by [`process`].
trait Phases {
    type In;
    type Out;
    /// The copy of the loops this filter was built for.
    fn path(&self) -> Path;
    /// The whole frame, `V` vectors of eight outputs per block, multiply-adding with `mac`.
    fn run<const V: usize>(
        &mut self,
        input: &Self::In,
        output: &mut Self::Out,
        mac: impl Fn(f32, f32, f32) -> f32,
    );
}

/// Runs `filter` on one frame with the copy of its loops its [`Path`] names.
fn process<F: Phases>(filter: &mut F, input: &F::In, output: &mut F::Out) {
    match filter.path() {
        Path::Portable => filter.run::<4>(input, output, mul_add_portable),
        #[cfg(target_arch = "x86_64")]
        // The crate denies unsafe code; calling a function compiled for CPU features the
        // caller is not compiled for is unsafe, and this call is the only unsafe code here.
        #[allow(unsafe_code)]
        // SAFETY: each filter's constructor asserted that this CPU has AVX2 and FMA, which is
        // all `run_avx2` requires; a filter's `path` does not change after construction.
        Path::Avx2Fma => unsafe { run_avx2(filter, input, output) },
    }
}

/// [`Phases::run`] compiled for AVX2 and FMA (ten vectors of eight outputs per block).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2<F: Phases>(filter: &mut F, input: &F::In, output: &mut F::Out) {
    filter.run::<10>(input, output, mul_add_fused);
}

/// 8 kHz → 16 kHz on 20 ms frames (160 samples in, 320 out).
#[derive(Clone)]
pub struct Interpolator {
    /// `2 × taps()`: the zero-stuffed input has half the energy. Shared by every filter (in
    /// cache across calls).
    taps: &'static [f32; TAPS],
    /// The last `TAPS` input samples. Only the history is kept per filter and the frame is
    /// worked on the stack: 128 bytes per filter instead of 768, for every call's two.
    hist: [f32; TAPS],
    /// Which copy of the loops runs.
    path: Path,
}

impl Interpolator {
    /// A filter with zero history.
    pub fn new() -> Self {
        Self::with_path(Path::detect())
    }

    /// A filter that runs `path`'s copy of the loops.
    fn with_path(path: Path) -> Self {
        // Running the AVX2 copy on a CPU without AVX2 would be undefined behaviour.
        assert!(path.runs_here(), "{path:?} does not run on this CPU");
        static DOUBLED: OnceLock<[f32; TAPS]> = OnceLock::new();
        let taps = DOUBLED.get_or_init(|| taps().map(|c| c * 2.0));
        Interpolator {
            taps,
            hist: [0.0; TAPS],
            path,
        }
    }

    /// Converts one frame: `input` is 160 samples, `output` at least 320.
    pub(crate) fn process(&mut self, input: &[i16; N8], output: &mut [i16; 2 * N8]) {
        process(self, input, output);
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.hist = [0.0; TAPS];
    }
}

impl Phases for Interpolator {
    type In = [i16; N8];
    type Out = [i16; 2 * N8];

    fn path(&self) -> Path {
        self.path
    }

    /// The whole frame, inlined into each caller so that all of it (the conversions too) is
    /// compiled for the caller's CPU features.
    #[inline(always)]
    fn run<const V: usize>(
        &mut self,
        input: &Self::In,
        output: &mut Self::Out,
        mac: impl Fn(f32, f32, f32) -> f32,
    ) {
        // History, then the current frame.
        let mut x = [0.0f32; BUF];
        x[..TAPS].copy_from_slice(&self.hist);
        for (d, &s) in x[TAPS..].iter_mut().zip(input) {
            *d = f32::from(s);
        }
        let mut odd = [0.0f32; N8];
        convolve::<V>(self.taps, &x[1..], &mut odd, mac);
        // The even phase is a pure delay: the input sample DELAY_8K ago, exactly.
        let even = &x[TAPS - DELAY_8K..][..N8];
        for ((pair, &e), &o) in output.chunks_exact_mut(2).zip(even).zip(&odd) {
            pair[0] = exact_i16(e);
            pair[1] = to_i16(o);
        }
        self.hist.copy_from_slice(&x[N8..]);
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
    /// Shared by every filter.
    taps: &'static [f32; TAPS],
    /// The last `TAPS` even input samples (the frame is worked on the stack, as in
    /// [`Interpolator`]).
    even_hist: [f32; TAPS],
    /// The last `TAPS` odd input samples.
    odd_hist: [f32; TAPS],
    /// Which copy of the loops runs.
    path: Path,
}

impl Decimator {
    /// A filter with zero history.
    pub fn new() -> Self {
        Self::with_path(Path::detect())
    }

    /// A filter that runs `path`'s copy of the loops.
    fn with_path(path: Path) -> Self {
        // Running the AVX2 copy on a CPU without AVX2 would be undefined behaviour.
        assert!(path.runs_here(), "{path:?} does not run on this CPU");
        Decimator {
            taps: taps(),
            even_hist: [0.0; TAPS],
            odd_hist: [0.0; TAPS],
            path,
        }
    }

    /// Converts one frame: `input` is 320 samples, `output` 160.
    pub(crate) fn process(&mut self, input: &[i16; 2 * N8], output: &mut [i16; N8]) {
        process(self, input, output);
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.even_hist = [0.0; TAPS];
        self.odd_hist = [0.0; TAPS];
    }
}

impl Phases for Decimator {
    type In = [i16; 2 * N8];
    type Out = [i16; N8];

    fn path(&self) -> Path {
        self.path
    }

    /// The whole frame, inlined into each caller so that all of it (the conversions too) is
    /// compiled for the caller's CPU features.
    #[inline(always)]
    fn run<const V: usize>(
        &mut self,
        input: &Self::In,
        output: &mut Self::Out,
        mac: impl Fn(f32, f32, f32) -> f32,
    ) {
        // Each phase: history, then the current frame's samples.
        let mut even = [0.0f32; BUF];
        let mut odd = [0.0f32; BUF];
        even[..TAPS].copy_from_slice(&self.even_hist);
        odd[..TAPS].copy_from_slice(&self.odd_hist);
        for ((e, o), pair) in even[TAPS..]
            .iter_mut()
            .zip(&mut odd[TAPS..])
            .zip(input.chunks_exact(2))
        {
            *e = f32::from(pair[0]);
            *o = f32::from(pair[1]);
        }
        let mut dot = [0.0f32; N8];
        convolve::<V>(self.taps, &odd, &mut dot, mac);
        let delayed = &even[TAPS - DELAY_8K..][..N8];
        for ((out, &e), &d) in output.iter_mut().zip(delayed).zip(&dot) {
            *out = to_i16(0.5 * e + d);
        }
        self.even_hist.copy_from_slice(&even[N8..]);
        self.odd_hist.copy_from_slice(&odd[N8..]);
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

    /// `to_i16` is the conversion it replaces, `(v + 0.5f32.copysign(v)) as i16`, on a sweep of
    /// every magnitude and on every quarter step through and past the `i16` range (the halves,
    /// the saturation edges, the one float below 0.5 whose `+ 0.5` rounds up to 1).
    #[test]
    fn to_i16_is_the_saturating_cast() {
        let cast = |v: f32| (v + 0.5f32.copysign(v)) as i16;
        let sweep = (0..=u32::MAX).step_by(997).map(f32::from_bits);
        let quarters = (-140_000..=140_000).map(|q| q as f32 / 4.0);
        let edges = [
            0.5 - f32::EPSILON / 4.0,
            0.5,
            32767.5,
            32768.0,
            f32::MAX,
            f32::INFINITY,
        ];
        let edges = edges
            .into_iter()
            .flat_map(|v| [v, -v, v.next_up(), v.next_down()]);
        for v in sweep.chain(quarters).chain(edges).filter(|v| !v.is_nan()) {
            assert_eq!(to_i16(v), cast(v), "{v:e}");
        }
    }

    /// The copies of the loops this CPU runs: the portable one, and the AVX2 one if it can.
    fn paths() -> Vec<Path> {
        let all = [
            Path::Portable,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2Fma,
        ];
        all.into_iter().filter(|p| p.runs_here()).collect()
    }

    /// Full-scale white noise, with runs pinned at either rail now and then.
    fn noise(n: usize, seed: u32) -> Vec<i16> {
        let mut state = seed;
        (0..n)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                match (i / 97) % 11 {
                    3 => i16::MAX,
                    7 => i16::MIN,
                    _ => (state >> 16) as i16,
                }
            })
            .collect()
    }

    fn interpolate(path: Path, x: &[i16]) -> Vec<i16> {
        let mut f = Interpolator::with_path(path);
        let mut out = Vec::new();
        for frame in x.chunks_exact(N8) {
            let mut y = [0i16; 2 * N8];
            f.process(frame.try_into().unwrap(), &mut y);
            out.extend_from_slice(&y);
        }
        out
    }

    fn decimate(path: Path, x: &[i16]) -> Vec<i16> {
        let mut f = Decimator::with_path(path);
        let mut out = Vec::new();
        for frame in x.chunks_exact(2 * N8) {
            let mut y = [0i16; N8];
            f.process(frame.try_into().unwrap(), &mut y);
            out.extend_from_slice(&y);
        }
        out
    }

    /// The AVX2 copy (fused multiply-add) and the portable one agree to within one step on
    /// random full-scale input, in both directions. Skipped where the CPU has no AVX2.
    #[test]
    fn avx2_and_portable_paths_agree() {
        let paths = paths();
        let [portable, fast] = paths[..] else {
            eprintln!("no AVX2 and FMA on this CPU: one path only, nothing to compare");
            return;
        };
        let x = noise(2 * N8 * 200, 7);
        for (what, a, b) in [
            ("8k->16k", interpolate(portable, &x), interpolate(fast, &x)),
            ("16k->8k", decimate(portable, &x), decimate(fast, &x)),
        ] {
            assert_eq!(a.len(), b.len());
            let mut differ = 0;
            for (n, (&a, &b)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (i32::from(a) - i32::from(b)).abs() <= 1,
                    "{what} {n}: {a} vs {b}"
                );
                differ += usize::from(a != b);
            }
            eprintln!("{what}: {differ} of {} samples differ by one", a.len());
        }
    }

    /// The prototype's tap at offset `j` from its centre.
    fn prototype(j: i64) -> f64 {
        let reach = TAPS as i64;
        match j {
            0 => 0.5,
            j if j % 2 != 0 && j.abs() < reach => f64::from(taps()[((j + reach - 1) / 2) as usize]),
            _ => 0.0,
        }
    }

    /// `Σ_j h(j)·w[n - DELAY_16K - j]` over the 16 kHz stream `w(t)` (zero before it starts),
    /// rounded and clamped: output `n` of one long direct-form convolution.
    fn long_convolution(n: usize, w: impl Fn(usize) -> f64) -> i16 {
        let reach = TAPS as i64;
        let mut acc = 0.0;
        for j in -reach..=reach {
            let t = n as i64 - DELAY_16K as i64 - j;
            if t >= 0 {
                acc += prototype(j) * w(t as usize);
            }
        }
        acc.round().clamp(-32768.0, 32767.0) as i16
    }

    /// Wherever the frame edges fall in a stream (every offset of a frame), each path's
    /// frame-by-frame output is one long convolution of the whole stream, to within rounding:
    /// the carried state joins the frames seamlessly whatever the input is doing at the cut.
    #[test]
    fn frames_cut_anywhere_are_one_long_convolution() {
        let long = noise(2 * N8 * 5, 11);
        for path in paths() {
            for cut in 0..N8 {
                // 8k -> 16k: the input zero-stuffed to 16 kHz, with the taps doubled.
                let x = &long[cut..][..N8 * 4];
                let got = interpolate(path, x);
                for (n, &u) in got.iter().enumerate() {
                    let want = long_convolution(n, |t| {
                        if t % 2 == 0 {
                            2.0 * f64::from(x[t / 2])
                        } else {
                            0.0
                        }
                    });
                    let err = (i32::from(u) - i32::from(want)).abs();
                    assert!(err <= 1, "{path:?} 8k->16k cut {cut}, {n}: {u} vs {want}");
                }
            }
            for cut in 0..2 * N8 {
                // 16k -> 8k: every other output of the 16 kHz convolution.
                let x = &long[cut..][..2 * N8 * 2];
                let got = decimate(path, x);
                for (m, &y) in got.iter().enumerate() {
                    let want = long_convolution(2 * m, |t| f64::from(x[t]));
                    let err = (i32::from(y) - i32::from(want)).abs();
                    assert!(err <= 1, "{path:?} 16k->8k cut {cut}, {m}: {y} vs {want}");
                }
            }
        }
    }

    #[test]
    fn bessel_i0_known_values() {
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-12);
        assert!((bessel_i0(5.0) - 27.239_871_823_604_442).abs() < 1e-9);
    }
}
