//! `mark` (both directions). The bot sends one after its audio; the node sends it back, with the
//! same name, once everything queued before it has been played to the caller (or cleared).

use serde::{Deserialize, Serialize};

/// Body of `mark`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The bot's label.
    pub name: String,
}
