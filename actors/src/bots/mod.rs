//! Bot legs. The demo bot of the default configuration lives inside the node, so that a fresh
//! install can take a call, play something, echo the caller and exercise both hand-backs
//! (escalation and hang-up) with no external bot at all; [`WsBot`] speaks the bot WebSocket
//! protocol to an external bot; [`SipBot`] calls a SIP bot (B2BUA). All follow the same contract ([`BotOwner`]).

pub mod builtin;
pub mod greeting;
pub mod sip;
pub mod websocket;
mod ws_media;
mod ws_wire;

pub use builtin::{BotOwner, BuiltinBot};
pub use sip::{SipBot, SipBotCall};
pub use websocket::{ListenOnly, RestartBot, StreamInfo, WsBot};

/// What became of a frame of bot audio sent toward the caller (a ring push or a `try_send`).
pub(crate) enum Sent {
    Taken,
    /// The next leg is behind: retry later or drop (and count).
    Full,
    /// The next leg is gone: the call is stopping the bot.
    Gone,
}

/// Why a bot leg could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The bot's configuration is not usable.
    #[error("builtin bot config: {0}")]
    Config(String),
    /// The bot's audio format cannot be encoded.
    #[error(transparent)]
    Codec(#[from] voxgate_codecs::CodecError),
}
