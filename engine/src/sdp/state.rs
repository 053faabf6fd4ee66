//! Per-dialog offer/answer state: our `o=` identity, the last SDP we sent and what was negotiated,
//! so that re-INVITEs (hold, unhold, codec or address changes) get the right answer.

use std::net::IpAddr;

use super::answer::{answer, Answer, AnswerPolicy, NegotiatedMedia};
use super::direction::Direction;
use super::error::SdpError;
use super::offer::{build_offer, process_answer};
use super::session::{Connection, Origin, SessionDescription};

/// What a re-negotiation changed, compared with the previous exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renegotiation {
    /// The peer's RTP address or port changed.
    pub remote_addr_changed: bool,
    /// The codec or its payload type changed.
    pub codec_changed: bool,
    /// telephone-event appeared, disappeared or changed payload type.
    pub telephone_event_changed: bool,
    /// The packetisation time changed.
    pub ptime_changed: bool,
    /// SRTP started, stopped, or the peer's key or suite changed (RFC 4568 §7.1.4 re-keying).
    pub srtp_changed: bool,
    /// Our new direction (e.g. `RecvOnly` when the peer put us on hold).
    pub direction: Direction,
    /// The direction differs from the previous exchange.
    pub direction_changed: bool,
}

impl Renegotiation {
    fn between(old: &NegotiatedMedia, new: &NegotiatedMedia) -> Self {
        Self {
            remote_addr_changed: old.remote_rtp != new.remote_rtp,
            codec_changed: old.codec.kind != new.codec.kind
                || old.codec.payload_type != new.codec.payload_type,
            telephone_event_changed: old.telephone_event_pt() != new.telephone_event_pt(),
            ptime_changed: old.ptime != new.ptime,
            srtp_changed: old.srtp != new.srtp,
            direction: new.direction,
            direction_changed: old.direction != new.direction,
        }
    }

    /// Whether anything the media layer acts on changed.
    pub fn any(&self) -> bool {
        self.remote_addr_changed
            || self.codec_changed
            || self.telephone_event_changed
            || self.ptime_changed
            || self.srtp_changed
            || self.direction_changed
    }
}

/// The result of [`SdpSession::handle_offer`] or [`SdpSession::handle_answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The negotiated stream now in force.
    pub media: NegotiatedMedia,
    /// `None` for the first exchange of the dialog, else what changed.
    pub renegotiation: Option<Renegotiation>,
}

/// Offer/answer state of one dialog (sans-IO: no clock, no socket).
#[derive(Debug, Clone)]
pub struct SdpSession {
    policy: AnswerPolicy,
    local_sdp: Option<SessionDescription>,
    pending_offer: Option<SessionDescription>,
    negotiated: Option<NegotiatedMedia>,
}

impl SdpSession {
    /// A session that answers and offers under `policy`; its `local` gives our initial `o=`.
    pub fn new(policy: AnswerPolicy) -> Self {
        Self {
            policy,
            local_sdp: None,
            pending_offer: None,
            negotiated: None,
        }
    }

    /// Our `o=` session id.
    pub fn session_id(&self) -> u64 {
        self.policy.local.session_id
    }

    /// Our current `o=` session version.
    pub fn session_version(&self) -> u64 {
        self.policy.local.session_version
    }

    /// What is negotiated now, if any exchange has completed.
    pub fn negotiated(&self) -> Option<&NegotiatedMedia> {
        self.negotiated.as_ref()
    }

    /// The last SDP we sent (offer or answer).
    pub fn local_sdp(&self) -> Option<&SessionDescription> {
        self.local_sdp.as_ref()
    }

    /// Moves our media endpoint (takes effect in the next SDP we produce).
    pub fn set_local_endpoint(&mut self, address: IpAddr, rtp_port: u16) {
        self.policy.local.address = address;
        self.policy.local.rtp_port = rtp_port;
    }

    /// Answers an initial offer or a re-offer. On error nothing changes (RFC 3264 §8: a refused
    /// re-offer leaves the previous session in force) and the caller responds with
    /// [`SdpError::status_code`].
    pub fn handle_offer(
        &mut self,
        offer: &SessionDescription,
    ) -> Result<(Answer, Option<Renegotiation>), SdpError> {
        let mut ans = answer(offer, &self.policy)?;
        self.stamp(&mut ans.sdp);
        self.pending_offer = None;
        let change = self
            .negotiated
            .as_ref()
            .map(|old| Renegotiation::between(old, &ans.media));
        self.negotiated = Some(ans.media.clone());
        Ok((ans, change))
    }

    /// Builds an offer (initial, or a re-offer such as our own hold with `SendOnly`).
    pub fn create_offer(&mut self, direction: Direction) -> Result<SessionDescription, SdpError> {
        let mut offer = build_offer(&self.policy, direction)?;
        self.stamp(&mut offer);
        self.pending_offer = Some(offer.clone());
        Ok(offer)
    }

    /// Processes the answer to our pending offer.
    pub fn handle_answer(&mut self, answer: &SessionDescription) -> Result<Negotiated, SdpError> {
        let offer = self
            .pending_offer
            .as_ref()
            .ok_or(SdpError::NoPendingOffer)?;
        let media = process_answer(offer, answer)?;
        self.pending_offer = None;
        let renegotiation = self
            .negotiated
            .as_ref()
            .map(|old| Renegotiation::between(old, &media));
        self.negotiated = Some(media.clone());
        Ok(Negotiated {
            media,
            renegotiation,
        })
    }

    /// Gives `sdp` our origin, bumping the version only when the body differs from the last SDP
    /// we sent (RFC 3264 §8: unchanged SDP keeps its version).
    fn stamp(&mut self, sdp: &mut SessionDescription) {
        let local = &mut self.policy.local;
        if let Some(prev) = &self.local_sdp {
            let mut probe = sdp.clone();
            probe.origin = prev.origin.clone();
            if probe != *prev {
                local.session_version = local.session_version.wrapping_add(1);
            }
        }
        sdp.origin = Origin::local(local.session_id, local.session_version, local.address);
        sdp.connection = Some(Connection::new(local.address));
        self.local_sdp = Some(sdp.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::codec::CodecKind;

    fn sdp(text: &str) -> SessionDescription {
        SessionDescription::parse(text.as_bytes()).unwrap()
    }

    fn peer_offer(version: u32, addr: &str, port: u16, formats: &str, extra: &str) -> String {
        format!(
            "v=0\r\no=- 77 {version} IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP {formats}\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\n{extra}"
        )
    }

    fn session() -> SdpSession {
        let mut policy = AnswerPolicy::default();
        policy.local.session_id = 4242;
        policy.local.session_version = 7;
        SdpSession::new(policy)
    }

    #[test]
    fn initial_offer_then_refresh_keeps_version() {
        let mut s = session();
        let offer = sdp(&peer_offer(1, "10.1.1.1", 4000, "0 8 101", ""));
        let (a, change) = s.handle_offer(&offer).unwrap();
        assert_eq!(change, None);
        assert_eq!(a.sdp.origin.session_id, "4242");
        assert_eq!(a.sdp.origin.session_version, 7);
        // A session refresh with the same SDP: same answer, same version, nothing changed.
        let (a2, change) = s.handle_offer(&offer).unwrap();
        assert_eq!(a2.sdp, a.sdp);
        assert!(!change.unwrap().any());
    }

    #[test]
    fn hold_and_unhold() {
        let mut s = session();
        s.handle_offer(&sdp(&peer_offer(1, "10.1.1.1", 4000, "0 101", "")))
            .unwrap();
        let hold = sdp(&peer_offer(2, "10.1.1.1", 4000, "0 101", "a=sendonly\r\n"));
        let (a, change) = s.handle_offer(&hold).unwrap();
        let change = change.unwrap();
        assert_eq!(change.direction, Direction::RecvOnly);
        assert!(change.direction_changed);
        assert!(!change.codec_changed && !change.remote_addr_changed);
        assert_eq!(a.sdp.origin.session_version, 8);
        assert!(a.sdp.to_string().contains("a=recvonly\r\n"));

        let unhold = sdp(&peer_offer(3, "10.1.1.1", 4000, "0 101", "a=sendrecv\r\n"));
        let (a, change) = s.handle_offer(&unhold).unwrap();
        assert_eq!(change.unwrap().direction, Direction::SendRecv);
        assert_eq!(a.sdp.origin.session_version, 9);
        assert_eq!(s.session_version(), 9);
    }

    #[test]
    fn legacy_hold_via_zero_address() {
        let mut s = session();
        s.handle_offer(&sdp(&peer_offer(1, "10.1.1.1", 4000, "0 101", "")))
            .unwrap();
        let hold = sdp(&peer_offer(2, "0.0.0.0", 4000, "0 101", ""));
        let (a, change) = s.handle_offer(&hold).unwrap();
        let change = change.unwrap();
        assert_eq!(change.direction, Direction::RecvOnly);
        assert!(change.remote_addr_changed);
        assert_eq!(a.remote_rtp(), None);
    }

    #[test]
    fn codec_and_address_change() {
        let mut s = session();
        s.handle_offer(&sdp(&peer_offer(1, "10.1.1.1", 4000, "0 8 101", "")))
            .unwrap();
        let moved = sdp(&peer_offer(2, "10.2.2.2", 5000, "8 0 101", ""));
        let (a, change) = s.handle_offer(&moved).unwrap();
        let change = change.unwrap();
        assert!(change.codec_changed && change.remote_addr_changed);
        assert!(!change.telephone_event_changed);
        assert_eq!(a.codec().name(), "PCMA");
        assert_eq!(
            s.negotiated().unwrap().remote_rtp,
            Some("10.2.2.2:5000".parse().unwrap())
        );
        assert_eq!(a.sdp.origin.session_version, 8);
    }

    #[test]
    fn refused_reoffer_keeps_state() {
        let mut s = session();
        s.handle_offer(&sdp(&peer_offer(1, "10.1.1.1", 4000, "0 101", "")))
            .unwrap();
        let before = s.negotiated().cloned();
        let bad = sdp(&peer_offer(2, "10.1.1.1", 4000, "18 101", ""));
        assert_eq!(s.handle_offer(&bad).unwrap_err().status_code(), 488);
        assert_eq!(s.negotiated().cloned(), before);
        assert_eq!(s.session_version(), 7);
    }

    #[test]
    fn uac_offer_answer_and_reoffer() {
        let mut s = session();
        assert_eq!(
            s.handle_answer(&sdp(&peer_offer(1, "10.1.1.1", 4000, "0", ""))),
            Err(SdpError::NoPendingOffer)
        );
        let offer = s.create_offer(Direction::SendRecv).unwrap();
        assert_eq!(offer.origin.session_version, 7);
        let mut peer = SdpSession::new(AnswerPolicy {
            codecs: vec![CodecKind::Pcma],
            ..AnswerPolicy::default()
        });
        let (their_answer, _) = peer.handle_offer(&offer).unwrap();
        let n = s.handle_answer(&their_answer.sdp).unwrap();
        assert_eq!(n.renegotiation, None);
        assert_eq!(n.media.codec.name(), "PCMA");
        assert_eq!(s.negotiated().unwrap().codec.kind, CodecKind::Pcma);

        // Our own hold: new version, peer answers recvonly, we become sendonly.
        let hold = s.create_offer(Direction::SendOnly).unwrap();
        assert_eq!(hold.origin.session_version, 8);
        let (their_answer, change) = peer.handle_offer(&hold).unwrap();
        assert_eq!(change.unwrap().direction, Direction::RecvOnly);
        let n = s.handle_answer(&their_answer.sdp).unwrap();
        assert_eq!(n.media.direction, Direction::SendOnly);
        assert!(n.renegotiation.unwrap().direction_changed);
    }

    #[test]
    fn new_local_endpoint_bumps_version() {
        let mut s = session();
        let offer = sdp(&peer_offer(1, "10.1.1.1", 4000, "0", ""));
        s.handle_offer(&offer).unwrap();
        s.set_local_endpoint("192.0.2.1".parse().unwrap(), 30_000);
        let (a, _) = s.handle_offer(&offer).unwrap();
        assert_eq!(a.sdp.origin.session_version, 8);
        assert!(a.sdp.to_string().contains("c=IN IP4 192.0.2.1\r\n"));
        assert_eq!(a.sdp.media[0].port, 30_000);
    }
}
