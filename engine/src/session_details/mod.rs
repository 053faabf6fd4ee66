//! The conversation details and summary API (ARCHITECTURE §3), without I/O:
//! `POST /api/public/bot/{botId}/conversationDetails` with body
//! `{sessionId | callId, isSummaryRequired, skip, limit}`.
//!
//! [`DetailsRequest::parse`] checks the body; [`details`] renders one session record the way the
//! Zoom guide's API does: `conversationInfo` (ids and times: `sessionStartTime`,
//! `agentHandOffTime`, ...), `conversationFlow` (the steps the call went through),
//! `conversationHistory` (transcript turns, `incoming` from the caller and `outgoing` from the
//! bot, paged by `skip`/`limit`) and, when asked, `summary` ([`summary::summarize`]).

pub mod iso_time;
pub mod summary;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::store::{EscalationOutcome, Role, SessionRecord};

pub use self::summary::{summarize, ConversationSummary};

/// The largest page of `conversationHistory`; also the default `limit`.
pub const MAX_LIMIT: usize = 100;

/// A checked request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailsRequest {
    /// Which session: by session id (preferred when both are given) or by ingress call id.
    pub key: SessionKey,
    /// Whether to add `summary`.
    pub summary: bool,
    /// Transcript turns to skip.
    pub skip: usize,
    /// Transcript turns to return at most (1..=[`MAX_LIMIT`]).
    pub limit: usize,
}

/// How the request names the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKey {
    /// `sessionId`.
    SessionId(String),
    /// `callId`.
    CallId(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    session_id: Option<String>,
    call_id: Option<String>,
    #[serde(default)]
    is_summary_required: bool,
    #[serde(default, alias = "offset")]
    skip: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
}

impl DetailsRequest {
    /// Parses and checks a JSON body; the error text is safe to return (HTTP `400`).
    pub fn parse(body: &[u8]) -> Result<DetailsRequest, String> {
        let raw: RawRequest =
            serde_json::from_slice(body).map_err(|e| format!("the body does not parse: {e}"))?;
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let key = match (nonempty(raw.session_id), nonempty(raw.call_id)) {
            (Some(id), _) => SessionKey::SessionId(id),
            (None, Some(id)) => SessionKey::CallId(id),
            (None, None) => return Err("give `sessionId` or `callId`".into()),
        };
        let limit = raw.limit.unwrap_or(MAX_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(format!("`limit` must be between 1 and {MAX_LIMIT}"));
        }
        Ok(DetailsRequest {
            key,
            summary: raw.is_summary_required,
            skip: raw.skip.unwrap_or(0),
            limit,
        })
    }
}

/// The response body for `record` under `request`.
pub fn details(record: &SessionRecord, request: &DetailsRequest) -> Value {
    let fmt = iso_time::format_ms;
    let handoff = record.escalation.as_ref().map(|e| fmt(e.at_ms));
    let info = json!({
        "sessionId": record.session_id,
        "callId": record.call_id,
        "botId": record.bot_id,
        "userId": record.contact_id.clone().unwrap_or_else(|| record.did.clone()),
        "channel": record.ingress,
        "did": record.did,
        "trunk": record.trunk,
        "sessionStartTime": fmt(record.start_ms),
        "answerTime": record.answer_ms.map(fmt),
        "sessionEndTime": fmt(record.end_ms),
        "agentHandOffTime": handoff,
        "endReason": record.end_reason,
        "codec": record.codec,
        "dtmf": record.dtmf,
    });
    let history: Vec<Value> = record
        .transcript
        .iter()
        .skip(request.skip)
        .take(request.limit)
        .map(|line| {
            json!({
                "type": match line.role { Role::Caller => "incoming", Role::Bot => "outgoing" },
                "createdOn": fmt(line.at_ms),
                "timestampValue": line.at_ms,
                "components": [{ "cT": "text", "data": { "text": line.text } }],
            })
        })
        .collect();
    let mut body = json!({
        "conversationInfo": info,
        "conversationFlow": flow(record),
        "conversationHistory": history,
        "totalMessages": record.transcript.len(),
        "skip": request.skip,
        "limit": request.limit,
        "moreAvailable": request.skip.saturating_add(request.limit) < record.transcript.len(),
    });
    if request.summary {
        body["summary"] = json!([summarize(record)]);
    }
    if let Some(lines) = record
        .escalation
        .as_ref()
        .map(|e| &e.assist_transcripts)
        .filter(|l| !l.is_empty())
    {
        body["agentAssist"] = lines
            .iter()
            .map(|l| json!({ "role": l.role, "text": l.text, "createdOn": fmt(l.at_ms) }))
            .collect();
    }
    body
}

/// The steps of the call, in time order: arrival, answer, the hand-back if any, the end.
fn flow(record: &SessionRecord) -> Value {
    let fmt = iso_time::format_ms;
    let step = |task: &str, status: &str, at: i64| json!({ "taskName": task, "status": status, "time": fmt(at) });
    let mut steps = vec![step("CallStarted", "completedTask", record.start_ms)];
    if let Some(at) = record.answer_ms {
        steps.push(step("BotAnswered", "completedTask", at));
    }
    if let Some(e) = &record.escalation {
        let status = match e.outcome {
            EscalationOutcome::Failed { .. } => "failedTask",
            _ => "completedTask",
        };
        steps.push(step(&e.reason, status, e.at_ms));
    }
    steps.push(step("CallEnded", "completedTask", record.end_ms));
    Value::Array(steps)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::store::{Escalation, IngressKind, TranscriptLine};

    /// An escalated SIP call with three transcript turns and DTMF `10`.
    pub(crate) fn record() -> SessionRecord {
        let line = |role, text: &str, at_ms| TranscriptLine {
            role,
            text: text.into(),
            at_ms,
        };
        SessionRecord {
            session_id: "s1".into(),
            call_id: "c1@host".into(),
            ingress: IngressKind::Sip,
            did: "+15550100".into(),
            trunk: Some("local".into()),
            bot_id: "demo".into(),
            contact_id: None,
            account_id: None,
            start_ms: 1_691_407_090_195,
            answer_ms: Some(1_691_407_090_295),
            end_ms: 1_691_407_102_695,
            end_reason: "TransferToAgent".into(),
            escalation: Some(Escalation {
                reason: "TransferToAgent".into(),
                target: None,
                profile: "zoom-cc".into(),
                outcome: EscalationOutcome::Completed,
                at_ms: 1_691_407_101_304,
                variables: BTreeMap::from([("ringGroup".into(), "agents".into())]),
                refer_to: None,
                refer_status: None,
                agent_legs: Vec::new(),
                assist_transcripts: Vec::new(),
            }),
            codec: Some("PCMU/8000".into()),
            rtp: None,
            dtmf: "10".into(),
            transcript: vec![
                line(Role::Bot, "Hello", 1_691_407_090_300),
                line(Role::Caller, "An agent please", 1_691_407_095_000),
                line(Role::Bot, "Transferring", 1_691_407_101_000),
            ],
        }
    }

    #[test]
    fn request_rules() {
        let r = DetailsRequest::parse(br#"{"callId":"c","sessionId":"s","skip":1}"#).unwrap();
        assert_eq!(r.key, SessionKey::SessionId("s".into()));
        assert_eq!((r.skip, r.limit, r.summary), (1, MAX_LIMIT, false));
        let r = DetailsRequest::parse(br#"{"callId":"c","isSummaryRequired":true}"#).unwrap();
        assert_eq!(r.key, SessionKey::CallId("c".into()));
        assert!(r.summary);
        for bad in [
            &br#"{}"#[..],
            br#"{"sessionId":""}"#,
            br#"{"sessionId":"s","limit":0}"#,
            br#"{"sessionId":"s","skip":-1}"#,
            br#"{"sessionId":5}"#,
            b"[",
        ] {
            assert!(DetailsRequest::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn renders_info_history_and_flow() {
        let req = DetailsRequest::parse(br#"{"sessionId":"s1","skip":1,"limit":1}"#).unwrap();
        let v = details(&record(), &req);
        assert_eq!(
            v["conversationInfo"]["sessionStartTime"],
            "2023-08-07T11:18:10.195Z"
        );
        assert_eq!(
            v["conversationInfo"]["agentHandOffTime"],
            "2023-08-07T11:18:21.304Z"
        );
        assert_eq!(v["conversationHistory"].as_array().unwrap().len(), 1);
        assert_eq!(v["conversationHistory"][0]["type"], "incoming");
        assert_eq!(
            v["conversationHistory"][0]["components"][0]["data"]["text"],
            "An agent please"
        );
        assert_eq!(v["moreAvailable"], true);
        assert!(v.get("summary").is_none());
        let tasks: Vec<_> = v["conversationFlow"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["taskName"].as_str().unwrap())
            .collect();
        assert_eq!(
            tasks,
            ["CallStarted", "BotAnswered", "TransferToAgent", "CallEnded"]
        );
    }
}
