//! `connected` (node → bot): the first message on a new stream, before `start`.

use serde::{Deserialize, Serialize};

/// The protocol Twilio announces; bots written for Twilio check it.
pub const PROTOCOL: &str = "Call";
/// The protocol version we speak.
pub const VERSION: &str = "1.0.0";

/// Body of `connected`: Twilio puts these fields at the top level of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    /// Always `Call`.
    pub protocol: String,
    /// Protocol version, `1.0.0`.
    pub version: String,
}

impl Default for Connected {
    fn default() -> Self {
        Connected {
            protocol: PROTOCOL.into(),
            version: VERSION.into(),
        }
    }
}
