//! The Talkdesk voice-stream ingress ("Connect to Autopilot Voice", ARCHITECTURE §3): a
//! WebSocket per call, opened by Talkdesk on `GET /audiosocket/talkdesk/?sipuri&token&botId&…`.
//!
//! - [`admission`]: the checks before the upgrade (token, bot, account, number route).
//! - [`TalkdeskIngress`]: the connection actor, the call's ingress leg and its supervisor.
//! - `inbound`: the allocation-free reading of `media`, the one frequent inbound event.
//! - `outbound`: the events the node sends (`media`, `mark`, `clear`, the final `stop`).

pub mod admission;
mod inbound;
mod ingress;
mod outbound;
mod supervisor;

pub use ingress::{StreamParams, TalkdeskIngress, FRAME_BYTES};
pub use supervisor::RING_GROUP_VARIABLE;
