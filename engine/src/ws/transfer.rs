//! `transfer` (bot → node): hand the caller to a human through the ingress profile (BYE with
//! reason header, REFER, Talkdesk `stop` with `escalate`…).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Body of `transfer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Transfer {
    /// Why (`TransferToAgent`…): sent in the profile's reason header.
    pub reason: String,
    /// Where to (number or SIP URI), for profiles that route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Extra headers for the hand-back message.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Variables for the contact center (`ringGroup`…).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Free-form data kept for the agent.
    #[serde(default)]
    pub metadata: serde_json::Value,
}
