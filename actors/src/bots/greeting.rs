//! The demo bot's greeting is synthesised rather than shipped as a file: it costs no asset,
//! works at any PCM rate the bot runs at, and is recognisable in a capture (three rising tones,
//! a C-major triad). Synthesis is a pure function so its frequency, level and length are tested
//! here without actors.

use std::f64::consts::PI;

use voxgate_codecs::SampleRate;

/// The tone frequencies in Hz, in playing order (C5, E5, G5).
pub const TONE_HZ: [f64; 3] = [523.25, 659.25, 783.99];
/// Length of each tone, fades included.
pub const TONE_MS: u32 = 150;
/// Silence between two tones.
pub const GAP_MS: u32 = 100;
/// Linear fade in and out of each tone, so the tones do not click.
pub const FADE_MS: u32 = 10;
/// Peak level of the tones, in dBFS.
pub const LEVEL_DBFS: f64 = -12.0;
/// What the greeting says, for the transcript.
pub const DESCRIPTION: &str = "[greeting: three rising tones, 523/659/784 Hz]";

/// Peak amplitude of the tones in 16-bit sample units.
pub fn peak_amplitude() -> f64 {
    f64::from(i16::MAX) * 10f64.powf(LEVEL_DBFS / 20.0)
}

fn samples_for(rate: SampleRate, ms: u32) -> usize {
    // At most 48 000 × a few hundred ms: far inside usize.
    (u64::from(rate.hz()) * u64::from(ms) / 1000) as usize
}

/// The greeting as PCM at `rate`: tone, gap, tone, gap, tone, padded with silence to a whole
/// number of 20 ms frames (660 ms in all).
pub fn tones(rate: SampleRate) -> Vec<i16> {
    let tone_len = samples_for(rate, TONE_MS);
    let gap_len = samples_for(rate, GAP_MS);
    let fade_len = samples_for(rate, FADE_MS).max(1);
    let frame = rate.frame_samples();
    let raw_len = TONE_HZ.len() * tone_len + (TONE_HZ.len() - 1) * gap_len;
    let total = raw_len.div_ceil(frame) * frame;
    let mut pcm = Vec::with_capacity(total);
    let peak = peak_amplitude();
    let hz = f64::from(rate.hz());
    for (k, &freq) in TONE_HZ.iter().enumerate() {
        if k > 0 {
            pcm.resize(pcm.len() + gap_len, 0);
        }
        for i in 0..tone_len {
            let envelope = (i.min(tone_len - 1 - i) as f64 / fade_len as f64).min(1.0);
            let s = peak * envelope * (2.0 * PI * freq * i as f64 / hz).sin();
            // |s| <= peak < i16::MAX, so the cast neither wraps nor saturates.
            pcm.push(s.round() as i16);
        }
    }
    pcm.resize(total, 0);
    pcm
}

/// Where each tone starts and ends in [`tones`]'s output at `rate` (sample indexes).
pub fn tone_spans(rate: SampleRate) -> [std::ops::Range<usize>; 3] {
    let tone_len = samples_for(rate, TONE_MS);
    let step = tone_len + samples_for(rate, GAP_MS);
    [0, 1, 2].map(|k| k * step..k * step + tone_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goertzel power of `freq` in `x` (normalised by length).
    fn goertzel(x: &[i16], freq: f64, rate: f64) -> f64 {
        let w = 2.0 * PI * freq / rate;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &v in x {
            let s = f64::from(v) + c * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64).powi(2)
    }

    #[test]
    fn length_is_whole_frames_under_a_second() {
        for rate in [SampleRate::Hz8000, SampleRate::Hz16000, SampleRate::Hz48000] {
            let pcm = tones(rate);
            assert_eq!(pcm.len() % rate.frame_samples(), 0);
            assert_eq!(pcm.len(), 33 * rate.frame_samples(), "660 ms");
            assert!(pcm.len() < rate.hz() as usize);
        }
    }

    #[test]
    fn each_tone_has_its_frequency() {
        for rate in [SampleRate::Hz8000, SampleRate::Hz16000] {
            let pcm = tones(rate);
            let hz = f64::from(rate.hz());
            for (k, span) in tone_spans(rate).into_iter().enumerate() {
                let seg = &pcm[span];
                let own = goertzel(seg, TONE_HZ[k], hz);
                for (j, &other) in TONE_HZ.iter().enumerate() {
                    if j != k {
                        assert!(own > 100.0 * goertzel(seg, other, hz), "tone {k} vs {j}");
                    }
                }
                // Zero crossings agree too (two per period, ±3 for the fades' edges).
                let crossings = seg.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count() as f64;
                let expected = 2.0 * TONE_HZ[k] * f64::from(TONE_MS) / 1000.0;
                assert!(
                    (crossings - expected).abs() <= 3.0,
                    "{crossings} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn level_fades_and_gaps() {
        let rate = SampleRate::Hz8000;
        let pcm = tones(rate);
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap();
        let want = peak_amplitude();
        assert!((f64::from(peak) - want).abs() < want * 0.01, "peak {peak}");
        // About −12 dBFS: 8231.
        assert!((8100..=8300).contains(&peak));
        let spans = tone_spans(rate);
        for span in &spans {
            // The first and last samples are inside the fades: small.
            assert!(pcm[span.start].unsigned_abs() < 100);
            assert!(pcm[span.end - 1].unsigned_abs() < 100);
            // The steady part has the RMS of a sine of that peak.
            let mid = &pcm[span.start + 80..span.end - 80];
            let rms =
                (mid.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / mid.len() as f64).sqrt();
            assert!((rms - want / 2f64.sqrt()).abs() < want * 0.03, "rms {rms}");
        }
        // Gaps and the padding are silent.
        assert!(pcm[spans[0].end..spans[1].start].iter().all(|&s| s == 0));
        assert!(pcm[spans[1].end..spans[2].start].iter().all(|&s| s == 0));
        assert!(pcm[spans[2].end..].iter().all(|&s| s == 0));
    }
}
