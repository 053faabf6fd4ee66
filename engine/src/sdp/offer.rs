//! Offers for voxgate's UAC legs, and processing the answers to them (RFC 3264 §5, §7).

use super::answer::{
    audio_attributes, clamp_ptime, effective_direction, find_telephone_event, remote_rtp,
    AnswerPolicy, NegotiatedMedia, DEFAULT_PTIME,
};
use super::codec::{CodecKind, NegotiatedCodec, PayloadMaps, TelephoneEvent};
use super::direction::Direction;
use super::error::SdpError;
use super::session::{Connection, MediaDescription, MediaKind, Origin, Proto, SessionDescription};

/// The dynamic payload type we give opus in our offers.
pub const OPUS_PAYLOAD_TYPE: u8 = 96;
/// The payload type we give telephone-event in our offers.
pub const TELEPHONE_EVENT_PAYLOAD_TYPE: u8 = 101;
/// The events we offer: DTMF 0-9, *, #, A-D and flash (RFC 4733 §3.2).
pub const TELEPHONE_EVENT_FMTP: &str = "0-16";

/// Builds an offer with one audio stream: the policy's codecs in its order, then telephone-event.
pub fn build_offer(
    policy: &AnswerPolicy,
    direction: Direction,
) -> Result<SessionDescription, SdpError> {
    if policy.codecs.is_empty() {
        return Err(SdpError::EmptyPolicy);
    }
    let mut codecs: Vec<(CodecKind, u8)> = Vec::new();
    for &kind in &policy.codecs {
        if codecs.iter().all(|&(k, _)| k != kind) {
            codecs.push((
                kind,
                kind.static_payload_type().unwrap_or(OPUS_PAYLOAD_TYPE),
            ));
        }
    }
    let event = policy.telephone_event.then(|| TelephoneEvent {
        payload_type: TELEPHONE_EVENT_PAYLOAD_TYPE,
        clock_rate: 8_000,
        fmtp: Some(TELEPHONE_EVENT_FMTP.to_owned()),
    });
    let mut formats: Vec<String> = codecs.iter().map(|(_, pt)| pt.to_string()).collect();
    formats.extend(event.as_ref().map(|e| e.payload_type.to_string()));

    let local = &policy.local;
    let mut section =
        MediaDescription::new(MediaKind::Audio, local.rtp_port, Proto::RtpAvp, formats);
    let mux = policy.rtcp_mux;
    audio_attributes(
        &mut section,
        &codecs,
        event.as_ref(),
        policy,
        DEFAULT_PTIME,
        mux,
        direction,
    );

    let mut sdp = SessionDescription::new(
        Origin::local(local.session_id, local.session_version, local.address),
        Some(Connection::new(local.address)),
    );
    sdp.media.push(section);
    Ok(sdp)
}

/// Reads the answer to our `offer`: the codec it selected, where to send, and our direction.
///
/// Fails when the answer's `m=` lines do not match the offer's, when it rejects our audio
/// stream, or when its first codec is not one we offered.
pub fn process_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<NegotiatedMedia, SdpError> {
    if offer.media.len() != answer.media.len() {
        return Err(SdpError::AnswerMediaMismatch {
            offered: offer.media.len(),
            answered: answer.media.len(),
        });
    }
    let (index, ours) = offer
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.kind == MediaKind::Audio && m.port != 0 && m.proto == Proto::RtpAvp)
        .ok_or(SdpError::NoAudio)?;
    let theirs = &answer.media[index];
    if theirs.kind != MediaKind::Audio {
        return Err(SdpError::AnswerMediaMismatch {
            offered: offer.media.len(),
            answered: answer.media.len(),
        });
    }
    if theirs.port == 0 {
        return Err(SdpError::AnswerRejected);
    }

    let our_maps = PayloadMaps::of(ours);
    let their_maps = PayloadMaps::of(theirs);
    // The answer should repeat our rtpmaps, but a missing one means ours (same payload type).
    let resolve = |pt| their_maps.resolve(pt).or_else(|| our_maps.resolve(pt));
    let offered: Vec<CodecKind> = ours
        .payload_types()
        .filter_map(|pt| our_maps.resolve(pt))
        .filter_map(|map| CodecKind::from_rtpmap(&map))
        .collect();
    // The answerer's first non-event format is the codec it will use (RFC 3264 §6.1).
    let pt = theirs
        .payload_types()
        .find(|&pt| !resolve(pt).is_some_and(|m| m.is_telephone_event()))
        .ok_or(SdpError::NoAcceptableCodec)?;
    let kind = resolve(pt)
        .as_ref()
        .and_then(CodecKind::from_rtpmap)
        .filter(|k| offered.contains(k))
        .ok_or(SdpError::AnswerCodecNotOffered { payload_type: pt })?;
    let codec = NegotiatedCodec {
        kind,
        payload_type: pt,
        clock_rate: kind.clock_rate(),
        channels: kind.channels(),
        fmtp: theirs.fmtp(pt).map(str::to_owned),
    };
    let offered_event = ours
        .payload_types()
        .any(|pt| our_maps.resolve(pt).is_some_and(|m| m.is_telephone_event()));
    let telephone_event = if offered_event {
        find_telephone_event(theirs, codec.clock_rate)
    } else {
        None
    };

    Ok(NegotiatedMedia {
        media_index: index,
        codec,
        telephone_event,
        remote_rtp: remote_rtp(answer, theirs),
        ptime: clamp_ptime(answer.ptime_of(theirs)),
        direction: effective_direction(answer, theirs).reversed(),
        rtcp_mux: ours.rtcp_mux() && theirs.rtcp_mux(),
        // Our offers are plain RTP/AVP.
        srtp: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::answer::answer;

    fn offer() -> SessionDescription {
        build_offer(&AnswerPolicy::default(), Direction::SendRecv).unwrap()
    }

    fn parse(text: &str) -> SessionDescription {
        SessionDescription::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn offer_lists_policy_codecs_then_telephone_event() {
        let text = offer().to_string();
        assert_eq!(
            text,
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=voxgate\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 20000 RTP/AVP 0 8 96 9 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:8 PCMA/8000\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n\
             a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\na=ptime:20\r\na=rtcp-mux\r\na=sendrecv\r\n"
        );
        let empty = AnswerPolicy {
            codecs: vec![],
            ..AnswerPolicy::default()
        };
        assert_eq!(
            build_offer(&empty, Direction::SendRecv),
            Err(SdpError::EmptyPolicy)
        );
    }

    #[test]
    fn hold_offer_is_sendonly() {
        let o = build_offer(&AnswerPolicy::default(), Direction::SendOnly).unwrap();
        assert_eq!(o.direction_of(&o.media[0]), Direction::SendOnly);
    }

    #[test]
    fn answer_from_a_peer_selects_codec() {
        let answer = parse(
            "v=0\r\no=peer 5 5 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\na=ptime:30\r\n",
        );
        let n = process_answer(&offer(), &answer).unwrap();
        assert_eq!((n.codec.name(), n.codec.payload_type), ("PCMA", 8));
        assert_eq!(n.telephone_event_pt(), Some(101));
        assert_eq!(n.remote_rtp, Some("192.0.2.9:30000".parse().unwrap()));
        assert_eq!(n.ptime, 30);
        assert_eq!(n.direction, Direction::SendRecv);
        assert!(!n.rtcp_mux);
    }

    #[test]
    fn answerer_may_renumber_dynamic_opus() {
        let answer = parse(
            "v=0\r\no=peer 5 5 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n\
             a=fmtp:111 useinbandfec=1\r\na=rtcp-mux\r\na=recvonly\r\n",
        );
        let n = process_answer(&offer(), &answer).unwrap();
        assert_eq!((n.codec.kind, n.codec.payload_type), (CodecKind::Opus, 111));
        assert_eq!(n.codec.fmtp.as_deref(), Some("useinbandfec=1"));
        assert!(n.rtcp_mux);
        assert_eq!(n.direction, Direction::SendOnly);
        assert_eq!(n.telephone_event_pt(), None);
    }

    #[test]
    fn codec_not_in_offer_is_an_error() {
        let policy = AnswerPolicy {
            codecs: vec![CodecKind::Pcmu],
            ..AnswerPolicy::default()
        };
        let ours = build_offer(&policy, Direction::SendRecv).unwrap();
        let answer = parse(
            "v=0\r\no=peer 5 5 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 8\r\n",
        );
        let err = process_answer(&ours, &answer).unwrap_err();
        assert_eq!(err, SdpError::AnswerCodecNotOffered { payload_type: 8 });
        assert_eq!(err.status_code(), 488);
    }

    #[test]
    fn rejected_or_mismatched_answers() {
        let rejected =
            parse("v=0\r\no=peer 5 5 IN IP4 192.0.2.9\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n");
        assert_eq!(
            process_answer(&offer(), &rejected),
            Err(SdpError::AnswerRejected)
        );
        let two = parse(
            "v=0\r\no=peer 5 5 IN IP4 192.0.2.9\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n\
             m=video 0 RTP/AVP 97\r\n",
        );
        assert_eq!(
            process_answer(&offer(), &two),
            Err(SdpError::AnswerMediaMismatch {
                offered: 1,
                answered: 2
            })
        );
        let only_events = parse(
            "v=0\r\no=peer 5 5 IN IP4 192.0.2.9\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 101\r\n",
        );
        assert_eq!(
            process_answer(&offer(), &only_events),
            Err(SdpError::NoAcceptableCodec)
        );
    }

    #[test]
    fn our_offer_answered_by_our_answerer() {
        let ours = offer();
        let mut theirs_policy = AnswerPolicy {
            codecs: vec![CodecKind::G722],
            ..AnswerPolicy::default()
        };
        theirs_policy.local.rtp_port = 40_000;
        let a = answer(&ours, &theirs_policy).unwrap();
        let n = process_answer(&ours, &a.sdp).unwrap();
        assert_eq!((n.codec.kind, n.codec.payload_type), (CodecKind::G722, 9));
        assert_eq!(n.telephone_event_pt(), Some(101));
        assert_eq!(n.remote_rtp, Some("127.0.0.1:40000".parse().unwrap()));
        assert!(n.rtcp_mux);
    }
}
