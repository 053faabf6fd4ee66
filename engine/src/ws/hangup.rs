//! `hangup` (bot → node): the bot is done and the call ends (the profile's hang-up hand-back).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Body of `hangup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Hangup {
    /// Why (`HangUp`…): sent in the profile's reason header.
    pub reason: String,
    /// Extra headers for the BYE.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}
