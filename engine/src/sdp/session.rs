//! The SDP model (RFC 8866) with a tolerant line parser and a canonical printer.
//!
//! Only what offer/answer needs is typed (origin, connection, `m=` lines); every attribute is kept
//! in order as name/value so unknown ones survive, and typed views (`rtpmap`, `fmtp`, `ptime`,
//! direction, `crypto`, `rtcp-mux`) are read from that list, never duplicated.

use std::fmt;
use std::net::IpAddr;

use super::codec::RtpMap;
use super::direction::Direction;
use super::error::SdpError;

/// Bounds that keep a hostile body from costing more than a small, fixed amount of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum body size in bytes.
    pub max_bytes: usize,
    /// Maximum number of `m=` sections.
    pub max_media: usize,
    /// Maximum number of `a=` and other non-structural lines, session and media together.
    pub max_attributes: usize,
    /// Maximum number of formats on one `m=` line (RTP has 128 payload types).
    pub max_formats: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024,
            max_media: 16,
            max_attributes: 512,
            max_formats: 128,
        }
    }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` when none).
    pub username: String,
    /// Session id, kept as written (numeric by the RFC, but not always in the wild).
    pub session_id: String,
    /// Session version; an author increments it whenever its SDP changes.
    pub session_version: u64,
    /// Network type (`IN`).
    pub net_type: String,
    /// Address type (`IP4`, `IP6`).
    pub addr_type: String,
    /// Unicast address or host name of the author.
    pub address: String,
}

impl Origin {
    /// An origin for voxgate's own SDP.
    pub fn local(session_id: u64, session_version: u64, address: IpAddr) -> Self {
        Self {
            username: "-".to_owned(),
            session_id: session_id.to_string(),
            session_version,
            net_type: "IN".to_owned(),
            addr_type: addr_type_of(address).to_owned(),
            address: address.to_string(),
        }
    }

    fn parse(value: &str, line: usize) -> Result<Self, SdpError> {
        let bad = |reason| SdpError::Malformed { line, reason };
        let f: Vec<&str> = value.split_ascii_whitespace().collect();
        let [username, id, version, net, addr_type, address] = f[..] else {
            return Err(bad("o= needs six fields"));
        };
        Ok(Self {
            username: username.to_owned(),
            session_id: id.to_owned(),
            session_version: version
                .parse()
                .map_err(|_| bad("o= version is not a number"))?,
            net_type: net.to_owned(),
            addr_type: addr_type.to_owned(),
            address: address.to_owned(),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

/// `c=<nettype> <addrtype> <address>[/ttl[/count]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type (`IN`).
    pub net_type: String,
    /// Address type (`IP4`, `IP6`).
    pub addr_type: String,
    /// Address as written, including any `/ttl` suffix.
    pub address: String,
}

impl Connection {
    /// A unicast connection line for `address`.
    pub fn new(address: IpAddr) -> Self {
        Self {
            net_type: "IN".to_owned(),
            addr_type: addr_type_of(address).to_owned(),
            address: address.to_string(),
        }
    }

    /// The address as an IP, when it is a literal (host names give `None`).
    pub fn ip(&self) -> Option<IpAddr> {
        let host = self.address.split('/').next().unwrap_or_default();
        host.parse().ok()
    }

    /// Whether this is the RFC 2543 hold address `0.0.0.0` (or `::`), RFC 3264 §8.4.
    pub fn is_hold(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }

    fn parse(value: &str, line: usize) -> Result<Self, SdpError> {
        let f: Vec<&str> = value.split_ascii_whitespace().collect();
        let [net, addr_type, address] = f[..] else {
            return Err(SdpError::Malformed {
                line,
                reason: "c= needs three fields",
            });
        };
        Ok(Self {
            net_type: net.to_owned(),
            addr_type: addr_type.to_owned(),
            address: address.to_owned(),
        })
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

fn addr_type_of(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// An `a=<name>[:<value>]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Value after the first `:`, if any.
    pub value: Option<String>,
}

impl Attribute {
    /// A property attribute (`a=rtcp-mux`).
    pub fn flag(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: None,
        }
    }

    /// A value attribute (`a=ptime:20`).
    pub fn new(name: &str, value: impl fmt::Display) -> Self {
        Self {
            name: name.to_owned(),
            value: Some(value.to_string()),
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}:{}", self.name, v),
            None => f.write_str(&self.name),
        }
    }
}

/// Any other line (`i=`, `u=`, `e=`, `p=`, `b=`, `t=`, `r=`, `z=`, `k=`, unknown types), verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherLine {
    /// The type letter.
    pub kind: char,
    /// Everything after `=`.
    pub value: String,
}

/// The media type of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `image` (T.38 fax).
    Image,
    /// `application`.
    Application,
    /// `text`.
    Text,
    /// `message`.
    Message,
    /// Anything else, as written.
    Other(String),
}

impl MediaKind {
    fn parse(s: &str) -> Self {
        match s {
            "audio" => Self::Audio,
            "video" => Self::Video,
            "image" => Self::Image,
            "application" => Self::Application,
            "text" => Self::Text,
            "message" => Self::Message,
            other => Self::Other(other.to_owned()),
        }
    }

    /// As written in SDP.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Image => "image",
            Self::Application => "application",
            Self::Text => "text",
            Self::Message => "message",
            Self::Other(s) => s,
        }
    }
}

/// The transport protocol of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proto {
    /// `RTP/AVP`: plain RTP, the only one voxgate answers for now.
    RtpAvp,
    /// `RTP/SAVP`: SRTP with `a=crypto` (RFC 4568).
    RtpSavp,
    /// `RTP/AVPF`.
    RtpAvpf,
    /// `RTP/SAVPF`.
    RtpSavpf,
    /// `udptl` (T.38).
    Udptl,
    /// Anything else, as written (e.g. `UDP/TLS/RTP/SAVPF`).
    Other(String),
}

impl Proto {
    fn parse(s: &str) -> Self {
        match s {
            "RTP/AVP" => Self::RtpAvp,
            "RTP/SAVP" => Self::RtpSavp,
            "RTP/AVPF" => Self::RtpAvpf,
            "RTP/SAVPF" => Self::RtpSavpf,
            "udptl" => Self::Udptl,
            other => Self::Other(other.to_owned()),
        }
    }

    /// As written in SDP.
    pub fn as_str(&self) -> &str {
        match self {
            Self::RtpAvp => "RTP/AVP",
            Self::RtpSavp => "RTP/SAVP",
            Self::RtpAvpf => "RTP/AVPF",
            Self::RtpSavpf => "RTP/SAVPF",
            Self::Udptl => "udptl",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `m=` section with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type.
    pub kind: MediaKind,
    /// Transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The `/<number of ports>` suffix, if written.
    pub port_count: Option<u16>,
    /// Transport protocol.
    pub proto: Proto,
    /// Formats (payload type numbers for RTP), as written.
    pub formats: Vec<String>,
    /// Media-level `c=`, which overrides the session-level one.
    pub connection: Option<Connection>,
    /// `i=`, `b=`, `k=` and unknown lines of this section.
    pub other_lines: Vec<OtherLine>,
    /// `a=` lines in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// A section without connection or attributes.
    pub fn new(kind: MediaKind, port: u16, proto: Proto, formats: Vec<String>) -> Self {
        Self {
            kind,
            port,
            port_count: None,
            proto,
            formats,
            connection: None,
            other_lines: Vec::new(),
            attributes: Vec::new(),
        }
    }

    fn parse(value: &str, line: usize) -> Result<Self, SdpError> {
        let bad = |reason| SdpError::Malformed { line, reason };
        let mut f = value.split_ascii_whitespace();
        let (Some(kind), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
            return Err(bad("m= needs media, port and proto"));
        };
        let (port, port_count) = match port.split_once('/') {
            Some((p, n)) => (p, Some(n.parse().map_err(|_| bad("m= port count"))?)),
            None => (port, None),
        };
        let mut media = Self::new(
            MediaKind::parse(kind),
            port.parse().map_err(|_| bad("m= port is not a number"))?,
            Proto::parse(proto),
            f.map(str::to_owned).collect(),
        );
        media.port_count = port_count;
        Ok(media)
    }

    /// The formats that are RTP payload type numbers, in offer order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }

    /// Values of every attribute called `name` (case-insensitive).
    pub fn attribute_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        attribute_values(&self.attributes, name)
    }

    /// Whether an attribute called `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The `a=rtpmap` for `payload_type`, when present and well-formed.
    pub fn rtpmap(&self, payload_type: u8) -> Option<RtpMap> {
        self.attribute_values("rtpmap")
            .filter_map(RtpMap::parse)
            .find(|m| m.payload_type == payload_type)
    }

    /// The parameters of `a=fmtp:<payload_type> <params>` (`None` when absent or empty).
    pub fn fmtp(&self, payload_type: u8) -> Option<&str> {
        self.attribute_values("fmtp").find_map(|v| {
            let (pt, params) = v.trim_start().split_once([' ', '\t']).unwrap_or((v, ""));
            let params = params.trim();
            // An empty `a=fmtp:101` says nothing; treating it as absent keeps answers clean.
            (pt.parse() == Ok(payload_type) && !params.is_empty()).then_some(params)
        })
    }

    /// The media-level direction attribute, if any (see [`SessionDescription::direction_of`]).
    pub fn direction(&self) -> Option<Direction> {
        direction_in(&self.attributes)
    }

    /// `a=ptime` in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute_values("ptime").find_map(parse_ms)
    }

    /// `a=maxptime` in milliseconds.
    pub fn maxptime(&self) -> Option<u32> {
        self.attribute_values("maxptime").find_map(parse_ms)
    }

    /// `a=crypto` values verbatim (RFC 4568), for the SRTP layer.
    pub fn crypto(&self) -> impl Iterator<Item = &str> + '_ {
        self.attribute_values("crypto")
    }

    /// Whether `a=rtcp-mux` (RFC 5761) is present.
    pub fn rtcp_mux(&self) -> bool {
        self.has_attribute("rtcp-mux")
    }
}

fn attribute_values<'a>(attrs: &'a [Attribute], name: &'a str) -> impl Iterator<Item = &'a str> {
    attrs
        .iter()
        .filter(move |a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_deref().unwrap_or(""))
}

fn direction_in(attrs: &[Attribute]) -> Option<Direction> {
    attrs
        .iter()
        .filter(|a| a.value.is_none())
        .find_map(|a| Direction::from_attribute(&a.name))
}

fn parse_ms(v: &str) -> Option<u32> {
    // Some stacks write `a=ptime:20.0`; the fraction is ignored.
    let v = v.trim();
    let int = v.split_once('.').map_or(v, |(i, _)| i);
    int.parse().ok()
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=` (a single space or `-` when the author had nothing to say).
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `i=`, `u=`, `e=`, `p=`, `b=`, `t=`, `r=`, `z=`, `k=` and unknown lines.
    pub other_lines: Vec<OtherLine>,
    /// Session-level `a=` lines in order.
    pub attributes: Vec<Attribute>,
    /// `m=` sections in order.
    pub media: Vec<MediaDescription>,
}

/// Where a line type goes relative to `c=` when printing, per RFC 8866 §5's order.
fn rank(kind: char, media_level: bool) -> u8 {
    match (kind, media_level) {
        ('i' | 'u' | 'e' | 'p', false) => 0,
        ('i', true) => 0,
        ('b', _) => 2,
        ('t', false) => 3,
        ('r', false) => 4,
        ('z', false) => 5,
        ('k', _) => 6,
        _ => 7,
    }
}

impl SessionDescription {
    /// A minimal session (`t=0 0`, no media) for voxgate's own SDP.
    pub fn new(origin: Origin, connection: Option<Connection>) -> Self {
        Self {
            origin,
            session_name: "voxgate".to_owned(),
            connection,
            other_lines: vec![OtherLine {
                kind: 't',
                value: "0 0".to_owned(),
            }],
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// Parses with the default [`Limits`].
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        Self::parse_with_limits(body, &Limits::default())
    }

    /// Parses a body; `\r\n` and bare `\n` line ends, blank lines and trailing blanks tolerated.
    pub fn parse_with_limits(body: &[u8], limits: &Limits) -> Result<Self, SdpError> {
        if body.len() > limits.max_bytes {
            return Err(SdpError::TooLarge {
                len: body.len(),
                max: limits.max_bytes,
            });
        }
        // Old PBXs put Latin-1 into `s=` or `i=`; a replacement character there beats a 400.
        let text = String::from_utf8_lossy(body);

        let mut version_seen = false;
        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut other_lines = Vec::new();
        let mut attributes = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut counted = 0usize;

        for (idx, raw) in text.split('\n').enumerate() {
            let n = idx + 1;
            let line = raw.trim_end_matches(['\r', ' ', '\t']);
            if line.is_empty() {
                continue;
            }
            let bytes = line.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_alphabetic() {
                return Err(SdpError::Malformed {
                    line: n,
                    reason: "expected <letter>=<value>",
                });
            }
            let kind = char::from(bytes[0]);
            // Slicing at 2 is on a char boundary: the first two bytes are ASCII.
            let value = &line[2..];
            if !version_seen {
                if kind != 'v' || value.trim() != "0" {
                    return Err(SdpError::Missing("v=0"));
                }
                version_seen = true;
                continue;
            }
            match kind {
                'v' => {
                    return Err(SdpError::Malformed {
                        line: n,
                        reason: "repeated v=",
                    })
                }
                'o' if media.is_empty() && origin.is_none() => {
                    origin = Some(Origin::parse(value, n)?);
                }
                's' if media.is_empty() && session_name.is_none() => {
                    session_name = Some(value.to_owned());
                }
                'm' => {
                    if media.len() == limits.max_media {
                        return Err(SdpError::TooManyMedia {
                            max: limits.max_media,
                        });
                    }
                    let m = MediaDescription::parse(value, n)?;
                    if m.formats.len() > limits.max_formats {
                        return Err(SdpError::TooManyFormats {
                            max: limits.max_formats,
                        });
                    }
                    media.push(m);
                }
                'c' => {
                    let c = Connection::parse(value, n)?;
                    match media.last_mut() {
                        Some(m) => m.connection = Some(c),
                        None => connection = Some(c),
                    }
                }
                _ => {
                    counted += 1;
                    if counted > limits.max_attributes {
                        return Err(SdpError::TooManyAttributes {
                            max: limits.max_attributes,
                        });
                    }
                    let (attrs, others) = match media.last_mut() {
                        Some(m) => (&mut m.attributes, &mut m.other_lines),
                        None => (&mut attributes, &mut other_lines),
                    };
                    if kind == 'a' {
                        let attr = match value.split_once(':') {
                            Some((name, v)) => Attribute::new(name.trim(), v),
                            None => Attribute::flag(value.trim()),
                        };
                        if attr.name.is_empty() {
                            return Err(SdpError::Malformed {
                                line: n,
                                reason: "empty a= name",
                            });
                        }
                        attrs.push(attr);
                    } else {
                        others.push(OtherLine {
                            kind,
                            value: value.to_owned(),
                        });
                    }
                }
            }
        }

        if !version_seen {
            return Err(SdpError::Missing("v=0"));
        }
        Ok(Self {
            origin: origin.ok_or(SdpError::Missing("o="))?,
            session_name: session_name.unwrap_or_else(|| "-".to_owned()),
            connection,
            other_lines,
            attributes,
            media,
        })
    }

    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_in(&self.attributes)
    }

    /// The direction that applies to `media`: its own, else the session's, else `sendrecv`.
    pub fn direction_of(&self, media: &MediaDescription) -> Direction {
        media
            .direction()
            .or_else(|| self.direction())
            .unwrap_or_default()
    }

    /// The `c=` that applies to `media`: its own, else the session's.
    pub fn connection_of<'a>(&'a self, media: &'a MediaDescription) -> Option<&'a Connection> {
        media.connection.as_ref().or(self.connection.as_ref())
    }

    /// `a=ptime` for `media`, falling back to a session-level one.
    pub fn ptime_of(&self, media: &MediaDescription) -> Option<u32> {
        media
            .ptime()
            .or_else(|| attribute_values(&self.attributes, "ptime").find_map(parse_ms))
    }

    /// Values of every session-level attribute called `name` (case-insensitive).
    pub fn attribute_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        attribute_values(&self.attributes, name)
    }

    /// The printed body as bytes, ready for a SIP message.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

fn write_others(
    f: &mut fmt::Formatter<'_>,
    lines: &[OtherLine],
    media_level: bool,
    ranks: std::ops::RangeInclusive<u8>,
) -> fmt::Result {
    for l in lines
        .iter()
        .filter(|l| ranks.contains(&rank(l.kind, media_level)))
    {
        write!(f, "{}={}\r\n", l.kind, l.value)?;
    }
    Ok(())
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v=0\r\no={}\r\ns={}\r\n", self.origin, self.session_name)?;
        write_others(f, &self.other_lines, false, 0..=1)?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_others(f, &self.other_lines, false, 2..=7)?;
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for m in &self.media {
            write!(f, "m={} {}", m.kind.as_str(), m.port)?;
            if let Some(n) = m.port_count {
                write!(f, "/{n}")?;
            }
            write!(f, " {}", m.proto)?;
            for fmt in &m.formats {
                write!(f, " {fmt}")?;
            }
            f.write_str("\r\n")?;
            write_others(f, &m.other_lines, true, 0..=1)?;
            if let Some(c) = &m.connection {
                write!(f, "c={c}\r\n")?;
            }
            write_others(f, &m.other_lines, true, 2..=7)?;
            for a in &m.attributes {
                write!(f, "a={a}\r\n")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BARESIP: &str = include_str!("../../tests/data/sdp/baresip_offer.sdp");

    #[test]
    fn parses_baresip_offer() {
        let s = SessionDescription::parse(BARESIP.as_bytes()).unwrap();
        assert_eq!(s.origin.username, "-");
        assert_eq!(
            s.connection.as_ref().unwrap().ip(),
            Some("192.168.1.20".parse().unwrap())
        );
        assert_eq!(s.media.len(), 1);
        let m = &s.media[0];
        assert_eq!(m.kind, MediaKind::Audio);
        assert_eq!(m.proto, Proto::RtpAvp);
        assert_eq!(m.port, 10_000);
        assert_eq!(
            m.payload_types().collect::<Vec<_>>(),
            vec![96, 0, 8, 9, 101]
        );
        assert_eq!(m.rtpmap(96).unwrap().encoding, "opus");
        assert_eq!(m.fmtp(96), Some("stereo=1;sprop-stereo=1;useinbandfec=1"));
        assert_eq!(m.fmtp(101), Some("0-15"));
        assert_eq!(m.ptime(), Some(20));
        assert_eq!(m.direction(), Some(Direction::SendRecv));
        assert!(m.rtcp_mux());
    }

    #[test]
    fn accepts_bare_newlines_and_blank_lines() {
        let text = "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=-\n\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n\n";
        let s = SessionDescription::parse(text.as_bytes()).unwrap();
        assert_eq!(s.media[0].port, 4000);
        assert_eq!(s.origin.session_version, 2);
    }

    #[test]
    fn keeps_unknown_attributes_and_crypto_verbatim() {
        let text = include_str!("../../tests/data/sdp/savp_crypto_offer.sdp");
        let s = SessionDescription::parse(text.as_bytes()).unwrap();
        let m = &s.media[0];
        assert_eq!(m.proto, Proto::RtpSavp);
        let crypto: Vec<_> = m.crypto().collect();
        assert_eq!(
            crypto[0],
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"
        );
        assert!(m.has_attribute("x-custom-thing"));
        let printed = s.to_string();
        assert!(printed.contains("a=x-custom-thing:keep me\r\n"));
        assert!(printed.contains(&format!("a=crypto:{}\r\n", crypto[0])));
    }

    #[test]
    fn prints_what_it_parsed() {
        for text in [
            BARESIP,
            include_str!("../../tests/data/sdp/sipp_offer.sdp"),
            include_str!("../../tests/data/sdp/zoom_offer.sdp"),
            include_str!("../../tests/data/sdp/amazon_connect_offer.sdp"),
            include_str!("../../tests/data/sdp/twilio_offer.sdp"),
            include_str!("../../tests/data/sdp/hold_offer.sdp"),
            include_str!("../../tests/data/sdp/savp_crypto_offer.sdp"),
        ] {
            let s = SessionDescription::parse(text.as_bytes()).unwrap();
            let printed = s.to_string();
            assert_eq!(
                printed,
                text.replace("\r\n", "\n").replace('\n', "\r\n"),
                "{text}"
            );
            assert_eq!(SessionDescription::parse(printed.as_bytes()).unwrap(), s);
        }
    }

    #[test]
    fn media_connection_overrides_session() {
        let text = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\n\
                    m=audio 5000 RTP/AVP 0\r\nc=IN IP4 2.2.2.2\r\nm=audio 6000 RTP/AVP 8\r\n";
        let s = SessionDescription::parse(text.as_bytes()).unwrap();
        assert_eq!(s.connection_of(&s.media[0]).unwrap().address, "2.2.2.2");
        assert_eq!(s.connection_of(&s.media[1]).unwrap().address, "1.1.1.1");
    }

    #[test]
    fn session_direction_is_inherited() {
        let text = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\na=sendonly\r\n\
                    m=audio 5000 RTP/AVP 0\r\nm=audio 5002 RTP/AVP 0\r\na=inactive\r\n";
        let s = SessionDescription::parse(text.as_bytes()).unwrap();
        assert_eq!(s.direction_of(&s.media[0]), Direction::SendOnly);
        assert_eq!(s.direction_of(&s.media[1]), Direction::Inactive);
    }

    #[test]
    fn rejects_garbage() {
        let cases: [(&[u8], SdpError); 5] = [
            (b"", SdpError::Missing("v=0")),
            (
                b"hello",
                SdpError::Malformed {
                    line: 1,
                    reason: "expected <letter>=<value>",
                },
            ),
            (b"v=1\r\n", SdpError::Missing("v=0")),
            (b"v=0\r\ns=-\r\n", SdpError::Missing("o=")),
            (
                b"v=0\r\no=- 1 x IN IP4 a\r\n",
                SdpError::Malformed {
                    line: 2,
                    reason: "o= version is not a number",
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(SessionDescription::parse(input), Err(want));
        }
        let bad_port = b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 70000 RTP/AVP 0\r\n";
        assert!(matches!(
            SessionDescription::parse(bad_port),
            Err(SdpError::Malformed { line: 3, .. })
        ));
    }

    #[test]
    fn tolerates_latin1_session_name() {
        let text = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=Sitzung M\xfcller\r\nt=0 0\r\n\
                     m=audio 4000 RTP/AVP 0\r\n";
        let s = SessionDescription::parse(text).unwrap();
        assert_eq!(s.session_name, "Sitzung M\u{fffd}ller");
        assert_eq!(s.media[0].port, 4000);
    }

    #[test]
    fn enforces_limits() {
        let limits = Limits {
            max_bytes: 200,
            max_media: 2,
            max_attributes: 3,
            max_formats: 4,
        };
        let big = vec![b'a'; 201];
        assert_eq!(
            SessionDescription::parse_with_limits(&big, &limits),
            Err(SdpError::TooLarge { len: 201, max: 200 })
        );
        let media = "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 0\r\nm=audio 1 RTP/AVP 0\r\n\
                     m=audio 1 RTP/AVP 0\r\n";
        assert_eq!(
            SessionDescription::parse_with_limits(media.as_bytes(), &limits),
            Err(SdpError::TooManyMedia { max: 2 })
        );
        let attrs =
            "v=0\r\no=- 1 1 IN IP4 a\r\na=x\r\na=y\r\nm=audio 1 RTP/AVP 0\r\na=z\r\na=w\r\n";
        assert_eq!(
            SessionDescription::parse_with_limits(attrs.as_bytes(), &limits),
            Err(SdpError::TooManyAttributes { max: 3 })
        );
        let formats = "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 0 8 9 18 101\r\n";
        assert_eq!(
            SessionDescription::parse_with_limits(formats.as_bytes(), &limits),
            Err(SdpError::TooManyFormats { max: 4 })
        );
    }

    #[test]
    fn ptime_with_fraction_and_hold_address() {
        let text = "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
                    m=audio 1 RTP/AVP 0\r\na=ptime:30.0\r\na=maxptime:40\r\n";
        let s = SessionDescription::parse(text.as_bytes()).unwrap();
        assert_eq!(s.media[0].ptime(), Some(30));
        assert_eq!(s.media[0].maxptime(), Some(40));
        assert!(s.connection.as_ref().unwrap().is_hold());
    }

    fn token() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9][a-zA-Z0-9_.+/-]{0,11}"
    }

    fn attribute() -> impl Strategy<Value = Attribute> {
        // Trailing blanks are trimmed by the parser on purpose, so values end in a visible char.
        (token(), proptest::option::of("([ -~]{0,29}[!-~])?"))
            .prop_map(|(name, value)| Attribute { name, value })
    }

    fn other_line(media_level: bool) -> impl Strategy<Value = OtherLine> {
        let kinds: Vec<char> = if media_level {
            vec!['i', 'b', 'k']
        } else {
            vec!['i', 'u', 'e', 'p', 'b', 't', 'r', 'z', 'k']
        };
        (proptest::sample::select(kinds), "[!-~][ -~]{0,20}[!-~]")
            .prop_map(|(kind, value)| OtherLine { kind, value })
    }

    /// Other lines in the order the printer emits them, so that printing is the identity.
    fn sorted(mut lines: Vec<OtherLine>, media_level: bool) -> Vec<OtherLine> {
        lines.sort_by_key(|l| rank(l.kind, media_level));
        lines
    }

    fn connection() -> impl Strategy<Value = Connection> {
        any::<std::net::Ipv4Addr>().prop_map(|ip| Connection::new(IpAddr::V4(ip)))
    }

    fn media() -> impl Strategy<Value = MediaDescription> {
        (
            proptest::sample::select(vec!["audio", "video", "image", "application", "foo"]),
            any::<u16>(),
            proptest::option::of(1u16..8),
            proptest::sample::select(vec!["RTP/AVP", "RTP/SAVP", "udptl", "UDP/TLS/RTP/SAVPF"]),
            proptest::collection::vec(token(), 0..6),
            proptest::option::of(connection()),
            proptest::collection::vec(other_line(true), 0..3),
            proptest::collection::vec(attribute(), 0..8),
        )
            .prop_map(
                |(kind, port, port_count, proto, formats, connection, others, attrs)| {
                    MediaDescription {
                        kind: MediaKind::parse(kind),
                        port,
                        port_count,
                        proto: Proto::parse(proto),
                        formats,
                        connection,
                        other_lines: sorted(others, true),
                        attributes: attrs,
                    }
                },
            )
    }

    fn session() -> impl Strategy<Value = SessionDescription> {
        (
            (
                token(),
                any::<u64>(),
                any::<u64>(),
                any::<std::net::IpAddr>(),
            ),
            "[!-~]([ -~]{0,20}[!-~])?",
            proptest::option::of(connection()),
            proptest::collection::vec(other_line(false), 0..4),
            proptest::collection::vec(attribute(), 0..6),
            proptest::collection::vec(media(), 0..4),
        )
            .prop_map(
                |((user, id, version, addr), name, connection, others, attrs, media)| {
                    let mut origin = Origin::local(id, version, addr);
                    origin.username = user;
                    SessionDescription {
                        origin,
                        session_name: name,
                        connection,
                        other_lines: sorted(others, false),
                        attributes: attrs,
                        media,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = SessionDescription::parse(&data);
        }

        #[test]
        fn never_panics_on_sdp_shaped_text(
            lines in proptest::collection::vec("[vosctma-z]=[ -~]{0,40}", 0..20)
        ) {
            let text = format!("v=0\r\n{}", lines.join("\r\n"));
            let _ = SessionDescription::parse(text.as_bytes());
        }

        #[test]
        fn print_then_parse_round_trips(s in session()) {
            let printed = s.to_string();
            let parsed = SessionDescription::parse(printed.as_bytes());
            prop_assert_eq!(parsed.as_ref(), Ok(&s), "{}", printed);
            prop_assert_eq!(parsed.unwrap().to_string(), printed);
        }
    }
}
