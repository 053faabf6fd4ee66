//! SRTP and SRTCP (RFC 3711) for a leg keyed by SDES (RFC 4568): [`SrtpTransform`] protects
//! what we send with our key and unprotects what we receive with the peer's.
//!
//! The cipher work is done by the `webrtc-srtp` crate (webrtc-rs, on RustCrypto's AES-CTR and
//! HMAC-SHA1); this module only maps the negotiated [`SrtpKeys`] onto its contexts and keeps
//! its errors out of the media path's types. Its API returns a fresh buffer per packet (it
//! cannot work in place), so SRTP costs one allocation per packet each way; plain RTP legs are
//! untouched.
//!
//! Sans-IO like the rest of `rtp`: bytes in, bytes out, no clock and no socket. Replay
//! protection (a 64-packet window, RFC 3711 §3.3.2) is on for both SRTP and SRTCP.

use bytes::Bytes;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use webrtc_srtp::protection_profile::ProtectionProfile;

use super::packet::is_rtcp;
use crate::sdp::{CryptoSuite, MasterKey, SrtpKeys};

/// The replay window, packets (RFC 3711 §3.3.2 asks for at least 64).
const REPLAY_WINDOW: usize = 64;
/// SRTCP trailer: E flag with the 31-bit index, then the 80-bit tag (both suites).
const SRTCP_TRAILER: usize = 4 + 10;
/// The smallest SRTCP packet: an RTCP header with its SSRC (8 bytes) and the trailer.
const MIN_SRTCP: usize = 8 + SRTCP_TRAILER;

/// Why a packet was not protected or unprotected, or a transform not built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    /// The keys do not make a context (wrong length for the suite).
    #[error("SRTP keys do not fit the crypto suite")]
    BadKeys,
    /// A received packet failed authentication, was a replay, or was too short or malformed.
    #[error("SRTP packet rejected (authentication, replay or format)")]
    Rejected,
    /// An outgoing packet could not be protected (malformed, or the key is exhausted).
    #[error("SRTP protection failed")]
    ProtectFailed,
}

/// Both directions of one SRTP session.
pub struct SrtpTransform {
    outbound: Context,
    inbound: Context,
    suite: CryptoSuite,
}

impl std::fmt::Debug for SrtpTransform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpTransform")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

fn profile(suite: CryptoSuite) -> ProtectionProfile {
    match suite {
        CryptoSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        CryptoSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
    }
}

fn context(key: &MasterKey, suite: CryptoSuite) -> Result<Context, SrtpError> {
    Context::new(
        key.key(),
        key.salt(),
        profile(suite),
        Some(srtp_replay_protection(REPLAY_WINDOW)),
        Some(srtcp_replay_protection(REPLAY_WINDOW)),
    )
    .map_err(|_| SrtpError::BadKeys)
}

impl SrtpTransform {
    /// Contexts for `keys`: ours protects, the peer's unprotects.
    pub fn new(keys: &SrtpKeys) -> Result<Self, SrtpError> {
        Ok(Self {
            outbound: context(&keys.local, keys.suite)?,
            inbound: context(&keys.remote, keys.suite)?,
            suite: keys.suite,
        })
    }

    /// The crypto suite in use.
    pub fn suite(&self) -> CryptoSuite {
        self.suite
    }

    /// Protects one packet we send: SRTCP when `rtcp` (the RTCP socket, or an RTCP packet type
    /// on a muxed port), SRTP otherwise.
    pub fn protect(&mut self, rtcp: bool, packet: &[u8]) -> Result<Bytes, SrtpError> {
        let out = if rtcp || is_rtcp(packet) {
            self.outbound.encrypt_rtcp(packet)
        } else {
            self.outbound.encrypt_rtp(packet)
        };
        out.map_err(|_| SrtpError::ProtectFailed)
    }

    /// Unprotects one packet we received: SRTCP when `rtcp` or the packet type says RTCP
    /// (RFC 5761 demultiplexing), SRTP otherwise. Anything that fails authentication or
    /// replay checks is [`SrtpError::Rejected`] and must be dropped.
    pub fn unprotect(&mut self, rtcp: bool, packet: &[u8]) -> Result<Bytes, SrtpError> {
        let out = if rtcp || is_rtcp(packet) {
            // Checked here because the crate indexes the trailer before checking the length
            // (a short packet panics it), and returns a packet whose E flag is clear without
            // checking its tag: we never agree to unencrypted SRTCP, so that is a forgery.
            let encrypted =
                packet.len() >= MIN_SRTCP && packet[packet.len() - SRTCP_TRAILER] & 0x80 != 0;
            if !encrypted {
                return Err(SrtpError::Rejected);
            }
            self.inbound.decrypt_rtcp(packet)
        } else {
            self.inbound.decrypt_rtp(packet)
        };
        out.map_err(|_| SrtpError::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::packet::RtpPacket;
    use crate::sdp::KEY_MATERIAL_LEN;

    fn keys(suite: CryptoSuite, local: u8, remote: u8) -> SrtpKeys {
        SrtpKeys {
            tag: 1,
            suite,
            local: MasterKey::from_bytes([local; KEY_MATERIAL_LEN]),
            remote: MasterKey::from_bytes([remote; KEY_MATERIAL_LEN]),
        }
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0x00];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend_from_slice(&[0xd5; 160]);
        p
    }

    /// An RTCP receiver report with no blocks (RFC 3550 §6.4.2).
    fn rtcp_rr() -> Vec<u8> {
        vec![0x80, 201, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78]
    }

    #[test]
    fn both_suites_round_trip_between_two_ends() {
        for (suite, tag_len) in [
            (CryptoSuite::AesCm128HmacSha1_80, 10),
            (CryptoSuite::AesCm128HmacSha1_32, 4),
        ] {
            let mut us = SrtpTransform::new(&keys(suite, 1, 2)).unwrap();
            let mut peer = SrtpTransform::new(&keys(suite, 2, 1)).unwrap();
            assert_eq!(us.suite(), suite);
            for seq in [1u16, 2, 3] {
                let plain = rtp(seq);
                let wire = us.protect(false, &plain).unwrap();
                assert_eq!(wire.len(), plain.len() + tag_len);
                assert_eq!(wire[..12], plain[..12], "the header stays in clear");
                assert_ne!(wire[12..172], plain[12..], "the payload is encrypted");
                let back = peer.unprotect(false, &wire).unwrap();
                assert_eq!(&back[..], &plain[..]);
                // RTP parses after unprotecting.
                assert!(RtpPacket::parse(&back).is_ok());
            }
            let rr = rtcp_rr();
            let wire = peer.protect(true, &rr).unwrap();
            // SRTCP: E flag + index (4 bytes) and an 80-bit tag with either suite.
            assert_eq!(wire.len(), rr.len() + 4 + 10);
            assert_eq!(&us.unprotect(false, &wire).unwrap()[..], &rr[..]);
        }
    }

    #[test]
    fn srtcp_without_the_e_flag_is_a_forgery() {
        let suite = CryptoSuite::AesCm128HmacSha1_80;
        let mut us = SrtpTransform::new(&keys(suite, 1, 2)).unwrap();
        let mut peer = SrtpTransform::new(&keys(suite, 2, 1)).unwrap();
        let mut wire = us.protect(true, &rtcp_rr()).unwrap().to_vec();
        let e = wire.len() - SRTCP_TRAILER;
        wire[e] &= 0x7f;
        assert_eq!(peer.unprotect(true, &wire), Err(SrtpError::Rejected));
        // A plain RTCP packet with an arbitrary trailer claims E = 0: refused, not passed on.
        let mut forged = rtcp_rr();
        forged.extend_from_slice(&[0; SRTCP_TRAILER]);
        assert_eq!(peer.unprotect(false, &forged), Err(SrtpError::Rejected));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            rtcp: bool,
        ) {
            let suite = CryptoSuite::AesCm128HmacSha1_32;
            let mut peer = SrtpTransform::new(&keys(suite, 2, 1)).unwrap();
            let _ = peer.unprotect(rtcp, &bytes);
            let mut header_kept = bytes.clone();
            if header_kept.len() >= 2 {
                header_kept[0] = 0x80 | (header_kept[0] & 0x3f);
            }
            let _ = peer.unprotect(rtcp, &header_kept);
        }
    }

    #[test]
    fn tampered_replayed_or_garbage_packets_are_rejected() {
        let suite = CryptoSuite::AesCm128HmacSha1_80;
        let mut us = SrtpTransform::new(&keys(suite, 1, 2)).unwrap();
        let mut peer = SrtpTransform::new(&keys(suite, 2, 1)).unwrap();
        let wire = us.protect(false, &rtp(7)).unwrap();
        let mut bad = wire.to_vec();
        bad[20] ^= 1;
        assert_eq!(peer.unprotect(false, &bad), Err(SrtpError::Rejected));
        assert!(peer.unprotect(false, &wire).is_ok());
        assert_eq!(peer.unprotect(false, &wire), Err(SrtpError::Rejected));
        for junk in [&[][..], &[0x80][..], &[0x80, 0, 0, 1][..], &[0xff; 40][..]] {
            assert_eq!(peer.unprotect(false, junk), Err(SrtpError::Rejected));
            assert_eq!(peer.unprotect(true, junk), Err(SrtpError::Rejected));
        }
        // A packet under another key fails authentication.
        let mut stranger = SrtpTransform::new(&keys(suite, 9, 9)).unwrap();
        let foreign = stranger.protect(false, &rtp(8)).unwrap();
        assert_eq!(peer.unprotect(false, &foreign), Err(SrtpError::Rejected));
    }
}
