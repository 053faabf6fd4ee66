//! G.711 µ-law (PCMU) and A-law (PCMA), table driven.
//!
//! Decoding is one lookup in a 256-entry table. Encoding first reduces the 16-bit sample to the
//! law's linear resolution (14 bits for µ-law, 13 for A-law) *rounding to nearest* and clamping,
//! exactly as SoX does, then looks the code up in a table built at compile time (16 KiB for
//! µ-law, 8 KiB for A-law). Implementations that truncate instead (ITU G.191, Sun's `g711.c`)
//! differ from this one only for samples within half a step of a quantiser boundary; the
//! vectors in `tests/data/` were made with SoX and this module matches them bit for bit.

/// µ-law bias in the 14-bit domain (0x84 >> 2).
const ULAW_BIAS: i32 = 0x21;
/// Largest 14-bit magnitude µ-law can represent before the bias.
const ULAW_CLIP: i32 = 8159;

const fn ulaw_encode_14(pcm: i32) -> u8 {
    let (mut mag, mask) = if pcm < 0 { (-pcm, 0x7F) } else { (pcm, 0xFF) };
    if mag > ULAW_CLIP {
        mag = ULAW_CLIP;
    }
    mag += ULAW_BIAS;
    // Segment = position of the highest set bit above bit 5.
    let mut seg = 0;
    while seg < 8 && mag >= (0x40 << seg) {
        seg += 1;
    }
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let code = (seg << 4) | ((mag >> (seg + 1)) & 0x0F);
    (code as u8) ^ mask
}

const fn alaw_encode_13(pcm: i32) -> u8 {
    let (mag, mask) = if pcm >= 0 {
        (pcm, 0xD5)
    } else {
        (-pcm - 1, 0x55)
    };
    let mut seg = 0;
    while seg < 8 && mag >= (0x20 << seg) {
        seg += 1;
    }
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mant = if seg < 2 {
        (mag >> 1) & 0x0F
    } else {
        (mag >> seg) & 0x0F
    };
    (((seg << 4) | mant) as u8) ^ mask
}

const fn ulaw_decode_const(code: u8) -> i16 {
    let u = !code;
    let t = (((u & 0x0F) as i32) << 3) + 0x84;
    let t = t << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        (0x84 - t) as i16
    } else {
        (t - 0x84) as i16
    }
}

const fn alaw_decode_const(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

static ULAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_const(i as u8);
        i += 1;
    }
    t
};

static ALAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_const(i as u8);
        i += 1;
    }
    t
};

/// Indexed by the 14-bit two's-complement value masked to 14 bits.
static ULAW_ENCODE: [u8; 1 << 14] = {
    let mut t = [0u8; 1 << 14];
    let mut v: i32 = -(1 << 13);
    while v < (1 << 13) {
        t[(v & 0x3FFF) as usize] = ulaw_encode_14(v);
        v += 1;
    }
    t
};

/// Indexed by the 13-bit two's-complement value masked to 13 bits.
static ALAW_ENCODE: [u8; 1 << 13] = {
    let mut t = [0u8; 1 << 13];
    let mut v: i32 = -(1 << 12);
    while v < (1 << 12) {
        t[(v & 0x1FFF) as usize] = alaw_encode_13(v);
        v += 1;
    }
    t
};

/// Encodes one sample to µ-law.
#[inline]
pub fn ulaw_encode_sample(s: i16) -> u8 {
    // Round to 14 bits, clamp the top (where rounding would overflow), mask to index.
    let v = ((i32::from(s) + 2) >> 2).min(0x1FFF);
    ULAW_ENCODE[(v & 0x3FFF) as usize]
}

/// Decodes one µ-law code.
#[inline]
pub fn ulaw_decode_sample(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Encodes one sample to A-law.
#[inline]
pub fn alaw_encode_sample(s: i16) -> u8 {
    let v = ((i32::from(s) + 4) >> 3).min(0x0FFF);
    ALAW_ENCODE[(v & 0x1FFF) as usize]
}

/// Decodes one A-law code.
#[inline]
pub fn alaw_decode_sample(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

/// Encodes `pcm` to µ-law into `out[..pcm.len()]`; returns the byte count, or 0 if `out` is short.
pub fn ulaw_encode(pcm: &[i16], out: &mut [u8]) -> usize {
    let Some(out) = out.get_mut(..pcm.len()) else {
        return 0;
    };
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = ulaw_encode_sample(s);
    }
    pcm.len()
}

/// Decodes µ-law `codes` into `out[..codes.len()]`; returns the sample count, or 0 if `out` is short.
pub fn ulaw_decode(codes: &[u8], out: &mut [i16]) -> usize {
    let Some(out) = out.get_mut(..codes.len()) else {
        return 0;
    };
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = ulaw_decode_sample(c);
    }
    codes.len()
}

/// Encodes `pcm` to A-law into `out[..pcm.len()]`; returns the byte count, or 0 if `out` is short.
pub fn alaw_encode(pcm: &[i16], out: &mut [u8]) -> usize {
    let Some(out) = out.get_mut(..pcm.len()) else {
        return 0;
    };
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = alaw_encode_sample(s);
    }
    pcm.len()
}

/// Decodes A-law `codes` into `out[..codes.len()]`; returns the sample count, or 0 if `out` is short.
pub fn alaw_decode(codes: &[u8], out: &mut [i16]) -> usize {
    let Some(out) = out.get_mut(..codes.len()) else {
        return 0;
    };
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = alaw_decode_sample(c);
    }
    codes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RAMP_ULAW: &[u8] = include_bytes!("../tests/data/ramp.ulaw");
    const RAMP_ALAW: &[u8] = include_bytes!("../tests/data/ramp.alaw");
    const NOISE_RAW: &[u8] = include_bytes!("../tests/data/noise.raw");
    const NOISE_ULAW: &[u8] = include_bytes!("../tests/data/noise.ulaw");
    const NOISE_ALAW: &[u8] = include_bytes!("../tests/data/noise.alaw");
    const CODES_ULAW: &[u8] = include_bytes!("../tests/data/codes_ulaw.s16le");
    const CODES_ALAW: &[u8] = include_bytes!("../tests/data/codes_alaw.s16le");

    fn le16(b: &[u8]) -> Vec<i16> {
        b.chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn encode_every_i16_matches_sox() {
        let all: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let mut u = vec![0u8; all.len()];
        let mut a = vec![0u8; all.len()];
        assert_eq!(ulaw_encode(&all, &mut u), 65536);
        assert_eq!(alaw_encode(&all, &mut a), 65536);
        for (i, s) in all.iter().enumerate() {
            assert_eq!(u[i], RAMP_ULAW[i], "µ-law sample {s}");
            assert_eq!(a[i], RAMP_ALAW[i], "A-law sample {s}");
        }
    }

    #[test]
    fn encode_noise_matches_sox() {
        let pcm = le16(NOISE_RAW);
        let mut u = vec![0u8; pcm.len()];
        let mut a = vec![0u8; pcm.len()];
        ulaw_encode(&pcm, &mut u);
        alaw_encode(&pcm, &mut a);
        assert_eq!(u, NOISE_ULAW);
        assert_eq!(a, NOISE_ALAW);
    }

    #[test]
    fn decode_all_codes_matches_sox() {
        let codes: Vec<u8> = (0..=255).collect();
        let mut out = [0i16; 256];
        ulaw_decode(&codes, &mut out);
        assert_eq!(out.to_vec(), le16(CODES_ULAW));
        alaw_decode(&codes, &mut out);
        assert_eq!(out.to_vec(), le16(CODES_ALAW));
    }

    /// decode→encode returns the code for all 256 codes, except µ-law 0x7F ("negative zero"),
    /// which decodes to 0 like 0xFF and therefore re-encodes as 0xFF.
    #[test]
    fn all_codes_round_trip() {
        for c in 0..=255u8 {
            let back = ulaw_encode_sample(ulaw_decode_sample(c));
            if c == 0x7F {
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, c, "µ-law {c:#x}");
            }
            assert_eq!(alaw_encode_sample(alaw_decode_sample(c)), c, "A-law {c:#x}");
        }
    }

    #[test]
    fn short_output_is_refused() {
        let mut out = [0u8; 2];
        assert_eq!(ulaw_encode(&[1, 2, 3], &mut out), 0);
        let mut pcm = [0i16; 2];
        assert_eq!(alaw_decode(&[1, 2, 3], &mut pcm), 0);
    }

    proptest! {
        #[test]
        fn decode_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut out = [0i16; 400];
            prop_assert_eq!(ulaw_decode(&bytes, &mut out), bytes.len());
            for &s in &out[..bytes.len()] {
                // Decoding then re-encoding is idempotent after one step.
                prop_assert_eq!(ulaw_decode_sample(ulaw_encode_sample(s)), s);
            }
            prop_assert_eq!(alaw_decode(&bytes, &mut out), bytes.len());
            for (i, &c) in bytes.iter().enumerate() {
                prop_assert_eq!(alaw_encode_sample(out[i]), c);
            }
        }

        #[test]
        fn encode_error_is_bounded(s in any::<i16>()) {
            // Quantisation error stays within half the segment step (plus rounding slack).
            let u = i32::from(ulaw_decode_sample(ulaw_encode_sample(s)));
            let a = i32::from(alaw_decode_sample(alaw_encode_sample(s)));
            let s = i32::from(s);
            let tol = s.abs() / 16 + 16;
            prop_assert!((u - s).abs() <= tol, "µ {} -> {}", s, u);
            prop_assert!((a - s).abs() <= tol, "A {} -> {}", s, a);
        }
    }
}
