//! The one error type of the RTP layer.

/// Why an RTP or RTCP packet could not be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Fewer bytes than the smallest valid packet of its kind.
    #[error("packet too short: {0} bytes")]
    TooShort(usize),
    /// The version field is not 2.
    #[error("unsupported RTP/RTCP version {0}")]
    UnsupportedVersion(u8),
    /// CSRC list, header extension or a length field runs past the end of the packet.
    #[error("header truncated: needs {needed} bytes, packet has {available}")]
    Truncated {
        /// Bytes the header claims.
        needed: usize,
        /// Bytes actually present.
        available: usize,
    },
    /// The padding count is zero or larger than the packet.
    #[error("invalid padding length {0}")]
    InvalidPadding(u8),
    /// The payload type is outside 0..=127, or collides with the RTCP range.
    #[error("invalid payload type {0}")]
    InvalidPayloadType(u8),
    /// The caller's output buffer cannot hold the packet.
    #[error("output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer offers.
        available: usize,
    },
    /// An RTCP packet breaks a structural rule of RFC 3550 §6.
    #[error("malformed RTCP: {0}")]
    MalformedRtcp(&'static str),
    /// A value the caller passed is out of range (too many report blocks, a CNAME over 255
    /// bytes, a DTMF event above 255 with no telephone-event payload type negotiated…).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}
