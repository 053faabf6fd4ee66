//! `stop` (both directions): the stream ends. Node → bot when the caller hung up or the call was
//! handed back; node → Talkdesk as the one final message of a Talkdesk stream, whose `command`
//! tells the Studio flow which exit to take; Talkdesk → node when the caller hung up.

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
    /// Node → Talkdesk only: the flow exit to take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<StopCommand>,
    /// Node → Talkdesk with [`StopCommand::Escalate`]: the ring group (escalation variable) the
    /// flow's Agent Escalation node routes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_group: Option<String>,
}

/// `stop.command`: how a Talkdesk stream ended, from the node's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopCommand {
    /// The bot finished the conversation (the flow's "ok" exit).
    Ok,
    /// The node could not serve the call (the flow's "failure" exit).
    Error,
    /// The caller goes to a human (the flow's "escalation" exit, with `ringGroup`).
    Escalate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalate_stop_has_talkdesk_field_names() {
        let stop = Stop {
            call_sid: "CA1".into(),
            command: Some(StopCommand::Escalate),
            ring_group: Some("agents".into()),
            ..Stop::default()
        };
        let text = serde_json::to_string(&stop).unwrap();
        assert!(text.contains(r#""command":"escalate""#), "{text}");
        assert!(text.contains(r#""ringGroup":"agents""#), "{text}");
        assert_eq!(serde_json::from_str::<Stop>(&text).unwrap(), stop);
    }

    #[test]
    fn a_bare_stop_parses() {
        let stop: Stop = serde_json::from_str(r#"{"accountSid":"AC1","callSid":"CA1"}"#).unwrap();
        assert_eq!(stop.command, None);
        assert_eq!(stop.ring_group, None);
    }
}
