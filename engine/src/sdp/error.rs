//! The one error type of the SDP layer and its mapping to SIP responses.

/// Everything that can go wrong while parsing or negotiating SDP.
///
/// Parse errors map to `400 Bad Request`; negotiation failures map to `488 Not Acceptable Here`
/// (see [`SdpError::status_code`] and [`SdpError::warning`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is longer than the configured limit.
    #[error("SDP body of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Length of the body.
        len: usize,
        /// Configured limit.
        max: usize,
    },
    /// More `m=` sections than the configured limit.
    #[error("SDP has more than {max} media sections")]
    TooManyMedia {
        /// Configured limit.
        max: usize,
    },
    /// More `a=` (and other non-structural) lines than the configured limit.
    #[error("SDP has more than {max} attribute lines")]
    TooManyAttributes {
        /// Configured limit.
        max: usize,
    },
    /// An `m=` line lists more formats than the configured limit.
    #[error("SDP media line has more than {max} formats")]
    TooManyFormats {
        /// Configured limit.
        max: usize,
    },
    /// A mandatory line (`v=`, `o=`) is missing.
    #[error("SDP lacks the mandatory {0} line")]
    Missing(&'static str),
    /// A line could not be parsed.
    #[error("malformed SDP line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The offer has no usable audio stream (none, or all with port 0).
    #[error("no audio stream offered")]
    NoAudio,
    /// Audio was offered only over transports this trunk does not take (`RTP/SAVP` where SRTP is
    /// off, `RTP/AVP` where it is required, anything else always).
    #[error("audio offered only over unsupported transport {proto}")]
    UnsupportedTransport {
        /// The first unsupported transport seen.
        proto: String,
    },
    /// An `RTP/SAVP` stream carries no `a=crypto` line voxgate can use (suite, key size, MKI).
    #[error("no acceptable a=crypto line offered")]
    NoAcceptableCrypto,
    /// No offered audio codec is allowed by the policy.
    #[error("no acceptable audio codec offered")]
    NoAcceptableCodec,
    /// The answer to our offer has a different number of `m=` lines.
    #[error("answer has {answered} media sections, our offer had {offered}")]
    AnswerMediaMismatch {
        /// `m=` lines in our offer.
        offered: usize,
        /// `m=` lines in the answer.
        answered: usize,
    },
    /// The answer rejected (port 0) our audio stream.
    #[error("answer rejected our audio stream")]
    AnswerRejected,
    /// The answer selected a codec we did not offer.
    #[error("answer selected payload type {payload_type}, which is not in our offer")]
    AnswerCodecNotOffered {
        /// The payload type chosen by the answerer.
        payload_type: u8,
    },
    /// An answer arrived while no offer of ours was outstanding.
    #[error("answer received without a pending offer")]
    NoPendingOffer,
    /// The policy lists no codec, so no offer can be built.
    #[error("the codec policy is empty")]
    EmptyPolicy,
}

impl SdpError {
    /// The SIP status code to send when this error concerns a received offer.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::TooLarge { .. }
            | Self::TooManyMedia { .. }
            | Self::TooManyAttributes { .. }
            | Self::TooManyFormats { .. }
            | Self::Missing(_)
            | Self::Malformed { .. } => 400,
            Self::EmptyPolicy => 500,
            _ => 488,
        }
    }

    /// Warning header code and text (RFC 3261 §20.43) to go with [`SdpError::status_code`].
    pub fn warning(&self) -> (u16, &'static str) {
        match self {
            Self::UnsupportedTransport { .. } => (302, "Incompatible transport protocol"),
            Self::NoAcceptableCrypto => (399, "No acceptable crypto suite or key"),
            Self::NoAudio | Self::AnswerRejected => (304, "Media type not available"),
            Self::NoAcceptableCodec | Self::AnswerCodecNotOffered { .. } => {
                (305, "Incompatible media format")
            }
            Self::AnswerMediaMismatch { .. } => (399, "Answer does not match offer"),
            Self::NoPendingOffer | Self::EmptyPolicy => (399, "SDP negotiation failure"),
            _ => (399, "Malformed SDP"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_failures_are_488() {
        assert_eq!(SdpError::NoAcceptableCodec.status_code(), 488);
        assert_eq!(
            SdpError::NoAcceptableCodec.warning(),
            (305, "Incompatible media format")
        );
        assert_eq!(SdpError::NoAudio.status_code(), 488);
        let e = SdpError::UnsupportedTransport {
            proto: "RTP/SAVP".into(),
        };
        assert_eq!(e.status_code(), 488);
        assert_eq!(e.warning().0, 302);
    }

    #[test]
    fn parse_failures_are_400() {
        assert_eq!(SdpError::Missing("v=").status_code(), 400);
        assert_eq!(
            SdpError::Malformed {
                line: 2,
                reason: "x"
            }
            .status_code(),
            400
        );
        assert_eq!(SdpError::TooLarge { len: 2, max: 1 }.status_code(), 400);
    }
}
