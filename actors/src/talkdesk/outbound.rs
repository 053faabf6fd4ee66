//! The text frames the node sends on a Talkdesk stream: `media`, `mark`, `clear` and the final
//! `stop` ([`voxgate_engine::ws`] types, Twilio field names).
//!
//! `media` goes out fifty times a second per stream, so it is written by hand into one string
//! sized up front (the frame handed to the socket is the only allocation it costs) instead of
//! through the serde types; a unit test holds the two spellings together. The rare control
//! events go through serde.

use base64::Engine as _;
use voxgate_engine::ws::{self, FromBot, ToBot};

/// Builds the node's events for one stream.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    /// `"streamSid":"…",` with the sid JSON-escaped once.
    sid_field: String,
    stream_sid: String,
    sequence: u64,
}

impl Outbound {
    /// Events for the stream `stream_sid` (as Talkdesk named it in `start`).
    pub(crate) fn new(stream_sid: &str) -> Self {
        // Serialising a &str cannot fail.
        let quoted = serde_json::to_string(stream_sid).unwrap_or_else(|_| "\"\"".into());
        Outbound {
            sid_field: format!("\"streamSid\":{quoted},"),
            stream_sid: stream_sid.to_owned(),
            sequence: 0,
        }
    }

    /// A `media` event carrying `audio` (µ-law bytes) as base64.
    pub(crate) fn media(&self, audio: &[u8]) -> String {
        const HEAD: &str = "{\"event\":\"media\",";
        const BODY: &str = "\"media\":{\"payload\":\"";
        const TAIL: &str = "\"}}";
        let b64 = audio.len().div_ceil(3) * 4;
        let mut text = String::with_capacity(
            HEAD.len() + self.sid_field.len() + BODY.len() + b64 + TAIL.len(),
        );
        text.push_str(HEAD);
        text.push_str(&self.sid_field);
        text.push_str(BODY);
        base64::engine::general_purpose::STANDARD.encode_string(audio, &mut text);
        text.push_str(TAIL);
        text
    }

    /// A `mark` event: the audio sent before it has been played out.
    pub(crate) fn mark(&self, name: &str) -> String {
        FromBot::Mark {
            stream_sid: Some(self.stream_sid.clone()),
            mark: ws::Mark {
                name: name.to_owned(),
            },
        }
        .to_json()
    }

    /// A `clear` event: Talkdesk drops the audio it has buffered.
    pub(crate) fn clear(&self) -> String {
        FromBot::Clear {
            stream_sid: Some(self.stream_sid.clone()),
        }
        .to_json()
    }

    /// The final `stop` with its `command` (and `ringGroup` for an escalation).
    pub(crate) fn stop(&mut self, stop: ws::Stop) -> String {
        self.sequence += 1;
        ToBot::Stop {
            sequence_number: self.sequence.to_string(),
            stream_sid: self.stream_sid.clone(),
            stop,
        }
        .to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_is_a_twilio_media_event() {
        let out = Outbound::new("MZ\"1");
        let text = out.media(&[0xff, 0x00, 0x7f, 1]);
        let FromBot::Media { stream_sid, media } = FromBot::parse(&text).unwrap() else {
            panic!("not media: {text}");
        };
        assert_eq!(stream_sid.as_deref(), Some("MZ\"1"));
        assert_eq!(media.decode_payload().unwrap(), vec![0xff, 0x00, 0x7f, 1]);
        assert_eq!(text.len(), text.capacity(), "sized up front");
    }

    #[test]
    fn stop_carries_command_and_ring_group() {
        let mut out = Outbound::new("MZ1");
        let text = out.stop(ws::Stop {
            call_sid: "CA1".into(),
            command: Some(ws::StopCommand::Escalate),
            ring_group: Some("agents".into()),
            ..ws::Stop::default()
        });
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"], "stop");
        assert_eq!(v["streamSid"], "MZ1");
        assert_eq!(v["stop"]["command"], "escalate");
        assert_eq!(v["stop"]["ringGroup"], "agents");
        let mark: serde_json::Value = serde_json::from_str(&out.mark("m1")).unwrap();
        assert_eq!(mark["mark"]["name"], "m1");
        let clear: serde_json::Value = serde_json::from_str(&out.clear()).unwrap();
        assert_eq!(clear["event"], "clear");
    }
}
