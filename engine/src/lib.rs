//! voxgate-engine: the sans-IO protocol cores of voxgate and its typed configuration.
//!
//! Every core here is a `&mut self` state machine driven by `handle_*(now, input)` and drained
//! by `poll_*()`; none reads a clock or a socket itself. The actors crate owns the I/O.
//!
//! Notable modules:
//! - [`auth`]: HS256 bot tokens (Talkdesk Voice Stream URL, conversation details API).
//! - [`config`]: the node configuration (`config/default.toml` is embedded in the binary).
//! - [`contact_id`]: the Amazon Connect contact id of an INVITE (header or RFC 7433 UUI).
//! - [`ratelimit`]: pike-like per-source flood control (requests, failed authentication).
//! - [`routing`]: node policy for out-of-dialog requests (ACL, DID routes, refusals).
//! - [`sdp`]: SDP parsing/printing and RFC 3264 offer/answer ([`sdp::answer`], [`sdp::SdpSession`]).
//! - [`sip`]: the SIP message facade, transactions and dialogs.
//! - [`store`]: session records, metadata handoff, conversations, credentials (SQLite, Redis);
//!   the one module that does I/O, behind a blocking trait.
//! - [`rtp`]: the RTP/RTCP session core (latching, sequencing, statistics, reports, sending).
//! - [`ws`]: the bot (and Talkdesk) media-stream events ([`ws::ToBot`], [`ws::FromBot`]).
#![warn(unreachable_pub, missing_docs)]

pub mod auth;
pub mod config;
pub mod contact_id;
pub mod digital_connect;
pub mod ratelimit;
pub mod routing;
pub mod rtp;
pub mod sdp;
pub mod session_details;
pub mod sip;
pub mod store;
pub mod ws;
