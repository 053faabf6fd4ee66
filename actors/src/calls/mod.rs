//! Calls: the registry that maps Call-IDs to live call actors, and the call actor itself.

pub mod agent;
pub(crate) mod bot_tree;
pub(crate) mod call;
pub mod escalation;
pub mod messages;
pub(crate) mod record;
mod registry;
pub(crate) mod restart;
pub mod transcoder;

pub use call::{
    ApiHangup, ApiTransfer, Call, CallEvent, CallInfo, CallParams, CallSummary, ControlError,
    Shutdown,
};
pub use registry::CallRegistry;
