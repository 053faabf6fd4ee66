//! `transcript` (bot → node): a line of the conversation, kept in the session record.

use serde::{Deserialize, Serialize};

/// Body of `transcript`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// `caller` or `bot`.
    pub role: String,
    /// What was said.
    pub text: String,
}
