//! Calls: the registry that maps Call-IDs to live call actors, and the call actor itself.

mod bot_tree;
mod call;
pub mod escalation;
pub mod messages;
mod record;
mod registry;
mod restart;
pub mod transcoder;

pub use call::{Call, CallEvent, CallParams, Shutdown};
pub use registry::CallRegistry;
