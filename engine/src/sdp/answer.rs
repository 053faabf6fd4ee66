//! RFC 3264 answers for a voxgate UAS, and the negotiated media parameters both sides share.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::codec::{CodecKind, NegotiatedCodec, PayloadMaps, RtpMap, TelephoneEvent};
use super::crypto::{CryptoAttribute, SrtpKeys, SrtpPolicy};
use super::direction::Direction;
use super::error::SdpError;
use super::session::{
    Attribute, Connection, MediaDescription, MediaKind, Origin, Proto, SessionDescription,
};

/// The packetisation time used when the peer asks for none or for one outside 10..=60 ms.
pub const DEFAULT_PTIME: u32 = 20;

/// Our side of the media: where we receive RTP, and our `o=` identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address we put into `c=` and `o=`.
    pub address: IpAddr,
    /// Our RTP port for the audio stream.
    pub rtp_port: u16,
    /// Our `o=` session id.
    pub session_id: u64,
    /// Our `o=` session version.
    pub session_version: u64,
}

/// What a trunk allows, and our local media endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerPolicy {
    /// Allowed codecs, in the trunk's order (used as preference order in our own offers; an
    /// answer takes the offerer's first allowed codec instead).
    pub codecs: Vec<CodecKind>,
    /// Whether to negotiate RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// Our opus receive parameters, printed as `a=fmtp` for opus.
    pub opus_fmtp: Option<String>,
    /// Whether we accept `a=rtcp-mux` (RFC 5761) when offered, and offer it ourselves.
    pub rtcp_mux: bool,
    /// Our address, port and `o=` identity.
    pub local: LocalMedia,
    /// SRTP (RFC 4568 SDES): off, optional or required, with our key.
    pub srtp: SrtpPolicy,
}

impl Default for AnswerPolicy {
    /// Every codec, telephone-event, rtcp-mux, and a loopback endpoint (for tests and fuzzing;
    /// real legs fill `local` from the RTP port allocator).
    fn default() -> Self {
        Self {
            codecs: CodecKind::ALL.to_vec(),
            telephone_event: true,
            opus_fmtp: Some("useinbandfec=1".to_owned()),
            rtcp_mux: true,
            local: LocalMedia {
                address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                rtp_port: 20_000,
                session_id: 1,
                session_version: 1,
            },
            srtp: SrtpPolicy::Off,
        }
    }
}

/// What an offer/answer exchange settled for the one audio stream voxgate carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// Index of the audio `m=` line in the offer and answer.
    pub media_index: usize,
    /// The codec to send and receive.
    pub codec: NegotiatedCodec,
    /// telephone-event, when both sides do it.
    pub telephone_event: Option<TelephoneEvent>,
    /// Where to send RTP (media-level `c=` over session-level); `None` when the peer gave no
    /// usable IP literal, e.g. on an RFC 2543 `c=0.0.0.0` hold.
    pub remote_rtp: Option<SocketAddr>,
    /// Packetisation time in ms.
    pub ptime: u32,
    /// Our direction: whether we send and/or receive.
    pub direction: Direction,
    /// Whether RTCP shares the RTP port.
    pub rtcp_mux: bool,
    /// The SRTP keys when the stream is `RTP/SAVP` (SDES), `None` for plain RTP.
    pub srtp: Option<SrtpKeys>,
}

impl NegotiatedMedia {
    /// The telephone-event payload type, if negotiated.
    pub fn telephone_event_pt(&self) -> Option<u8> {
        self.telephone_event.as_ref().map(|t| t.payload_type)
    }

    /// Whether the stream is on hold in some direction (anything but sendrecv).
    pub fn is_on_hold(&self) -> bool {
        self.direction != Direction::SendRecv
    }
}

/// Our answer SDP and what it negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer to send (print it with `to_string()` / `to_bytes()`).
    pub sdp: SessionDescription,
    /// The negotiated audio stream.
    pub media: NegotiatedMedia,
}

impl Answer {
    /// The negotiated codec.
    pub fn codec(&self) -> &NegotiatedCodec {
        &self.media.codec
    }

    /// The telephone-event payload type, if negotiated.
    pub fn telephone_event_pt(&self) -> Option<u8> {
        self.media.telephone_event_pt()
    }

    /// Where to send RTP.
    pub fn remote_rtp(&self) -> Option<SocketAddr> {
        self.media.remote_rtp
    }

    /// Packetisation time in ms.
    pub fn ptime(&self) -> u32 {
        self.media.ptime
    }

    /// Our direction.
    pub fn direction(&self) -> Direction {
        self.media.direction
    }
}

/// Answers `offer` as a UAS (RFC 3264 §6).
///
/// ptime is the offer's when within 10..=60 ms, else 20, capped by a usable `a=maxptime`.
///
/// The first acceptable audio stream (port ≠ 0; `RTP/AVP` unless the policy requires SRTP,
/// `RTP/SAVP` with a usable `a=crypto` unless SRTP is off) is accepted with the offer's first
/// codec the policy allows, plus telephone-event when offered; every other `m=` line is rejected
/// with port 0, keeping count and order. No acceptable audio → an error whose
/// [`status_code`](SdpError::status_code) is 488.
pub fn answer(offer: &SessionDescription, policy: &AnswerPolicy) -> Result<Answer, SdpError> {
    let mut out = Vec::with_capacity(offer.media.len());
    let mut accepted = None;
    let mut saw_rtp_audio = false;
    let mut saw_savp_without_crypto = false;
    let mut bad_proto = None;

    for (index, m) in offer.media.iter().enumerate() {
        if accepted.is_none() && m.kind == MediaKind::Audio && m.port != 0 {
            let srtp = match m.proto {
                Proto::RtpAvp if policy.srtp.allows_plain() => Some(None),
                Proto::RtpSavp if policy.srtp.local_key().is_some() => {
                    let keys = policy.srtp.select(m.crypto());
                    saw_savp_without_crypto |= keys.is_none();
                    keys.map(Some)
                }
                _ => {
                    bad_proto.get_or_insert_with(|| m.proto.to_string());
                    None
                }
            };
            if let Some(srtp) = srtp {
                saw_rtp_audio = true;
                if let Some((media, section)) = answer_audio(offer, index, m, policy, srtp) {
                    accepted = Some(media);
                    out.push(section);
                    continue;
                }
            }
        }
        out.push(rejected(m));
    }

    let Some(media) = accepted else {
        return Err(match bad_proto {
            _ if saw_rtp_audio => SdpError::NoAcceptableCodec,
            _ if saw_savp_without_crypto => SdpError::NoAcceptableCrypto,
            Some(proto) => SdpError::UnsupportedTransport { proto },
            None => SdpError::NoAudio,
        });
    };
    let local = &policy.local;
    let mut sdp = SessionDescription::new(
        Origin::local(local.session_id, local.session_version, local.address),
        Some(Connection::new(local.address)),
    );
    sdp.media = out;
    Ok(Answer { sdp, media })
}

/// RFC 3264 §6: a rejected stream keeps media type, proto and formats, with port 0.
pub(crate) fn rejected(m: &MediaDescription) -> MediaDescription {
    let formats = if m.formats.is_empty() {
        vec!["0".to_owned()]
    } else {
        m.formats.clone()
    };
    MediaDescription::new(m.kind.clone(), 0, m.proto.clone(), formats)
}

/// The offer's direction for `m`, with an RFC 2543 `c=0.0.0.0` hold meaning "cannot receive".
pub(crate) fn effective_direction(sdp: &SessionDescription, m: &MediaDescription) -> Direction {
    let d = sdp.direction_of(m);
    if sdp.connection_of(m).is_some_and(Connection::is_hold) {
        d.without_receive()
    } else {
        d
    }
}

pub(crate) fn remote_rtp(sdp: &SessionDescription, m: &MediaDescription) -> Option<SocketAddr> {
    let ip = sdp
        .connection_of(m)?
        .ip()
        .filter(|ip| !ip.is_unspecified())?;
    (m.port != 0).then_some(SocketAddr::new(ip, m.port))
}

pub(crate) fn clamp_ptime(ptime: Option<u32>) -> u32 {
    ptime
        .filter(|p| (10..=60).contains(p))
        .unwrap_or(DEFAULT_PTIME)
}

/// The telephone-event format of `m`: same clock rate as the codec preferred, else 8000.
pub(crate) fn find_telephone_event(
    m: &MediaDescription,
    codec_rate: u32,
) -> Option<TelephoneEvent> {
    let maps = PayloadMaps::of(m);
    let events: Vec<RtpMap> = m
        .payload_types()
        .filter_map(|pt| maps.resolve(pt))
        .filter(RtpMap::is_telephone_event)
        .collect();
    let pick = events
        .iter()
        .find(|e| e.clock_rate == codec_rate)
        .or_else(|| events.iter().find(|e| e.clock_rate == 8_000))?;
    Some(TelephoneEvent {
        payload_type: pick.payload_type,
        clock_rate: pick.clock_rate,
        fmtp: m.fmtp(pick.payload_type).map(str::to_owned),
    })
}

/// Pushes rtpmap/fmtp/ptime/rtcp-mux/direction for our audio section.
pub(crate) fn audio_attributes(
    section: &mut MediaDescription,
    codecs: &[(CodecKind, u8)],
    event: Option<&TelephoneEvent>,
    policy: &AnswerPolicy,
    ptime: u32,
    rtcp_mux: bool,
    direction: Direction,
) {
    let attrs = &mut section.attributes;
    for &(kind, pt) in codecs {
        attrs.push(Attribute::new("rtpmap", kind.rtpmap(pt)));
        if let (CodecKind::Opus, Some(fmtp)) = (kind, &policy.opus_fmtp) {
            attrs.push(Attribute::new("fmtp", format_args!("{pt} {fmtp}")));
        }
    }
    if let Some(ev) = event {
        let map = format_args!("{} telephone-event/{}", ev.payload_type, ev.clock_rate);
        attrs.push(Attribute::new("rtpmap", map));
        if let Some(fmtp) = &ev.fmtp {
            attrs.push(Attribute::new(
                "fmtp",
                format_args!("{} {}", ev.payload_type, fmtp),
            ));
        }
    }
    attrs.push(Attribute::new("ptime", ptime));
    if rtcp_mux {
        attrs.push(Attribute::flag("rtcp-mux"));
    }
    attrs.push(Attribute::flag(direction.as_str()));
}

fn answer_audio(
    offer: &SessionDescription,
    index: usize,
    m: &MediaDescription,
    policy: &AnswerPolicy,
    srtp: Option<SrtpKeys>,
) -> Option<(NegotiatedMedia, MediaDescription)> {
    let maps = PayloadMaps::of(m);
    let (kind, map) = m.payload_types().find_map(|pt| {
        let map = maps.resolve(pt)?;
        let kind = CodecKind::from_rtpmap(&map)?;
        policy.codecs.contains(&kind).then_some((kind, map))
    })?;
    let codec = NegotiatedCodec {
        kind,
        payload_type: map.payload_type,
        clock_rate: map.clock_rate,
        channels: kind.channels(),
        fmtp: m.fmtp(map.payload_type).map(str::to_owned),
    };
    let event = if policy.telephone_event {
        find_telephone_event(m, codec.clock_rate)
    } else {
        None
    };
    let mut ptime = clamp_ptime(offer.ptime_of(m));
    // Never exceed the offerer's a=maxptime when it is a usable value itself.
    if let Some(max) = m.maxptime().filter(|max| (10..ptime).contains(max)) {
        ptime = max;
    }
    let direction = effective_direction(offer, m).reversed();
    let rtcp_mux = policy.rtcp_mux && m.rtcp_mux();

    let mut formats = vec![codec.payload_type.to_string()];
    formats.extend(event.as_ref().map(|e| e.payload_type.to_string()));
    let mut section = MediaDescription::new(
        MediaKind::Audio,
        policy.local.rtp_port,
        m.proto.clone(),
        formats,
    );
    if let Some(keys) = &srtp {
        let ours = CryptoAttribute {
            tag: keys.tag,
            suite: keys.suite,
            key: keys.local.clone(),
        };
        section
            .attributes
            .push(Attribute::new("crypto", ours.to_value()));
    }
    let codecs = [(kind, codec.payload_type)];
    audio_attributes(
        &mut section,
        &codecs,
        event.as_ref(),
        policy,
        ptime,
        rtcp_mux,
        direction,
    );

    let media = NegotiatedMedia {
        media_index: index,
        codec,
        telephone_event: event,
        remote_rtp: remote_rtp(offer, m),
        ptime,
        direction,
        rtcp_mux,
        srtp,
    };
    Some((media, section))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::crypto::{CryptoSuite, MasterKey, SrtpMode, KEY_MATERIAL_LEN};

    fn offer(text: &str) -> SessionDescription {
        SessionDescription::parse(text.as_bytes()).unwrap()
    }

    fn data(name: &str) -> SessionDescription {
        let path = format!("{}/tests/data/sdp/{name}", env!("CARGO_MANIFEST_DIR"));
        offer(&std::fs::read_to_string(path).unwrap())
    }

    fn policy_with(codecs: &[CodecKind]) -> AnswerPolicy {
        AnswerPolicy {
            codecs: codecs.to_vec(),
            ..AnswerPolicy::default()
        }
    }

    #[test]
    fn baresip_gets_opus_and_telephone_event() {
        let a = answer(&data("baresip_offer.sdp"), &AnswerPolicy::default()).unwrap();
        let c = a.codec();
        assert_eq!(
            (c.name(), c.payload_type, c.clock_rate, c.channels),
            ("opus", 96, 48_000, 2)
        );
        assert_eq!(
            c.fmtp.as_deref(),
            Some("stereo=1;sprop-stereo=1;useinbandfec=1")
        );
        assert_eq!(a.telephone_event_pt(), Some(101));
        assert_eq!(a.remote_rtp(), Some("192.168.1.20:10000".parse().unwrap()));
        assert_eq!(a.ptime(), 20);
        assert!(a.media.rtcp_mux);
        assert_eq!(
            a.sdp.to_string(),
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=voxgate\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 20000 RTP/AVP 96 101\r\na=rtpmap:96 opus/48000/2\r\n\
             a=fmtp:96 useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\na=ptime:20\r\na=rtcp-mux\r\na=sendrecv\r\n"
        );
    }

    #[test]
    fn first_offered_codec_wins_over_trunk_order() {
        // The trunk prefers PCMA, but the offer lists PCMU first: PCMU it is.
        let policy = policy_with(&[CodecKind::Pcma, CodecKind::Pcmu]);
        let a = answer(&data("twilio_offer.sdp"), &policy).unwrap();
        assert_eq!(a.codec().name(), "PCMU");
        assert_eq!(a.codec().payload_type, 0);
        // The offer's first codec (G722) is not allowed by this trunk: next one.
        let a = answer(&data("zoom_offer.sdp"), &policy).unwrap();
        assert_eq!(a.codec().name(), "PCMU");
        let a = answer(&data("zoom_offer.sdp"), &AnswerPolicy::default()).unwrap();
        assert_eq!(a.codec().name(), "G722");
        assert_eq!(a.sdp.media[0].formats, ["9", "101"]);
    }

    #[test]
    fn opus_is_skipped_when_trunk_disallows_it() {
        let policy = policy_with(&[CodecKind::Pcma, CodecKind::G722]);
        let a = answer(&data("baresip_offer.sdp"), &policy).unwrap();
        assert_eq!(a.codec().name(), "PCMA");
        assert_eq!(a.codec().payload_type, 8);
    }

    #[test]
    fn static_payload_types_without_rtpmap() {
        let a = answer(&data("amazon_connect_offer.sdp"), &AnswerPolicy::default()).unwrap();
        assert_eq!((a.codec().name(), a.codec().payload_type), ("PCMU", 0));
        let te = a.media.telephone_event.as_ref().unwrap();
        assert_eq!((te.payload_type, te.fmtp.as_deref()), (101, Some("0-16")));
        assert!(a.sdp.to_string().contains("a=fmtp:101 0-16\r\n"));
        // Media-level c= beats session-level c=.
        assert_eq!(a.remote_rtp(), Some("198.51.100.41:16384".parse().unwrap()));
        let sipp = answer(&data("sipp_offer.sdp"), &AnswerPolicy::default()).unwrap();
        assert_eq!(sipp.telephone_event_pt(), None);
        assert_eq!(sipp.sdp.media[0].formats, ["0"]);
    }

    #[test]
    fn dynamic_codecs_match_case_insensitively_and_keep_offer_pt() {
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 120 98 97\r\na=rtpmap:120 SPEEX/8000\r\n\
                    a=rtpmap:98 OPUS/48000/2\r\na=rtpmap:97 TELEPHONE-EVENT/8000\r\n";
        let a = answer(&offer(text), &AnswerPolicy::default()).unwrap();
        assert_eq!(
            (a.codec().kind, a.codec().payload_type),
            (CodecKind::Opus, 98)
        );
        assert_eq!(a.telephone_event_pt(), Some(97));
        assert_eq!(a.sdp.media[0].formats, ["98", "97"]);
    }

    #[test]
    fn g722_static_without_rtpmap_and_ipv6_remote() {
        let text = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\n\
                    t=0 0\r\nm=audio 4000 RTP/AVP 9 0\r\n";
        let a = answer(&offer(text), &AnswerPolicy::default()).unwrap();
        let c = a.codec();
        assert_eq!(
            (c.name(), c.payload_type, c.clock_rate, c.channels),
            ("G722", 9, 8_000, 1)
        );
        assert_eq!(a.remote_rtp(), Some("[2001:db8::1]:4000".parse().unwrap()));
        assert!(a
            .sdp
            .to_string()
            .contains("m=audio 20000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"));
    }

    #[test]
    fn dynamic_pt_without_rtpmap_is_unknown() {
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 96 8\r\n";
        let a = answer(&offer(text), &AnswerPolicy::default()).unwrap();
        assert_eq!(a.codec().name(), "PCMA");
    }

    #[test]
    fn rtpmap_overrides_static_meaning() {
        // PT 0 remapped to something else: it is not PCMU any more.
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 G729/8000\r\n";
        assert_eq!(
            answer(&offer(text), &AnswerPolicy::default()),
            Err(SdpError::NoAcceptableCodec)
        );
    }

    #[test]
    fn no_acceptable_codec_is_488() {
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 18 3 101\r\na=rtpmap:18 G729/8000\r\n\
                    a=rtpmap:101 telephone-event/8000\r\n";
        let err = answer(&offer(text), &AnswerPolicy::default()).unwrap_err();
        assert_eq!(err, SdpError::NoAcceptableCodec);
        assert_eq!(err.status_code(), 488);
        assert_eq!(err.warning(), (305, "Incompatible media format"));
        let err = answer(&data("baresip_offer.sdp"), &policy_with(&[])).unwrap_err();
        assert_eq!(err.status_code(), 488);
    }

    #[test]
    fn savp_is_refused_where_srtp_is_off() {
        let err = answer(&data("savp_crypto_offer.sdp"), &AnswerPolicy::default()).unwrap_err();
        assert_eq!(
            err,
            SdpError::UnsupportedTransport {
                proto: "RTP/SAVP".into()
            }
        );
        assert_eq!(err.status_code(), 488);
    }

    fn srtp_policy(mode: SrtpMode) -> AnswerPolicy {
        AnswerPolicy {
            srtp: SrtpPolicy::new(mode, MasterKey::from_bytes([0x5a; KEY_MATERIAL_LEN])),
            ..AnswerPolicy::default()
        }
    }

    #[test]
    fn savp_is_answered_with_our_key_and_the_offer_tag() {
        for mode in [SrtpMode::Optional, SrtpMode::Required] {
            let a = answer(&data("savp_sdes_offer.sdp"), &srtp_policy(mode)).unwrap();
            let keys = a.media.srtp.as_ref().unwrap();
            assert_eq!(
                (keys.tag, keys.suite),
                (1, CryptoSuite::AesCm128HmacSha1_32)
            );
            assert_eq!(
                keys.remote.to_base64(),
                "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
            );
            assert_eq!(a.codec().name(), "PCMU");
            let ours = MasterKey::from_bytes([0x5a; KEY_MATERIAL_LEN]).to_base64();
            assert_eq!(
                a.sdp.to_string(),
                format!(
                    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=voxgate\r\nc=IN IP4 127.0.0.1\r\n\
                     t=0 0\r\nm=audio 20000 RTP/SAVP 0 101\r\n\
                     a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{ours}\r\n\
                     a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
                     a=fmtp:101 0-15\r\na=ptime:20\r\na=rtcp-mux\r\na=sendrecv\r\n"
                )
            );
            let back = SessionDescription::parse(&a.sdp.to_bytes()).unwrap();
            let line = CryptoAttribute::parse(back.media[0].crypto().next().unwrap()).unwrap();
            assert_eq!(line.key.to_base64(), ours);
        }
    }

    #[test]
    fn plain_rtp_is_refused_where_srtp_is_required() {
        let err = answer(&data("sipp_offer.sdp"), &srtp_policy(SrtpMode::Required)).unwrap_err();
        assert_eq!(
            err,
            SdpError::UnsupportedTransport {
                proto: "RTP/AVP".into()
            }
        );
        assert_eq!(err.status_code(), 488);
        let a = answer(&data("sipp_offer.sdp"), &srtp_policy(SrtpMode::Optional)).unwrap();
        assert_eq!(a.media.srtp, None);
        assert!(a.sdp.to_string().contains("RTP/AVP 0\r\n"));
        assert!(!a.sdp.to_string().contains("crypto"));
    }

    #[test]
    fn savp_without_usable_crypto_is_488() {
        // Both lines carry an MKI, which the SRTP layer does not do.
        let err = answer(
            &data("savp_crypto_offer.sdp"),
            &srtp_policy(SrtpMode::Required),
        )
        .unwrap_err();
        assert_eq!(err, SdpError::NoAcceptableCrypto);
        assert_eq!(err.status_code(), 488);
        // A plain stream next to the unusable SAVP one is taken where SRTP is optional.
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:short\r\n\
                    m=audio 4002 RTP/AVP 0\r\n";
        let a = answer(&offer(text), &srtp_policy(SrtpMode::Optional)).unwrap();
        let ports: Vec<u16> = a.sdp.media.iter().map(|m| m.port).collect();
        assert_eq!(ports, [0, 20_000]);
        assert_eq!(a.media.srtp, None);
    }

    #[test]
    fn no_audio_is_488() {
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=image 4000 udptl t38\r\nm=audio 0 RTP/AVP 0\r\n";
        let err = answer(&offer(text), &AnswerPolicy::default()).unwrap_err();
        assert_eq!(err, SdpError::NoAudio);
        assert_eq!(err.status_code(), 488);
    }

    #[test]
    fn non_audio_rejected_with_port_zero_in_order() {
        let a = answer(&data("video_audio_offer.sdp"), &AnswerPolicy::default()).unwrap();
        assert_eq!(a.sdp.media.len(), 2);
        let video = &a.sdp.media[0];
        assert_eq!((video.kind.clone(), video.port), (MediaKind::Video, 0));
        assert_eq!(video.formats, ["97"]);
        assert!(video.attributes.is_empty());
        assert_eq!(a.media.media_index, 1);
        assert_eq!(a.sdp.media[1].port, 20_000);
        assert_eq!(a.codec().name(), "opus");
        // opus at 48 kHz: telephone-event/48000 is preferred over none.
        assert_eq!(a.telephone_event_pt(), Some(101));
        assert_eq!(a.media.telephone_event.as_ref().unwrap().clock_rate, 48_000);
        assert_eq!(a.ptime(), 40);
        assert!(a.sdp.to_string().contains("m=video 0 RTP/AVP 97\r\n"));
    }

    #[test]
    fn only_the_first_acceptable_audio_stream_is_taken() {
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 18\r\nm=audio 4002 RTP/AVP 8\r\nm=audio 4004 RTP/AVP 0\r\n";
        let a = answer(&offer(text), &AnswerPolicy::default()).unwrap();
        let ports: Vec<u16> = a.sdp.media.iter().map(|m| m.port).collect();
        assert_eq!(ports, [0, 20_000, 0]);
        assert_eq!(a.media.media_index, 1);
        assert_eq!(a.remote_rtp(), Some("10.0.0.1:4002".parse().unwrap()));
    }

    #[test]
    fn ptime_is_echoed_or_defaulted() {
        for (attr, want) in [
            ("", 20),
            ("a=ptime:30\r\n", 30),
            ("a=ptime:10\r\n", 10),
            ("a=ptime:60\r\n", 60),
            ("a=ptime:5\r\n", 20),
            ("a=ptime:120\r\n", 20),
            ("a=ptime:junk\r\n", 20),
            ("a=maxptime:10\r\n", 10),
            ("a=ptime:30\r\na=maxptime:20\r\n", 20),
            ("a=maxptime:5\r\n", 20),
            ("a=ptime:20\r\na=maxptime:150\r\n", 20),
        ] {
            let text = format!(
                "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                 m=audio 4000 RTP/AVP 0\r\n{attr}"
            );
            let a = answer(&offer(&text), &AnswerPolicy::default()).unwrap();
            assert_eq!(a.ptime(), want, "{attr}");
            assert!(a.sdp.to_string().contains(&format!("a=ptime:{want}\r\n")));
        }
    }

    #[test]
    fn directions_mirror_the_offer() {
        for (offered, answered) in [
            ("a=sendonly\r\n", Direction::RecvOnly),
            ("a=recvonly\r\n", Direction::SendOnly),
            ("a=inactive\r\n", Direction::Inactive),
            ("a=sendrecv\r\n", Direction::SendRecv),
            ("", Direction::SendRecv),
        ] {
            let text = format!(
                "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                 m=audio 4000 RTP/AVP 0\r\n{offered}"
            );
            let a = answer(&offer(&text), &AnswerPolicy::default()).unwrap();
            assert_eq!(a.direction(), answered, "{offered}");
            assert!(a.sdp.to_string().ends_with(&format!("a={answered}\r\n")));
        }
        let a = answer(&data("hold_offer.sdp"), &AnswerPolicy::default()).unwrap();
        assert_eq!(a.direction(), Direction::RecvOnly);
        assert!(a.media.is_on_hold());
    }

    #[test]
    fn legacy_zero_address_hold() {
        let a = answer(&data("legacy_hold_offer.sdp"), &AnswerPolicy::default()).unwrap();
        assert_eq!(a.direction(), Direction::RecvOnly);
        assert_eq!(a.remote_rtp(), None);
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 0\r\na=recvonly\r\n";
        let a = answer(&offer(text), &AnswerPolicy::default()).unwrap();
        assert_eq!(a.direction(), Direction::Inactive);
    }

    #[test]
    fn empty_fmtp_is_not_echoed() {
        // Found by the fuzzer: `a=fmtp:101` with no parameters was answered as `a=fmtp:101 `.
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101\r\n";
        let a = answer(&offer(text), &AnswerPolicy::default()).unwrap();
        assert_eq!(a.media.telephone_event.as_ref().unwrap().fmtp, None);
        assert!(!a.sdp.to_string().contains("fmtp"));
    }

    #[test]
    fn telephone_event_only_when_offered_and_allowed() {
        let policy = AnswerPolicy {
            telephone_event: false,
            ..AnswerPolicy::default()
        };
        let a = answer(&data("twilio_offer.sdp"), &policy).unwrap();
        assert_eq!(a.telephone_event_pt(), None);
        assert!(!a.sdp.to_string().contains("telephone-event"));
    }

    #[test]
    fn rtcp_mux_needs_both_sides() {
        let a = answer(&data("twilio_offer.sdp"), &AnswerPolicy::default()).unwrap();
        assert!(!a.media.rtcp_mux);
        let policy = AnswerPolicy {
            rtcp_mux: false,
            ..AnswerPolicy::default()
        };
        let a = answer(&data("baresip_offer.sdp"), &policy).unwrap();
        assert!(!a.media.rtcp_mux);
        assert!(!a.sdp.to_string().contains("rtcp-mux"));
    }

    #[test]
    fn ipv6_local_address() {
        let mut policy = AnswerPolicy::default();
        policy.local.address = "2001:db8::5".parse().unwrap();
        let a = answer(&data("sipp_offer.sdp"), &policy).unwrap();
        let text = a.sdp.to_string();
        assert!(text.contains("o=- 1 1 IN IP6 2001:db8::5\r\n"));
        assert!(text.contains("c=IN IP6 2001:db8::5\r\n"));
    }

    #[test]
    fn answer_parses_back() {
        for name in [
            "baresip_offer.sdp",
            "zoom_offer.sdp",
            "video_audio_offer.sdp",
        ] {
            let a = answer(&data(name), &AnswerPolicy::default()).unwrap();
            let back = SessionDescription::parse(&a.sdp.to_bytes()).unwrap();
            assert_eq!(back, a.sdp);
        }
    }
}
