//! The typed messages the legs of a call exchange (ARCHITECTURE §2). Media frames carry their
//! samples inline ([`EncodedFrame`] is a fixed-size array), so the actor envelope is the only
//! allocation a frame costs; they are sent with `try_send` and dropped (and counted) when a
//! mailbox is full. Control messages are sent with `do_send`.

use std::collections::BTreeMap;

use actix::Message;
use voxgate_codecs::EncodedFrame;

/// Which leg of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegKind {
    /// The caller's side (SIP + RTP, or a Talkdesk WebSocket).
    Ingress,
    /// The format converter between ingress and bot.
    Transcoder,
    /// The bot (builtin, WebSocket or SIP).
    Bot,
    /// The hand-back performer.
    Escalation,
}

/// 20 ms of audio. Toward the bot it is in the bot's format; toward the caller in the
/// ingress codec's format (the transcoder converts between them).
///
/// A frame whose [`EncodedFrame`] has length 0 means "this frame was lost: conceal it" (the
/// RTP leg sends one for each gap its jitter buffer reports); the transcoder runs packet-loss
/// concealment for it instead of decoding.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct AudioFrame(pub EncodedFrame);

/// A DTMF digit, from the caller (RFC 4733 in) or to send to the caller (RFC 4733 out).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct Dtmf {
    /// `0-9`, `*`, `#`, `A-D`.
    pub digit: char,
    /// How long the key was (or is to be) pressed, in ms.
    pub duration_ms: u32,
}

/// A named point in the bot's audio: the ingress answers with [`MarkPlayed`] once everything
/// queued before it has been played to the caller.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct Mark(pub String);

/// The ingress played up to a [`Mark`].
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct MarkPlayed(pub String);

/// Barge-in: drop whatever audio is queued for the caller, now.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct Clear;

/// A line of the conversation, kept in the session record.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct Transcript {
    /// `caller` or `bot`.
    pub role: String,
    /// What was said.
    pub text: String,
}

/// The bot (or an API call) wants a human: hand the call back to the contact center.
#[derive(Message, Debug, Clone, Default, PartialEq)]
#[rtype(result = "()")]
pub struct Escalate {
    /// Why (`TransferToAgent`, `BotFailure`…), sent in the profile's reason header.
    pub reason: String,
    /// Where to (a number or SIP URI) for profiles that route (REFER, INVITE).
    pub target: Option<String>,
    /// Extra headers for the hand-back message.
    pub headers: Vec<(String, String)>,
    /// Variables for the contact center (Talkdesk `ringGroup`…).
    pub variables: BTreeMap<String, String>,
    /// Free-form data kept for the agent.
    pub metadata: serde_json::Value,
}

/// The bot (or an API call) ends the call.
#[derive(Message, Debug, Clone, Default, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct Hangup {
    /// Why (`HangUp`…), sent in the profile's reason header.
    pub reason: String,
    /// Extra headers for the BYE.
    pub headers: Vec<(String, String)>,
}

/// Why a leg stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitCause {
    /// It finished its job (caller hung up, bot said goodbye).
    Normal(String),
    /// It failed (socket error, bot unreachable, no media, a panic caught at its boundary).
    Failed(String),
}

/// A leg tells its call it has stopped.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct LegExited {
    /// Which leg.
    pub leg: LegKind,
    /// Why.
    pub cause: ExitCause,
}

/// The call tells a leg to stop (its `LegExited` follows).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct StopLeg;
