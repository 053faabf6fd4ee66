//! Writing a finished call's session record, shared by every kind of call.

use std::sync::Arc;

use voxgate_engine::store::{self, SessionRecord};

use super::messages::Transcript;
use crate::state::NodeState;

/// Transcript lines kept per call; a chatty bot cannot grow a record without bound.
pub(crate) const MAX_TRANSCRIPT_LINES: usize = 1000;

/// Adds a bot-reported transcript line to a call's record draft (up to the cap).
pub(crate) fn push_transcript(lines: &mut Vec<store::TranscriptLine>, msg: Transcript) {
    if lines.len() >= MAX_TRANSCRIPT_LINES {
        return;
    }
    let role = if msg.role == "caller" {
        store::Role::Caller
    } else {
        store::Role::Bot
    };
    lines.push(store::TranscriptLine {
        role,
        text: msg.text,
        at_ms: unix_ms(),
    });
}

/// Hands the session record to the store on the blocking pool: the call's arbiter never waits
/// on disk or network. A failed write is logged and counted; the call is over anyway.
pub(crate) fn store(node: &NodeState, record: SessionRecord) {
    let store = Arc::clone(&node.store);
    actix_rt::task::spawn_blocking(move || {
        if let Err(e) = store.put_session(&record) {
            metrics::counter!(crate::metrics::STORE_ERRORS, "what" => "session").increment(1);
            tracing::warn!(session_id = %record.session_id, error = %e, "session record not stored");
        }
    });
}

/// Milliseconds since the Unix epoch, for record timestamps.
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
