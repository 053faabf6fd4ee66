//! Calls: the registry that maps Call-IDs to live call actors, and the call actor itself.

mod call;
pub mod escalation;
pub mod messages;
mod registry;
pub mod transcoder;

pub use call::{
    ApiHangup, ApiTransfer, Call, CallEvent, CallInfo, CallParams, CallSummary, ControlError,
    Shutdown,
};
pub use registry::CallRegistry;
