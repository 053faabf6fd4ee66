//! `start` (node → bot): who the call is and which audio format the stream carries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `mediaFormat.encoding` of G.711 µ-law 8 kHz, base64 in JSON `media` events.
pub const ENCODING_MULAW: &str = "audio/x-mulaw";
/// `mediaFormat.encoding` of 16-bit linear PCM, big-endian (RFC 2586), 16 kHz, in binary frames.
pub const ENCODING_L16: &str = "audio/l16";

/// Body of `start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    /// The account (the node's trunk or Talkdesk account).
    #[serde(default)]
    pub account_sid: String,
    /// This stream's id; every later event repeats it.
    pub stream_sid: String,
    /// The call's id (our session id).
    pub call_sid: String,
    /// Tracks sent to the bot: `["inbound"]`.
    #[serde(default)]
    pub tracks: Vec<String>,
    /// Free-form parameters from the configuration and the call (DID, caller, trunk…).
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
    /// The audio format of `media` in both directions (µ-law 8 kHz when absent, as on Twilio
    /// and Talkdesk streams, which carry nothing else).
    #[serde(default = "MediaFormat::mulaw")]
    pub media_format: MediaFormat,
}

/// `start.mediaFormat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// [`ENCODING_MULAW`] or [`ENCODING_L16`].
    pub encoding: String,
    /// 8000 for µ-law, 16000 for L16.
    pub sample_rate: u32,
    /// Always 1.
    pub channels: u8,
}

impl MediaFormat {
    /// µ-law 8 kHz mono (Twilio's only format).
    pub fn mulaw() -> Self {
        MediaFormat {
            encoding: ENCODING_MULAW.into(),
            sample_rate: 8000,
            channels: 1,
        }
    }

    /// L16 16 kHz mono.
    pub fn l16() -> Self {
        MediaFormat {
            encoding: ENCODING_L16.into(),
            sample_rate: 16000,
            channels: 1,
        }
    }
}
