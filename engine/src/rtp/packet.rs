//! RTP packets (RFC 3550 §5.1) over `rtp-rs`: a borrowing parse and a build into a caller's
//! buffer, so the media path never allocates per packet.

use rtp_rs::{RtpPacketBuildError, RtpPacketBuilder, RtpReader, RtpReaderError, Seq};

use super::RtpError;

/// Length of the fixed RTP header (no CSRCs, no extension).
pub const RTP_HEADER_LEN: usize = 12;

/// A parsed RTP packet borrowing the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Payload type (0..=127).
    pub payload_type: u8,
    /// Marker bit (talkspurt start for audio, event start for RFC 4733).
    pub marker: bool,
    /// 16-bit sequence number.
    pub sequence: u16,
    /// RTP timestamp in the payload's clock.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Payload without header, CSRCs, extension and padding.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses and validates an RTP packet; never panics on arbitrary input.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let reader = RtpReader::new(buf).map_err(|e| match e {
            RtpReaderError::BufferTooShort(n) => RtpError::TooShort(n),
            RtpReaderError::UnsupportedVersion(v) => RtpError::UnsupportedVersion(v),
            RtpReaderError::HeadersTruncated {
                header_len,
                buffer_len,
            } => RtpError::Truncated {
                needed: header_len,
                available: buffer_len,
            },
            RtpReaderError::PaddingLengthInvalid(n) => RtpError::InvalidPadding(n),
        })?;
        Ok(Self {
            payload_type: reader.payload_type(),
            marker: reader.mark(),
            sequence: u16::from(reader.sequence_number()),
            timestamp: reader.timestamp(),
            ssrc: reader.ssrc(),
            payload: reader.payload(),
        })
    }
}

/// The header fields of an outgoing packet (no CSRCs, no extension, no padding: a gateway's
/// own stream needs none of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Payload type (0..=127).
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Writes header and payload into `out` and returns the packet length.
    pub fn build(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        if self.payload_type > 127 {
            return Err(RtpError::InvalidPayloadType(self.payload_type));
        }
        let builder = RtpPacketBuilder::new()
            .payload_type(self.payload_type)
            .marked(self.marker)
            .sequence(Seq::from(self.sequence))
            .timestamp(self.timestamp)
            .ssrc(self.ssrc)
            .payload(payload);
        let needed = builder.target_length();
        builder.build_into(out).map_err(|e| match e {
            RtpPacketBuildError::BufferTooSmall => RtpError::BufferTooSmall {
                needed,
                available: out.len(),
            },
            // Only the payload type can be invalid here: no extension is set.
            _ => RtpError::InvalidPayloadType(self.payload_type),
        })
    }
}

/// Tells RTCP from RTP on a multiplexed port (RFC 5761 §4): the second byte of RTCP carries a
/// packet type in 192..=223, which RTP payload types (with or without marker) never reach
/// when dynamic types stay within 96..=127 as RFC 5761 requires.
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && (192..=223).contains(&buf[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn build_then_parse_round_trips() {
        let header = RtpHeader {
            payload_type: 0,
            marker: true,
            sequence: 65535,
            timestamp: 0xdead_beef,
            ssrc: 0x1234_5678,
        };
        let mut buf = [0u8; 200];
        let len = header.build(&[0xff; 160], &mut buf).unwrap();
        assert_eq!(len, 172);
        let p = RtpPacket::parse(&buf[..len]).unwrap();
        assert_eq!(p.payload_type, 0);
        assert!(p.marker);
        assert_eq!(p.sequence, 65535);
        assert_eq!(p.timestamp, 0xdead_beef);
        assert_eq!(p.ssrc, 0x1234_5678);
        assert_eq!(p.payload, &[0xff; 160][..]);
        assert!(!is_rtcp(&buf[..len]));
    }

    #[test]
    fn build_rejects_small_buffer_and_bad_payload_type() {
        let mut header = RtpHeader {
            payload_type: 8,
            marker: false,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
        };
        let mut buf = [0u8; 20];
        assert_eq!(
            header.build(&[0; 160], &mut buf),
            Err(RtpError::BufferTooSmall {
                needed: 172,
                available: 20
            })
        );
        header.payload_type = 128;
        assert_eq!(
            header.build(&[], &mut buf),
            Err(RtpError::InvalidPayloadType(128))
        );
    }

    #[test]
    fn parse_rejects_malformed() {
        assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(RtpError::TooShort(5)));
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::UnsupportedVersion(1)));
        // CC = 2 but no CSRCs present.
        let mut cc = [0u8; 12];
        cc[0] = 0x82;
        assert!(matches!(
            RtpPacket::parse(&cc),
            Err(RtpError::Truncated { .. })
        ));
        // Padding flag with a padding count of zero.
        let mut pad = [0u8; 13];
        pad[0] = 0xa0;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::InvalidPadding(0)));
    }

    #[test]
    fn parse_skips_csrcs_extension_and_padding() {
        let mut buf = vec![
            0x80 | 0x20 | 0x10 | 0x01,
            0x60,
            0,
            7,
            0,
            0,
            0,
            9,
            0,
            0,
            0,
            1,
        ];
        buf.extend_from_slice(&[0, 0, 0, 2]); // CSRC
        buf.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        buf.extend_from_slice(b"abc"); // payload
        buf.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.payload, b"abc");
        assert_eq!(p.payload_type, 96);
        assert_eq!(p.sequence, 7);
    }

    #[test]
    fn rtcp_demultiplexing() {
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(is_rtcp(&[0x81, 201, 0, 1]));
        assert!(!is_rtcp(&[0x80, 0x80 | 101]));
        assert!(!is_rtcp(&[0x80]));
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(p) = RtpPacket::parse(&data) {
                prop_assert!(p.payload.len() + RTP_HEADER_LEN <= data.len());
            }
        }

        #[test]
        fn parse_never_panics_on_v2(mut data in proptest::collection::vec(any::<u8>(), 12..256)) {
            data[0] = 0x80 | (data[0] & 0x3f);
            let _ = RtpPacket::parse(&data);
        }
    }
}
