//! Audio codecs voxgate negotiates, `a=rtpmap` values, and payload type resolution.

use std::fmt;

use super::session::MediaDescription;

/// An audio codec voxgate can carry on a SIP leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecKind {
    /// G.711 µ-law, `PCMU/8000`, static payload type 0.
    Pcmu,
    /// G.711 A-law, `PCMA/8000`, static payload type 8.
    Pcma,
    /// Opus, `opus/48000/2` (RFC 7587), dynamic payload type.
    Opus,
    /// G.722, `G722/8000` (RTP clock 8000 though sampled at 16 kHz), static payload type 9.
    G722,
}

impl CodecKind {
    /// Every codec voxgate knows, in its default preference order.
    pub const ALL: [CodecKind; 4] = [Self::Pcmu, Self::Pcma, Self::Opus, Self::G722];

    /// The encoding name as written in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::Opus => "opus",
            Self::G722 => "G722",
        }
    }

    /// The RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Opus => 48_000,
            Self::Pcmu | Self::Pcma | Self::G722 => 8_000,
        }
    }

    /// The channel count written in `a=rtpmap` (opus always says 2, RFC 7587 §7).
    pub fn channels(self) -> u8 {
        match self {
            Self::Opus => 2,
            Self::Pcmu | Self::Pcma | Self::G722 => 1,
        }
    }

    /// The static payload type of RFC 3551, if any.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }

    /// Recognises a codec from an rtpmap by name (case-insensitive), rate and channels.
    pub fn from_rtpmap(map: &RtpMap) -> Option<Self> {
        Self::ALL.into_iter().find(|k| {
            map.encoding.eq_ignore_ascii_case(k.encoding_name())
                && map.clock_rate == k.clock_rate()
                && map.channels.unwrap_or(1) == k.channels()
        })
    }

    /// The rtpmap this codec gets under `payload_type`.
    pub fn rtpmap(self, payload_type: u8) -> RtpMap {
        RtpMap {
            payload_type,
            encoding: self.encoding_name().to_owned(),
            clock_rate: self.clock_rate(),
            channels: (self.channels() != 1).then_some(self.channels()),
        }
    }
}

impl fmt::Display for CodecKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.encoding_name(), self.clock_rate())?;
        if self.channels() != 1 {
            write!(f, "/{}", self.channels())?;
        }
        Ok(())
    }
}

/// The value of an `a=rtpmap:<pt> <name>/<rate>[/<channels>]` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name, as written.
    pub encoding: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count when written.
    pub channels: Option<u8>,
}

/// The encoding name of RFC 4733 DTMF events.
pub const TELEPHONE_EVENT: &str = "telephone-event";

impl RtpMap {
    /// Parses the attribute value (after `rtpmap:`); `None` when malformed.
    pub fn parse(value: &str) -> Option<Self> {
        let (pt, rest) = value.trim().split_once([' ', '\t'])?;
        let payload_type = pt.parse().ok()?;
        let mut parts = rest.trim().split('/');
        let encoding = parts.next().filter(|s| !s.is_empty())?.to_owned();
        let clock_rate = parts.next()?.trim().parse().ok()?;
        let channels = match parts.next() {
            Some(c) => Some(c.trim().parse().ok()?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            payload_type,
            encoding,
            clock_rate,
            channels,
        })
    }

    /// The static RFC 3551 mapping of the payload types voxgate cares about.
    pub fn static_for(payload_type: u8) -> Option<Self> {
        CodecKind::ALL
            .into_iter()
            .find(|k| k.static_payload_type() == Some(payload_type))
            .map(|k| k.rtpmap(payload_type))
    }

    /// Whether this maps RFC 4733 telephone events.
    pub fn is_telephone_event(&self) -> bool {
        self.encoding.eq_ignore_ascii_case(TELEPHONE_EVENT)
    }
}

impl fmt::Display for RtpMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// The codec chosen for a stream, as the media layer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedCodec {
    /// Which codec.
    pub kind: CodecKind,
    /// Payload type to send with (the peer's number for it).
    pub payload_type: u8,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channel count from the rtpmap (opus: 2).
    pub channels: u8,
    /// The peer's `a=fmtp` for this payload type (e.g. `useinbandfec=1`): how it wants to receive.
    pub fmtp: Option<String>,
}

impl NegotiatedCodec {
    /// The encoding name (`PCMU`, `PCMA`, `opus`, `G722`).
    pub fn name(&self) -> &'static str {
        self.kind.encoding_name()
    }
}

/// The negotiated RFC 4733 telephone-event payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Payload type (the peer's number).
    pub payload_type: u8,
    /// Clock rate (normally 8000).
    pub clock_rate: u32,
    /// The events fmtp as offered, e.g. `0-16`.
    pub fmtp: Option<String>,
}

/// The well-formed `a=rtpmap`s of one media section, parsed once so that looking up every
/// format costs no re-parsing (formats and attributes are both bounded by [`super::Limits`]).
pub(crate) struct PayloadMaps(Vec<RtpMap>);

impl PayloadMaps {
    pub(crate) fn of(media: &MediaDescription) -> Self {
        Self(
            media
                .attribute_values("rtpmap")
                .filter_map(RtpMap::parse)
                .collect(),
        )
    }

    /// The rtpmap that applies to `payload_type`: its `a=rtpmap`, else the static table.
    pub(crate) fn resolve(&self, payload_type: u8) -> Option<RtpMap> {
        self.0
            .iter()
            .find(|m| m.payload_type == payload_type)
            .cloned()
            .or_else(|| RtpMap::static_for(payload_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rtpmaps() {
        let m = RtpMap::parse("111 opus/48000/2").unwrap();
        assert_eq!(m.payload_type, 111);
        assert_eq!(CodecKind::from_rtpmap(&m), Some(CodecKind::Opus));
        let m = RtpMap::parse("0 pcmu/8000").unwrap();
        assert_eq!(CodecKind::from_rtpmap(&m), Some(CodecKind::Pcmu));
        let m = RtpMap::parse("101 telephone-event/8000").unwrap();
        assert!(m.is_telephone_event());
        assert_eq!(m.to_string(), "101 telephone-event/8000");
    }

    #[test]
    fn rejects_wrong_rate_or_channels() {
        let m = RtpMap::parse("96 opus/48000").unwrap();
        assert_eq!(CodecKind::from_rtpmap(&m), None);
        let m = RtpMap::parse("9 G722/16000").unwrap();
        assert_eq!(CodecKind::from_rtpmap(&m), None);
        let m = RtpMap::parse("0 PCMU/8000/2").unwrap();
        assert_eq!(CodecKind::from_rtpmap(&m), None);
    }

    #[test]
    fn malformed_rtpmaps_are_none() {
        for bad in [
            "",
            "x PCMU/8000",
            "0",
            "0 PCMU",
            "0 /8000",
            "0 PCMU/x",
            "0 a/1/2/3",
            "300 a/1",
        ] {
            assert_eq!(RtpMap::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn static_table() {
        assert_eq!(RtpMap::static_for(8).unwrap().encoding, "PCMA");
        assert_eq!(RtpMap::static_for(9).unwrap().encoding, "G722");
        assert_eq!(RtpMap::static_for(18), None);
        assert_eq!(CodecKind::Opus.to_string(), "opus/48000/2");
    }
}
