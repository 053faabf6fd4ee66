//! Calls: the registry that maps Call-IDs to live call actors, and the call actor itself.

mod registry;

pub use registry::CallRegistry;
