//! `dtmf` (node → bot): the caller pressed a key.

use serde::{Deserialize, Serialize};

/// Body of `dtmf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dtmf {
    /// `inbound_track`, as Twilio writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<String>,
    /// `0-9`, `*`, `#`, `A-D`.
    pub digit: String,
}

impl Dtmf {
    /// The caller's `digit`.
    pub fn inbound(digit: char) -> Self {
        Dtmf {
            track: Some("inbound_track".into()),
            digit: digit.to_string(),
        }
    }
}
