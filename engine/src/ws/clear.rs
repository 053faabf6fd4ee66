//! `clear` (bot → node): barge-in. The node drops the bot audio it has not played yet; marks
//! queued behind that audio come back at once.

use serde::{Deserialize, Serialize};

/// `clear` has no body: the event name says it all. Present for symmetry with the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Clear {}
