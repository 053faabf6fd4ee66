//! The bot WebSocket protocol (ARCHITECTURE §3): Twilio Media Streams events, so a bot written
//! for Twilio or Talkdesk streams works unchanged, plus three control events of our own
//! (`transfer`, `hangup`, `transcript`). One file per event body; this module holds the two
//! envelopes, [`ToBot`] (node → bot) and [`FromBot`] (bot → node), tagged by `"event"`.
//!
//! Parsing is strict about what it needs (the event name and its body) and lenient about the
//! rest: unknown fields are ignored, as Twilio's own clients do, so a bot that sends extra
//! fields still works. Nothing here panics on input; malformed text is a [`WsError`].
//!
//! A Talkdesk voice stream is the same protocol with the node in the bot's seat: Talkdesk sends
//! [`ToBot`] events (`connected`, `start`, `media`, `dtmf`, `mark`, `stop`), the node answers with
//! [`FromBot`] `media`/`mark`/`clear` and one final [`ToBot::Stop`] whose body carries
//! [`StopCommand`] and the ring group. `sequenceNumber` and `streamSid` default to empty when a
//! sender leaves them out.

pub mod clear;
pub mod connected;
pub mod dtmf;
pub mod hangup;
pub mod mark;
pub mod media;
pub mod start;
pub mod stop;
pub mod transcript;
pub mod transfer;

use serde::{Deserialize, Serialize};

pub use clear::Clear;
pub use connected::Connected;
pub use dtmf::Dtmf;
pub use hangup::Hangup;
pub use mark::Mark;
pub use media::Media;
pub use start::{MediaFormat, Start};
pub use stop::{Stop, StopCommand};
pub use transcript::Transcript;
pub use transfer::Transfer;

/// Why a text frame is not a protocol event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WsError {
    /// Not JSON, not an object with a known `event`, or a body missing a required field.
    #[error("malformed event: {0}")]
    Json(#[from] serde_json::Error),
    /// A `media` payload that is not base64.
    #[error("media payload is not base64: {0}")]
    Payload(String),
}

/// An event the node sends to the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum ToBot {
    /// The first message of a stream.
    Connected(Connected),
    /// The call and its audio format.
    Start {
        /// Position of this event in the stream, from 1.
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: String,
        /// The stream.
        #[serde(rename = "streamSid", default)]
        stream_sid: String,
        /// The body.
        start: Start,
    },
    /// Caller audio.
    Media {
        /// Position of this event in the stream.
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: String,
        /// The stream.
        #[serde(rename = "streamSid", default)]
        stream_sid: String,
        /// The body.
        media: Media,
    },
    /// A caller key press.
    Dtmf {
        /// Position of this event in the stream.
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: String,
        /// The stream.
        #[serde(rename = "streamSid", default)]
        stream_sid: String,
        /// The body.
        dtmf: Dtmf,
    },
    /// A bot mark has been played.
    Mark {
        /// Position of this event in the stream.
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: String,
        /// The stream.
        #[serde(rename = "streamSid", default)]
        stream_sid: String,
        /// The body.
        mark: Mark,
    },
    /// The stream ends.
    Stop {
        /// Position of this event in the stream.
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: String,
        /// The stream.
        #[serde(rename = "streamSid", default)]
        stream_sid: String,
        /// The body.
        stop: Stop,
    },
}

/// An event a bot sends to the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum FromBot {
    /// Bot audio for the caller.
    Media {
        /// The stream (checked by nobody; Twilio bots send it).
        #[serde(rename = "streamSid", default, skip_serializing_if = "Option::is_none")]
        stream_sid: Option<String>,
        /// The body.
        media: Media,
    },
    /// A point in the bot audio to be told about once played.
    Mark {
        /// The stream.
        #[serde(rename = "streamSid", default, skip_serializing_if = "Option::is_none")]
        stream_sid: Option<String>,
        /// The body.
        mark: Mark,
    },
    /// Barge-in: drop the unplayed bot audio.
    Clear {
        /// The stream.
        #[serde(rename = "streamSid", default, skip_serializing_if = "Option::is_none")]
        stream_sid: Option<String>,
    },
    /// Hand the caller to a human.
    Transfer {
        /// The stream.
        #[serde(rename = "streamSid", default, skip_serializing_if = "Option::is_none")]
        stream_sid: Option<String>,
        /// The body.
        transfer: Transfer,
    },
    /// End the call.
    Hangup {
        /// The stream.
        #[serde(rename = "streamSid", default, skip_serializing_if = "Option::is_none")]
        stream_sid: Option<String>,
        /// The body.
        hangup: Hangup,
    },
    /// A conversation line for the session record.
    Transcript {
        /// The stream.
        #[serde(rename = "streamSid", default, skip_serializing_if = "Option::is_none")]
        stream_sid: Option<String>,
        /// The body.
        transcript: Transcript,
    },
}

impl ToBot {
    /// Parses a node → bot text frame (what a bot does).
    pub fn parse(text: &str) -> Result<ToBot, WsError> {
        Ok(serde_json::from_str(text)?)
    }

    /// The JSON text frame.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs (string keys, no maps with non-string keys, no
        // floats) cannot fail.
        serde_json::to_string(self).expect("ToBot serialises")
    }
}

impl FromBot {
    /// Parses a bot → node text frame.
    pub fn parse(text: &str) -> Result<FromBot, WsError> {
        Ok(serde_json::from_str(text)?)
    }

    /// The JSON text frame (what a bot sends).
    pub fn to_json(&self) -> String {
        // As for `ToBot`, except `metadata`, a `serde_json::Value`, which always serialises.
        serde_json::to_string(self).expect("FromBot serialises")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn round_trip_to_bot(e: ToBot) {
        let text = e.to_json();
        assert_eq!(ToBot::parse(&text).unwrap(), e, "{text}");
        drop(e);
    }

    fn round_trip_from_bot(e: FromBot) {
        let text = e.to_json();
        assert_eq!(FromBot::parse(&text).unwrap(), e, "{text}");
        drop(e);
    }

    #[test]
    fn node_events_round_trip() {
        round_trip_to_bot(ToBot::Connected(Connected::default()));
        round_trip_to_bot(ToBot::Start {
            sequence_number: "1".into(),
            stream_sid: "MZ1".into(),
            start: Start {
                account_sid: "local".into(),
                stream_sid: "MZ1".into(),
                call_sid: "CA1".into(),
                tracks: vec!["inbound".into()],
                custom_parameters: BTreeMap::from([("did".into(), "+1555".into())]),
                media_format: MediaFormat::l16(),
            },
        });
        round_trip_to_bot(ToBot::Media {
            sequence_number: "2".into(),
            stream_sid: "MZ1".into(),
            media: Media::inbound(&[0xff; 160], 1, 0),
        });
        round_trip_to_bot(ToBot::Dtmf {
            sequence_number: "3".into(),
            stream_sid: "MZ1".into(),
            dtmf: Dtmf::inbound('0'),
        });
        round_trip_to_bot(ToBot::Mark {
            sequence_number: "4".into(),
            stream_sid: "MZ1".into(),
            mark: Mark { name: "m".into() },
        });
        round_trip_to_bot(ToBot::Stop {
            sequence_number: "5".into(),
            stream_sid: "MZ1".into(),
            stop: Stop {
                call_sid: "CA1".into(),
                reason: Some("CallerHangUp".into()),
                ..Stop::default()
            },
        });
    }

    #[test]
    fn bot_events_round_trip() {
        round_trip_from_bot(FromBot::Media {
            stream_sid: Some("MZ1".into()),
            media: Media::outbound(&[1, 2, 3]),
        });
        round_trip_from_bot(FromBot::Mark {
            stream_sid: None,
            mark: Mark { name: "end".into() },
        });
        round_trip_from_bot(FromBot::Clear { stream_sid: None });
        round_trip_from_bot(FromBot::Transfer {
            stream_sid: None,
            transfer: Transfer {
                reason: "TransferToAgent".into(),
                target: Some("sip:agents@cc".into()),
                headers: BTreeMap::from([("X-Queue".into(), "billing".into())]),
                variables: BTreeMap::from([("ringGroup".into(), "agents".into())]),
                metadata: serde_json::json!({"intent": "billing", "score": 3}),
            },
        });
        round_trip_from_bot(FromBot::Hangup {
            stream_sid: None,
            hangup: Hangup {
                reason: "HangUp".into(),
                headers: BTreeMap::new(),
            },
        });
        round_trip_from_bot(FromBot::Transcript {
            stream_sid: None,
            transcript: Transcript {
                role: "bot".into(),
                text: "hello".into(),
            },
        });
    }

    #[test]
    fn field_names_are_twilios() {
        let text = ToBot::Start {
            sequence_number: "1".into(),
            stream_sid: "MZ1".into(),
            start: Start {
                account_sid: "a".into(),
                stream_sid: "MZ1".into(),
                call_sid: "CA1".into(),
                tracks: vec![],
                custom_parameters: BTreeMap::new(),
                media_format: MediaFormat::mulaw(),
            },
        }
        .to_json();
        for key in [
            "\"event\":\"start\"",
            "\"sequenceNumber\":\"1\"",
            "\"streamSid\"",
            "\"callSid\"",
            "\"accountSid\"",
            "\"customParameters\"",
            "\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1}",
        ] {
            assert!(text.contains(key), "{key} missing in {text}");
        }
    }

    #[test]
    fn a_twilio_bot_message_parses() {
        // As Twilio documents them, with fields we do not use.
        let media = r#"{"event":"media","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0",
            "media":{"payload":"AAEC","track":"outbound","extra":1}}"#;
        let FromBot::Media { media, .. } = FromBot::parse(media).unwrap() else {
            panic!("not media");
        };
        assert_eq!(media.decode_payload().unwrap(), vec![0, 1, 2]);
        let clear = r#"{"event":"clear","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}"#;
        assert!(matches!(FromBot::parse(clear), Ok(FromBot::Clear { .. })));
        let transfer = r#"{"event":"transfer","transfer":{"reason":"TransferToAgent"}}"#;
        let FromBot::Transfer { transfer, .. } = FromBot::parse(transfer).unwrap() else {
            panic!("not transfer");
        };
        assert!(transfer.headers.is_empty() && transfer.target.is_none());
    }

    #[test]
    fn malformed_input_is_an_error() {
        for text in [
            "",
            "null",
            "[]",
            "{}",
            "not json",
            r#"{"event":"nonsense"}"#,
            r#"{"event":"media"}"#,
            r#"{"event":"media","media":{}}"#,
            r#"{"event":"media","media":{"payload":5}}"#,
            r#"{"event":"mark","mark":{}}"#,
            r#"{"event":"transfer","transfer":{"reason":1}}"#,
            r#"{"event":"transcript","transcript":{"role":"bot"}}"#,
            r#"{"event":"hangup"}"#,
            r#"{"event":"#,
            &"[".repeat(10_000),
        ] {
            assert!(FromBot::parse(text).is_err(), "{text:.60}");
            assert!(ToBot::parse(text).is_err(), "{text:.60}");
        }
        let bad_payload = Media {
            payload: "***".into(),
            ..Media::default()
        };
        assert!(matches!(
            bad_payload.decode_payload(),
            Err(WsError::Payload(_))
        ));
    }
}
