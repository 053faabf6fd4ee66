//! The session record: what the node keeps of a call once it has ended.
//!
//! Written once at the end of every call (voice, SIP or Talkdesk) and read by the session details
//! API. Stored as JSON in both backends: fields added later carry `#[serde(default)]` so that
//! nodes of different versions sharing one Redis can read each other's records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One ended call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Our session id (the `kore-session_id` header of the zoom-cc profile).
    pub session_id: String,
    /// The ingress call id: SIP Call-ID, or Talkdesk `callSid`.
    pub call_id: String,
    /// How the call came in.
    pub ingress: IngressKind,
    /// The dialled number (E.164 as received).
    pub did: String,
    /// The SIP trunk's name; `None` for Talkdesk streams.
    #[serde(default)]
    pub trunk: Option<String>,
    /// The bot that took the call.
    pub bot_id: String,
    /// The platform's contact id when it gave one (Amazon Connect contact id, Talkdesk stream sid).
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The Talkdesk `accountId` of the stream URL; `None` for SIP calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// When the call arrived (unix ms).
    pub start_ms: i64,
    /// When it was answered (unix ms), if it was.
    #[serde(default)]
    pub answer_ms: Option<i64>,
    /// When it ended (unix ms).
    pub end_ms: i64,
    /// Why it ended, as sent on the wire (`HangUp`, `TransferToAgent`, `CallerHangUp`,
    /// `BotFailure`, `MediaTimeout`, ...).
    pub end_reason: String,
    /// The hand-back to the contact center, when there was one.
    #[serde(default)]
    pub escalation: Option<Escalation>,
    /// The negotiated ingress codec (`PCMU/8000`, `opus/48000/2`, ...).
    #[serde(default)]
    pub codec: Option<String>,
    /// RTP counters of the ingress leg; `None` when there was no RTP (Talkdesk).
    #[serde(default)]
    pub rtp: Option<RtpCounters>,
    /// DTMF digits the caller pressed, in order.
    #[serde(default)]
    pub dtmf: String,
    /// The conversation as the bot reported it.
    #[serde(default)]
    pub transcript: Vec<TranscriptLine>,
}

/// How a call reached the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngressKind {
    /// A SIP trunk.
    Sip,
    /// A Talkdesk Voice Stream WebSocket.
    Talkdesk,
}

/// The hand-back of a call to the contact center.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// Why (`TransferToAgent`, `BotFailure`, ...).
    pub reason: String,
    /// Where to, when a target was given (REFER target, ring group).
    #[serde(default)]
    pub target: Option<String>,
    /// The ingress profile that performed it (`zoom-cc`, `amazon-connect`, `refer`, `talkdesk`).
    pub profile: String,
    /// How the profile's hand-back went.
    pub outcome: EscalationOutcome,
    /// When the bot asked for it (unix ms): the agent hand-off time.
    pub at_ms: i64,
    /// The bot's escalation variables (e.g. `ringGroup`).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// `refer`: the Refer-To URI sent (target resolved, without URI headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refer_to: Option<String>,
    /// `refer`: the last status the peer reported for the transfer (the final sipfrag status of
    /// its NOTIFY, or the REFER's own final status when it was refused or no NOTIFY came).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refer_status: Option<u16>,
    /// `invite`: every call placed to an agent, in order (the fallback chain).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_legs: Vec<AgentLeg>,
    /// `invite` with `assist = true`: what the listen-only bot transcribed while the caller
    /// was with the agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assist_transcripts: Vec<AssistLine>,
}

/// A line the listen-only bot (agent assist) transcribed while the caller was with an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistLine {
    /// Who spoke, as the bot said (`caller`, `agent`…).
    pub role: String,
    /// What was said.
    pub text: String,
    /// When the bot sent it (unix ms).
    pub at_ms: i64,
}

/// One call the `invite` profile placed to an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLeg {
    /// The Request-URI called.
    pub target: String,
    /// When the INVITE went out (unix ms).
    pub invite_ms: i64,
    /// When the agent answered (unix ms), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_ms: Option<i64>,
    /// When the agent's call ended (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// The final status of the INVITE (`200`, `486`, `487` after our CANCEL, `408`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How it ended: `answered`, `busy`, `no-answer`, `refused`, `agent-hangup`,
    /// `caller-hangup`…
    pub cause: String,
}

/// Result of an escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EscalationOutcome {
    /// The profile's hand-back completed (BYE sent, REFER accepted and NOTIFY 200, ...).
    Completed,
    /// The profile's primary method failed and its fallback was used (REFER → BYE).
    FellBack {
        /// What made the primary method fail (`603`, `notify timeout`, ...).
        cause: String,
    },
    /// The hand-back failed altogether.
    Failed {
        /// Why.
        cause: String,
    },
}

/// RTP statistics of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RtpCounters {
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets received.
    pub packets_received: u64,
    /// Packets lost (RFC 3550 cumulative loss, from sequence numbers).
    pub packets_lost: u64,
    /// Interarrival jitter at the end of the call, in milliseconds.
    pub jitter_ms: f64,
}

/// One turn of the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptLine {
    /// Who spoke.
    pub role: Role,
    /// What was said.
    pub text: String,
    /// When (unix ms).
    pub at_ms: i64,
}

/// Speaker of a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The caller (incoming).
    Caller,
    /// The bot (outgoing).
    Bot,
}

impl SessionRecord {
    /// Refuses what could be stored but not read back or indexed: empty keys, and a non-finite
    /// jitter (JSON has no NaN; serde_json would write `null` and fail to read it).
    pub(crate) fn validate(&self) -> Result<(), super::StoreError> {
        super::error::require_id("session id", &self.session_id)?;
        super::error::require_id("call id", &self.call_id)?;
        super::error::require_id("bot id", &self.bot_id)?;
        if let Some(rtp) = &self.rtp {
            if !rtp.jitter_ms.is_finite() {
                return Err(super::StoreError::Invalid(format!(
                    "session `{}`: jitter {} is not finite",
                    self.session_id, rtp.jitter_ms
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record written by an older node (optional fields absent) and one written by a newer
    /// node (fields we do not know) both decode: nodes of mixed versions share one Redis.
    #[test]
    fn json_is_forward_and_backward_compatible() {
        let old = r#"{"session_id":"s","call_id":"c","ingress":"talkdesk","did":"+1",
            "bot_id":"b","start_ms":1,"end_ms":2,"end_reason":"HangUp"}"#;
        let r: SessionRecord = serde_json::from_str(old).unwrap();
        assert_eq!(r.ingress, IngressKind::Talkdesk);
        assert!(r.transcript.is_empty() && r.escalation.is_none() && r.rtp.is_none());

        let mut newer: serde_json::Value = serde_json::to_value(&r).unwrap();
        newer["sentiment"] = serde_json::json!("positive");
        let back: SessionRecord = serde_json::from_value(newer).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn wire_names() {
        let e = Escalation {
            reason: "TransferToAgent".into(),
            target: None,
            profile: "refer".into(),
            outcome: EscalationOutcome::FellBack {
                cause: "timeout".into(),
            },
            at_ms: 5,
            variables: BTreeMap::new(),
            refer_to: Some("sip:agent@cc.example".into()),
            refer_status: None,
            agent_legs: Vec::new(),
            assist_transcripts: Vec::new(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v["outcome"],
            serde_json::json!({"kind": "fell_back", "cause": "timeout"})
        );
        assert_eq!(v["refer_to"], "sip:agent@cc.example");
        assert!(v.get("refer_status").is_none());
        // Records written before these fields existed still read.
        let old: Escalation = serde_json::from_value(serde_json::json!({
            "reason": "HangUp", "profile": "zoom-cc", "outcome": {"kind": "completed"}, "at_ms": 1
        }))
        .unwrap();
        assert_eq!((old.refer_to, old.refer_status), (None, None));
        assert_eq!(serde_json::to_value(Role::Caller).unwrap(), "caller");
        assert_eq!(serde_json::to_value(IngressKind::Sip).unwrap(), "sip");
    }

    #[test]
    fn validate_refuses_what_cannot_round_trip() {
        let mut r: SessionRecord = serde_json::from_str(
            r#"{"session_id":"s","call_id":"c","ingress":"sip","did":"+1","bot_id":"b",
                "start_ms":1,"end_ms":2,"end_reason":"HangUp"}"#,
        )
        .unwrap();
        r.validate().unwrap();
        r.rtp = Some(RtpCounters {
            jitter_ms: f64::INFINITY,
            ..RtpCounters::default()
        });
        assert!(r.validate().is_err());
        r.rtp = None;
        r.bot_id.clear();
        assert!(r.validate().is_err());
    }
}
