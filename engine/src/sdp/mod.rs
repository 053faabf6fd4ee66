//! SDP (RFC 8866) parsing and printing, and RFC 3264 offer/answer for voxgate's SIP legs.
//!
//! Sans-IO: no clock, no socket. The parts:
//! - [`SessionDescription`] (`session.rs`): the model, a tolerant parser and a canonical printer.
//! - [`answer()`] (`answer.rs`): our UAS answer under an [`AnswerPolicy`]; first codec *of the
//!   offer* among PCMU, PCMA, opus/48000/2, G722 that the trunk allows, telephone-event when
//!   offered, other streams rejected with port 0, nothing acceptable → [`SdpError`] with status 488.
//! - [`build_offer`] / [`process_answer`] (`offer.rs`): our UAC side.
//! - [`CryptoAttribute`], [`SrtpPolicy`] (`crypto.rs`): RFC 4568 SDES `a=crypto` lines and the
//!   trunk's SRTP mode; an `RTP/SAVP` answer carries our own key with the offer's tag and suite.
//! - [`SdpSession`] (`state.rs`): per-dialog state for re-INVITEs (hold, unhold, codec or address
//!   change), reporting a [`Renegotiation`] and keeping the `o=` version right.
//! - [`NegotiatedMedia`]: what the media layer needs (codec, payload types, remote address, ptime,
//!   direction, rtcp-mux).
//!
//! # Answering an INVITE
//! ```
//! use voxgate_engine::sdp::{AnswerPolicy, CodecKind, LocalMedia, SdpSession, SessionDescription};
//!
//! let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
//!              m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
//!              a=fmtp:101 0-16\r\n";
//! let policy = AnswerPolicy {
//!     codecs: vec![CodecKind::Pcmu, CodecKind::Pcma],
//!     local: LocalMedia {
//!         address: "203.0.113.5".parse().unwrap(),
//!         rtp_port: 20_000,
//!         session_id: 1234,
//!         session_version: 1,
//!     },
//!     ..AnswerPolicy::default()
//! };
//! let mut session = SdpSession::new(policy);
//! let offer = match SessionDescription::parse(offer.as_bytes()) {
//!     Ok(offer) => offer,
//!     Err(e) => panic!("respond {} ({:?})", e.status_code(), e.warning()),
//! };
//! let (answer, _renegotiation) = session.handle_offer(&offer).expect("488 otherwise");
//! assert_eq!(answer.codec().name(), "PCMA"); // the offer's first allowed codec
//! assert_eq!(answer.telephone_event_pt(), Some(101));
//! assert_eq!(answer.remote_rtp(), Some("192.0.2.7:4000".parse().unwrap()));
//! let body: Vec<u8> = answer.sdp.to_bytes(); // the 200 OK body
//! assert!(body.starts_with(b"v=0\r\no=- 1234 1 IN IP4 203.0.113.5\r\n"));
//! ```
//!
//! # Why an own parser
//! Evaluated on 2026-11-21 against the crates in the registry: `ezk-sdp-types` 0.6 is built for
//! WebRTC; a single malformed typed attribute (`rtpmap`, `rtcp-fb`, `candidate`, `crypto`...) in
//! any section fails the whole body, it regroups attributes by type when printing, types
//! `a=crypto` instead of keeping it verbatim, and has no size limits. `sdp-types` 0.3 keeps
//! attributes generically and in order, but is strict on field syntax and has no limits either.
//! What voxgate needs is small (line framing, `o=`, `c=`, `m=`, name/value attributes), must
//! never turn an odd line in an unused stream into a failed call, and must bound its work on
//! network input — a ~300-line parser we can fuzz does that with no new dependency.

mod answer;
mod codec;
mod crypto;
mod direction;
mod error;
mod offer;
mod session;
mod state;

pub use answer::{answer, Answer, AnswerPolicy, LocalMedia, NegotiatedMedia, DEFAULT_PTIME};
pub use codec::{CodecKind, NegotiatedCodec, RtpMap, TelephoneEvent, TELEPHONE_EVENT};
pub use crypto::{
    CryptoAttribute, CryptoSuite, MasterKey, SrtpKeys, SrtpMode, SrtpPolicy, KEY_MATERIAL_LEN,
    MASTER_KEY_LEN, MASTER_SALT_LEN, MAX_CRYPTO_VALUE,
};
pub use direction::Direction;
pub use error::SdpError;
pub use offer::{
    build_offer, process_answer, OPUS_PAYLOAD_TYPE, TELEPHONE_EVENT_FMTP,
    TELEPHONE_EVENT_PAYLOAD_TYPE,
};
pub use session::{
    Attribute, Connection, Limits, MediaDescription, MediaKind, Origin, OtherLine, Proto,
    SessionDescription,
};
pub use state::{Negotiated, Renegotiation, SdpSession};
