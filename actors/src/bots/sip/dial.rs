//! The pieces every call the node places with media of its own shares (the SIP bot's dial, the
//! `invite` profile's agent leg): where a SIP URI goes, the RTP sockets and the one-codec offer,
//! the answer's stream and the RTP leg's settings for it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use rand::RngCore;
use voxgate_engine::sdp::{
    process_answer, AnswerPolicy, CodecKind, Direction, LocalMedia, NegotiatedMedia, SdpSession,
    SessionDescription,
};
use voxgate_engine::sip::message::SipUri;

use super::SipBotCall;
use crate::calls::messages::LegKind;
use crate::media::{bind_rtp_pair, RtpLegConfig, RtpPair};
use crate::sip::endpoint::local_ip_toward;

/// Where an INVITE to `uri` goes (`sip:user@host:port`, 5060 when no port is given).
pub fn resolve_uri(uri: &str) -> Result<SocketAddr, String> {
    let parsed = SipUri::parse(uri.trim()).map_err(|e| format!("URI {uri:?}: {e}"))?;
    let host = parsed.host.trim_start_matches('[').trim_end_matches(']');
    // A name is resolved here, once per dial; peers are configured by address or a local
    // name, so this does not hold the arbiter for long.
    (host, parsed.port.unwrap_or(5060))
        .to_socket_addrs()
        .map_err(|e| format!("host {host:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("host {host:?} has no address"))
}

/// A fresh Call-ID for a call the node places.
pub fn new_call_id() -> String {
    let mut rng = rand::thread_rng();
    format!("{:016x}{:08x}@voxgate", rng.next_u64(), rng.next_u32())
}

/// RTP sockets on the address that reaches `destination` and an offer of `codec` (with
/// telephone-event) on them, made by an offer/answer session that later answers the peer's
/// re-offers under the same policy.
pub fn offer_media(
    call: &SipBotCall,
    destination: SocketAddr,
    codec: CodecKind,
) -> Result<(RtpPair, SdpSession, SessionDescription), String> {
    let ip = call
        .media_ip
        .or_else(|| local_ip_toward(destination))
        .unwrap_or(call.local_ip);
    let pair = bind_rtp_pair(call.rtp_ports, ip).map_err(|e| format!("RTP ports: {e}"))?;
    let policy = AnswerPolicy {
        codecs: vec![codec],
        telephone_event: true,
        rtcp_mux: false,
        local: LocalMedia {
            address: ip,
            rtp_port: pair.port(),
            session_id: rand::thread_rng().next_u64() >> 1,
            session_version: 1,
        },
        ..AnswerPolicy::default()
    };
    let mut session = SdpSession::new(policy);
    let offer = session
        .create_offer(Direction::SendRecv)
        .map_err(|e| e.to_string())?;
    Ok((pair, session, offer))
}

/// The stream the peer's SDP answer `body` agrees to for our `offer`.
pub fn negotiate(offer: &SessionDescription, body: &[u8]) -> Result<NegotiatedMedia, String> {
    let answer = SessionDescription::parse(body).map_err(|e| format!("SDP: {e}"))?;
    process_answer(offer, &answer).map_err(|e| format!("SDP answer: {e}"))
}

/// The RTP leg settings of a placed call's stream (leg `kind`, no RTP for `rtp_timeout` fails
/// it; zero: never).
pub fn rtp_config(
    media: NegotiatedMedia,
    call: &SipBotCall,
    cname: String,
    kind: LegKind,
    rtp_timeout: Duration,
) -> RtpLegConfig {
    let mut config = RtpLegConfig::new(media, cname);
    config.kind = kind;
    config.inactivity_timeout = rtp_timeout;
    config.jitter_min_ms = call.jitter_ms.0;
    config.jitter_max_ms = call.jitter_ms.1;
    config.rtcp_interval = call.rtcp_interval;
    config
}
