//! voxgate-actors: the actix shells that own sockets and timers and drive the engine cores.
//!
//! Notable parts:
//! - [`node::run`]: binds everything and runs a node until SIGTERM, then drains.
//! - [`sip::endpoint::SipEndpoint`]: the SIP UA core (transactions, dialogs, node answers).
//! - [`calls::CallRegistry`] and [`calls::Call`]: live calls by Call-ID.
//! - [`http`]: health, readiness, metrics, metadata, Digital Connect, conversation details.
//! - [`digital_connect::ConversationRegistry`]: Digital Connect conversations as actors.
//! - [`talkdesk::TalkdeskIngress`]: a Talkdesk voice stream (WebSocket ingress and its call).
#![warn(unreachable_pub, missing_docs)]

pub mod bots;
pub mod calls;
pub mod digital_connect;
pub mod http;
pub mod media;
pub mod metrics;
pub mod node;
pub mod sip;
pub mod state;
pub mod talkdesk;
