//! L16: linear 16-bit PCM packing, big-endian (RTP, RFC 3551) and little-endian (WebSocket bots).

use crate::error::{CodecError, Result};
use crate::frame::ByteOrder;

/// Packs `pcm` into `out` in `order`; returns the byte count (`2 * pcm.len()`).
pub fn pack(pcm: &[i16], order: ByteOrder, out: &mut [u8]) -> Result<usize> {
    let need = pcm.len() * 2;
    let have = out.len();
    let out = out
        .get_mut(..need)
        .ok_or(CodecError::OutputTooSmall { need, have })?;
    match order {
        ByteOrder::BigEndian => {
            for (o, s) in out.chunks_exact_mut(2).zip(pcm) {
                o.copy_from_slice(&s.to_be_bytes());
            }
        }
        ByteOrder::LittleEndian => {
            for (o, s) in out.chunks_exact_mut(2).zip(pcm) {
                o.copy_from_slice(&s.to_le_bytes());
            }
        }
    }
    Ok(need)
}

/// Unpacks `bytes` (an even count) in `order` into `out`; returns the sample count.
pub fn unpack(bytes: &[u8], order: ByteOrder, out: &mut [i16]) -> Result<usize> {
    if !bytes.len().is_multiple_of(2) {
        return Err(CodecError::BadLength {
            what: "L16 payload",
            got: bytes.len(),
            expected: "an even number of bytes",
        });
    }
    let n = bytes.len() / 2;
    let have = out.len();
    let out = out
        .get_mut(..n)
        .ok_or(CodecError::OutputTooSmall { need: n, have })?;
    match order {
        ByteOrder::BigEndian => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = i16::from_be_bytes([b[0], b[1]]);
            }
        }
        ByteOrder::LittleEndian => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = i16::from_le_bytes([b[0], b[1]]);
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn byte_orders() {
        let mut out = [0u8; 4];
        assert_eq!(
            pack(&[0x0102, -2], ByteOrder::BigEndian, &mut out).unwrap(),
            4
        );
        assert_eq!(out, [0x01, 0x02, 0xFF, 0xFE]);
        pack(&[0x0102, -2], ByteOrder::LittleEndian, &mut out).unwrap();
        assert_eq!(out, [0x02, 0x01, 0xFE, 0xFF]);
        let mut pcm = [0i16; 2];
        unpack(&[0x01, 0x02, 0xFF, 0xFE], ByteOrder::BigEndian, &mut pcm).unwrap();
        assert_eq!(pcm, [0x0102, -2]);
        assert!(unpack(&[1, 2, 3], ByteOrder::BigEndian, &mut pcm).is_err());
        assert!(unpack(&[0; 6], ByteOrder::BigEndian, &mut pcm).is_err());
        assert!(pack(&[0; 3], ByteOrder::BigEndian, &mut out).is_err());
    }

    proptest! {
        #[test]
        fn unpack_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..700), le in any::<bool>()) {
            let order = if le { ByteOrder::LittleEndian } else { ByteOrder::BigEndian };
            let mut pcm = [0i16; 320];
            match unpack(&bytes, order, &mut pcm) {
                Ok(n) => {
                    prop_assert_eq!(n * 2, bytes.len());
                    let mut back = [0u8; 640];
                    prop_assert_eq!(pack(&pcm[..n], order, &mut back).unwrap(), bytes.len());
                    prop_assert_eq!(&back[..bytes.len()], &bytes[..]);
                }
                Err(_) => prop_assert!(bytes.len() % 2 == 1 || bytes.len() > 640),
            }
        }
    }
}
