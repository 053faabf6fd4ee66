//! `media` (both directions): a chunk of audio, base64 in `payload`.
//!
//! Node → bot, every field is set (`track` = `inbound`, `chunk` and `timestamp` count from 1 and
//! from 0 ms, as strings like Twilio's). Bot → node only `payload` matters and may hold any
//! number of bytes: the node re-cuts it into 20 ms frames.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Body of `media`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Media {
    /// `inbound` (caller audio) toward the bot; absent or `outbound` from the bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<String>,
    /// Chunk number, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<String>,
    /// Milliseconds since the stream started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Base64 of the audio bytes in the stream's `mediaFormat`.
    pub payload: String,
}

impl Media {
    /// A node → bot chunk: `bytes` of caller audio, chunk `chunk` at `timestamp_ms`.
    pub fn inbound(bytes: &[u8], chunk: u64, timestamp_ms: u64) -> Self {
        Media {
            track: Some("inbound".into()),
            chunk: Some(chunk.to_string()),
            timestamp: Some(timestamp_ms.to_string()),
            payload: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// A bot → node chunk carrying `bytes`.
    pub fn outbound(bytes: &[u8]) -> Self {
        Media {
            payload: base64::engine::general_purpose::STANDARD.encode(bytes),
            ..Media::default()
        }
    }

    /// The audio bytes; an error when `payload` is not base64.
    pub fn decode_payload(&self) -> Result<Vec<u8>, super::WsError> {
        base64::engine::general_purpose::STANDARD
            .decode(self.payload.as_bytes())
            .map_err(|e| super::WsError::Payload(e.to_string()))
    }
}
