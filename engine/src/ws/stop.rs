//! `stop` (node → bot): the stream ends (the caller hung up, or the call was handed back).

use serde::{Deserialize, Serialize};

/// Body of `stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Stop {
    /// The account, as in `start`.
    #[serde(default)]
    pub account_sid: String,
    /// The call, as in `start`.
    #[serde(default)]
    pub call_sid: String,
    /// Why the stream ends (`CallerHangUp`, `TransferToAgent`…), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
