//! Writing a finished call's session record, shared by every kind of call.

use std::sync::Arc;

use voxgate_engine::store::SessionRecord;

use crate::state::NodeState;

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
