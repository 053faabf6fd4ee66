//! The Amazon Connect hand-back data: what the `amazon-connect` profile stores under the
//! contact id before its BYE, and the write that must not lose the call when the store fails.
//!
//! The first write is awaited (bounded) so the record is in the store before Connect's flow
//! resumes and reads it; a failed or slow write never holds the BYE back. A failed write is
//! logged, counted (`voxgate_store_errors_total{what="metadata"}`) and retried in the background
//! with exponential back-off, detached from the leg (which stops once its BYE is answered).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::oneshot;
use voxgate_engine::store::{Role, Store, TranscriptLine};

/// The longest transcript summary stored (Connect caps a contact's attributes at 32 KB).
const MAX_SUMMARY_CHARS: usize = 4000;

/// What the call knows that the Connect flow resuming after the hand-back wants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectMetadata {
    /// The Amazon Connect contact id (from `X-Amzn-ConnectContactId` or the UUI).
    pub contact_id: String,
    /// Our session id, stored as `kore-instanceSessionId`.
    pub session_id: String,
    /// The bot's variables (`ringGroup`…).
    pub variables: BTreeMap<String, String>,
    /// The bot's free-form metadata.
    pub metadata: Value,
    /// A short text of the conversation (see [`ConnectMetadata::summarize_transcript`]).
    pub transcript_summary: String,
}

impl ConnectMetadata {
    /// The JSON stored under the contact id for a hand-back with `reason`.
    pub fn to_json(&self, reason: &str, stored_at_ms: i64) -> Value {
        json!({
            "contactId": self.contact_id,
            "kore-instanceSessionId": self.session_id,
            "reason": reason,
            "variables": self.variables,
            "metadata": self.metadata,
            "transcriptSummary": self.transcript_summary,
            "storedAtMs": stored_at_ms,
        })
    }

    /// The transcript as `caller: …` / `bot: …` lines, keeping the most recent ones when it is
    /// longer than the stored limit.
    pub fn summarize_transcript(lines: &[TranscriptLine]) -> String {
        let mut kept: Vec<String> = Vec::new();
        let mut chars = 0;
        for line in lines.iter().rev() {
            let who = match line.role {
                Role::Caller => "caller",
                Role::Bot => "bot",
            };
            let text = format!("{who}: {}", line.text.trim());
            let len = text.chars().count() + 1;
            if chars + len > MAX_SUMMARY_CHARS {
                break;
            }
            chars += len;
            kept.push(text);
        }
        kept.reverse();
        kept.join("\n")
    }
}

/// How often and how patiently a failed metadata write is retried in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first failed attempt.
    pub(crate) retries: u32,
    /// Wait before the first retry; doubled before each next one.
    pub(crate) first_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // 1 + 2 + 4 + 8 + 16 s: about half a minute, the time a Connect flow plausibly waits.
        RetryPolicy {
            retries: 5,
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// One metadata write to perform before the BYE.
#[derive(Clone)]
pub(crate) struct Handoff {
    pub(crate) data: ConnectMetadata,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) ttl: Duration,
    pub(crate) retry: RetryPolicy,
    /// How long the BYE waits for the first attempt.
    pub(crate) wait: Duration,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("contact_id", &self.data.contact_id)
            .field("ttl", &self.ttl)
            .field("retry", &self.retry)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl Handoff {
    /// Starts writing `value` on the blocking pool; the receiver gets the first attempt's
    /// outcome. On failure the task keeps retrying by the policy, on its own.
    pub(crate) fn start(&self, value: Value) -> oneshot::Receiver<Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        let this = self.clone();
        actix_rt::spawn(async move {
            let contact_id = this.data.contact_id.clone();
            let first = this.attempt(&value).await;
            let failed = first.is_err();
            // The leg may have given up waiting; the write goes on regardless.
            let _ = tx.send(first);
            if !failed {
                return;
            }
            let mut backoff = this.retry.first_backoff;
            for retry in 1..=this.retry.retries {
                actix_rt::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
                if this.attempt(&value).await.is_ok() {
                    tracing::info!(%contact_id, retry, "Connect metadata stored on retry");
                    return;
                }
            }
            tracing::error!(
                %contact_id,
                retries = this.retry.retries,
                "Connect metadata could not be stored; the flow will find none"
            );
        });
        rx
    }

    /// One write on the blocking pool; a failure is logged and counted.
    async fn attempt(&self, value: &Value) -> Result<(), String> {
        let store = Arc::clone(&self.store);
        let (contact_id, value, ttl) = (self.data.contact_id.clone(), value.clone(), self.ttl);
        let result = actix_rt::task::spawn_blocking(move || {
            store
                .put_metadata(&contact_id, &value, ttl)
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("store task failed: {e}")));
        if let Err(e) = &result {
            metrics::counter!(crate::metrics::STORE_ERRORS, "what" => "metadata").increment(1);
            tracing::warn!(contact_id = %self.data.contact_id, error = %e, "Connect metadata write failed");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(role: Role, text: &str) -> TranscriptLine {
        TranscriptLine {
            role,
            text: text.into(),
            at_ms: 0,
        }
    }

    #[test]
    fn json_carries_what_the_flow_reads() {
        let data = ConnectMetadata {
            contact_id: "c-1".into(),
            session_id: "s-1".into(),
            variables: BTreeMap::from([("ringGroup".into(), "agents".into())]),
            metadata: json!({"x_metadata": "Hello"}),
            transcript_summary: "caller: hi".into(),
        };
        let v = data.to_json("TransferToAgent", 42);
        assert_eq!(v["kore-instanceSessionId"], "s-1");
        assert_eq!(v["contactId"], "c-1");
        assert_eq!(v["reason"], "TransferToAgent");
        assert_eq!(v["variables"]["ringGroup"], "agents");
        assert_eq!(v["metadata"]["x_metadata"], "Hello");
        assert_eq!(v["transcriptSummary"], "caller: hi");
        assert_eq!(v["storedAtMs"], 42);
    }

    #[test]
    fn summary_keeps_the_latest_lines_within_the_limit() {
        let lines = [
            line(Role::Caller, " hello "),
            line(Role::Bot, "how can I help?"),
        ];
        assert_eq!(
            ConnectMetadata::summarize_transcript(&lines),
            "caller: hello\nbot: how can I help?"
        );
        let long: Vec<TranscriptLine> = (0..500)
            .map(|i| line(Role::Caller, &format!("line {i:03} {}", "x".repeat(20))))
            .collect();
        let summary = ConnectMetadata::summarize_transcript(&long);
        assert!(summary.chars().count() <= MAX_SUMMARY_CHARS);
        assert!(summary.ends_with(&format!("line 499 {}", "x".repeat(20))));
        assert!(!summary.contains("line 000"));
        assert_eq!(ConnectMetadata::summarize_transcript(&[]), "");
    }
}
