//! The deterministic conversation summary of one session record: what happened on the call,
//! computed from the record alone (no language model), so that the same record always gives the
//! same summary and an agent can trust every figure in it.

use serde::Serialize;

use crate::store::{EscalationOutcome, Role, SessionRecord};

/// The `summary` entry of the conversation details API.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    /// The summary as one paragraph (the field the vendor's API calls `ConversationSummary`).
    #[serde(rename = "ConversationSummary")]
    pub text: String,
    /// `escalated`, `escalation_failed`, `ended_by_bot`, `caller_hung_up` or `ended`.
    pub outcome: &'static str,
    /// The call's duration, arrival to end, in seconds (millisecond precision).
    pub duration_secs: f64,
    /// Why the call ended, as sent on the wire.
    pub end_reason: String,
    /// The escalation's reason, when the call was handed back.
    pub escalation_reason: Option<String>,
    /// Where it was handed to: the target, else the REFER target, else the `ringGroup` variable.
    pub escalation_target: Option<String>,
    /// DTMF digits pressed, in order.
    pub dtmf: String,
    /// Transcript turns of the caller.
    pub caller_turns: usize,
    /// Transcript turns of the bot.
    pub bot_turns: usize,
}

/// Summarises `record`.
pub fn summarize(record: &SessionRecord) -> ConversationSummary {
    let duration_ms = record.end_ms.saturating_sub(record.start_ms).max(0);
    let duration_secs = duration_ms as f64 / 1000.0;
    let caller_turns = count(record, Role::Caller);
    let bot_turns = count(record, Role::Bot);
    let escalation = record.escalation.as_ref();
    let outcome = match (escalation.map(|e| &e.outcome), record.end_reason.as_str()) {
        (Some(EscalationOutcome::Failed { .. }), _) => "escalation_failed",
        (Some(_), _) => "escalated",
        (None, "HangUp") => "ended_by_bot",
        (None, "CallerHangUp") => "caller_hung_up",
        (None, _) => "ended",
    };
    let target = escalation.and_then(|e| {
        e.target
            .clone()
            .or_else(|| e.refer_to.clone())
            .or_else(|| e.variables.get("ringGroup").cloned())
    });

    let mut text = format!(
        "{} call to {} handled by bot {}, {:.1} s long",
        match record.ingress {
            crate::store::IngressKind::Sip => "SIP",
            crate::store::IngressKind::Talkdesk => "Talkdesk",
        },
        record.did,
        record.bot_id,
        duration_secs
    );
    text.push_str(&format!(
        "; the caller spoke {caller_turns} time{} and the bot {bot_turns} time{}",
        plural(caller_turns),
        plural(bot_turns)
    ));
    if !record.dtmf.is_empty() {
        text.push_str(&format!("; the caller pressed {}", record.dtmf));
    }
    match escalation {
        Some(e) => {
            text.push_str(&format!("; the bot asked for an agent ({})", e.reason));
            if let Some(t) = &target {
                text.push_str(&format!(", target {t}"));
            }
            text.push_str(&match &e.outcome {
                EscalationOutcome::Completed => format!(", handed back by {}", e.profile),
                EscalationOutcome::FellBack { cause } => {
                    format!(", handed back by {} after a fallback ({cause})", e.profile)
                }
                EscalationOutcome::Failed { cause } => {
                    format!(", but the hand-back by {} failed ({cause})", e.profile)
                }
            });
        }
        None => text.push_str(&format!("; it ended with {}", record.end_reason)),
    }
    text.push('.');

    ConversationSummary {
        text,
        outcome,
        duration_secs,
        end_reason: record.end_reason.clone(),
        escalation_reason: escalation.map(|e| e.reason.clone()),
        escalation_target: target,
        dtmf: record.dtmf.clone(),
        caller_turns,
        bot_turns,
    }
}

fn count(record: &SessionRecord, role: Role) -> usize {
    record.transcript.iter().filter(|l| l.role == role).count()
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::*;

    #[test]
    fn escalated_call() {
        let s = summarize(&record());
        assert_eq!(s.outcome, "escalated");
        assert_eq!(s.duration_secs, 12.5);
        assert_eq!(s.escalation_target.as_deref(), Some("agents"));
        assert_eq!((s.caller_turns, s.bot_turns), (1, 2));
        assert_eq!(
            s.text,
            "SIP call to +15550100 handled by bot demo, 12.5 s long; the caller spoke 1 time \
             and the bot 2 times; the caller pressed 10; the bot asked for an agent \
             (TransferToAgent), target agents, handed back by zoom-cc."
        );
        assert_eq!(summarize(&record()), s, "deterministic");
    }

    #[test]
    fn plain_hang_up() {
        let mut r = record();
        r.escalation = None;
        r.end_reason = "CallerHangUp".into();
        r.dtmf.clear();
        let s = summarize(&r);
        assert_eq!(s.outcome, "caller_hung_up");
        assert!(
            s.text.ends_with("; it ended with CallerHangUp."),
            "{}",
            s.text
        );
        assert!(!s.text.contains("pressed"));
    }
}
