//! The Talkdesk side of a stream's events: what the storm sends, written into one reused
//! buffer (a `media` event fifty times a second per stream costs no allocation of ours), and
//! what the node sends, read with borrowed strings.
//!
//! The spelling follows what Talkdesk sends (Twilio Media Streams field names, every number
//! a string); the node's own parser is the judge (`voxgate_engine::ws`).

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine as _;
use bytes::BytesMut;
use serde::Deserialize;
use tungstenite::{Message, Utf8Bytes};

use crate::signature::FRAME_SAMPLES;

/// Base64 length of one 160-byte frame.
const FRAME_B64: usize = FRAME_SAMPLES.div_ceil(3) * 4;
/// Room reserved for one event: the longest is `media` (~140 bytes of JSON around the
/// payload, with a stream sid of up to 64 bytes).
const EVENT_ROOM: usize = 512;

/// Writes the storm's events into one buffer that is reclaimed after every send: the frame
/// handed to the WebSocket borrows the buffer's memory, and once the socket layer has copied
/// it out, `reserve` finds the buffer unshared and reuses it.
#[derive(Debug, Default)]
pub struct EventWriter {
    buf: BytesMut,
}

/// The per-stream numbers an event carries.
#[derive(Debug, Clone, Copy)]
pub struct Numbering {
    /// `sequenceNumber` of the event.
    pub sequence: u64,
    /// `media.chunk` (1-based) of a `media` event.
    pub chunk: u64,
}

impl EventWriter {
    fn finish(&mut self) -> Message {
        let bytes = self.buf.split().freeze();
        // Everything written is JSON text built from `&str` and ASCII: valid UTF-8, so the
        // conversion cannot fail (an empty text would only be a stream the node rejects).
        Message::Text(Utf8Bytes::try_from(bytes).unwrap_or_else(|_| Utf8Bytes::from_static("")))
    }

    fn begin(&mut self) {
        self.buf.clear();
        self.buf.reserve(EVENT_ROOM);
    }

    /// Talkdesk's first event.
    pub fn connected(&mut self) -> Message {
        self.begin();
        self.buf
            .extend_from_slice(br#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#);
        self.finish()
    }

    /// `start` for stream `sid` (µ-law 8 kHz, inbound track), with the call and account sids.
    pub fn start(&mut self, sid: &str, account: &str) -> Message {
        self.begin();
        // fmt::Write on BytesMut only fails when it cannot grow, which aborts anyway.
        let _ = write!(
            self.buf,
            r#"{{"event":"start","sequenceNumber":"1","streamSid":"{sid}","start":{{"streamSid":"{sid}","callSid":"CA{sid}","accountSid":"{account}","tracks":["inbound"],"customParameters":{{"storm":"1"}},"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}}}}"#
        );
        self.finish()
    }

    /// One inbound `media` event carrying `frame` (µ-law) as base64.
    pub fn media(&mut self, sid: &str, n: Numbering, frame: &[u8; FRAME_SAMPLES]) -> Message {
        self.begin();
        let mut b64 = [0u8; FRAME_B64];
        // The buffer is exactly the base64 length of a frame: encoding cannot run short.
        let len = base64::engine::general_purpose::STANDARD
            .encode_slice(frame, &mut b64)
            .unwrap_or(0);
        let _ = write!(
            self.buf,
            r#"{{"event":"media","sequenceNumber":"{}","streamSid":"{sid}","media":{{"track":"inbound","chunk":"{}","timestamp":"{}","payload":""#,
            n.sequence,
            n.chunk,
            n.chunk.saturating_sub(1) * 20,
        );
        self.buf.extend_from_slice(&b64[..len]);
        self.buf.extend_from_slice(b"\"}}");
        self.finish()
    }

    /// A key press.
    pub fn dtmf(&mut self, sid: &str, sequence: u64, digit: char) -> Message {
        self.begin();
        let _ = write!(
            self.buf,
            r#"{{"event":"dtmf","sequenceNumber":"{sequence}","streamSid":"{sid}","dtmf":{{"track":"inbound_track","digit":"{digit}"}}}}"#
        );
        self.finish()
    }

    /// Talkdesk's own `stop`: the caller hung up.
    pub fn stop(&mut self, sid: &str, sequence: u64, account: &str) -> Message {
        self.begin();
        let _ = write!(
            self.buf,
            r#"{{"event":"stop","sequenceNumber":"{sequence}","streamSid":"{sid}","stop":{{"accountSid":"{account}","callSid":"CA{sid}"}}}}"#
        );
        self.finish()
    }
}

/// An event the node sent, as far as the storm reads it.
#[derive(Debug, Deserialize)]
pub struct NodeEvent<'a> {
    /// `media`, `mark`, `clear` or `stop`.
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    /// The `media` body.
    #[serde(borrow, default)]
    pub media: Option<NodeMedia<'a>>,
    /// The final `stop` body.
    #[serde(borrow, default)]
    pub stop: Option<NodeStop<'a>>,
}

/// `media.payload`: base64 µ-law.
#[derive(Debug, Deserialize)]
pub struct NodeMedia<'a> {
    /// Base64 audio.
    #[serde(borrow)]
    pub payload: Cow<'a, str>,
}

/// The node's `stop`: how the stream ends.
#[derive(Debug, Deserialize)]
pub struct NodeStop<'a> {
    /// `ok`, `error` or `escalate`.
    #[serde(borrow, default)]
    pub command: Option<Cow<'a, str>>,
    /// The escalation's ring group.
    #[serde(borrow, default, rename = "ringGroup")]
    pub ring_group: Option<Cow<'a, str>>,
}

impl<'a> NodeEvent<'a> {
    /// Parses one text frame; `None` when it is not such an event.
    pub fn parse(text: &'a str) -> Option<NodeEvent<'a>> {
        serde_json::from_str(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxgate_engine::ws::ToBot;

    fn text(m: &Message) -> String {
        match m {
            Message::Text(t) => t.as_str().to_owned(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn the_node_parses_what_the_storm_sends() {
        let mut w = EventWriter::default();
        assert!(matches!(
            ToBot::parse(&text(&w.connected())),
            Ok(ToBot::Connected(_))
        ));
        match ToBot::parse(&text(&w.start("MZ1-2", "storm"))) {
            Ok(ToBot::Start {
                stream_sid, start, ..
            }) => {
                assert_eq!(stream_sid, "MZ1-2");
                assert_eq!(start.call_sid, "CAMZ1-2");
                assert_eq!(start.media_format.encoding, "audio/x-mulaw");
            }
            other => panic!("{other:?}"),
        }
        let frame = [0x7Fu8; FRAME_SAMPLES];
        let n = Numbering {
            sequence: 3,
            chunk: 2,
        };
        match ToBot::parse(&text(&w.media("MZ1-2", n, &frame))) {
            Ok(ToBot::Media { media, .. }) => {
                assert_eq!(media.decode_payload().unwrap(), frame.to_vec());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ToBot::parse(&text(&w.dtmf("MZ1-2", 4, '0'))),
            Ok(ToBot::Dtmf { dtmf, .. }) if dtmf.digit == "0"
        ));
        assert!(matches!(
            ToBot::parse(&text(&w.stop("MZ1-2", 5, "storm"))),
            Ok(ToBot::Stop { .. })
        ));
    }

    #[test]
    fn the_buffer_is_reused_once_the_frame_is_gone() {
        let mut w = EventWriter::default();
        let frame = [0u8; FRAME_SAMPLES];
        let n = Numbering {
            sequence: 1,
            chunk: 1,
        };
        let first = w.media("MZ", n, &frame);
        let Message::Text(t) = &first else {
            panic!("text")
        };
        let at = t.as_str().as_ptr();
        drop(first);
        let second = w.media("MZ", n, &frame);
        let Message::Text(t) = &second else {
            panic!("text")
        };
        assert_eq!(t.as_str().as_ptr(), at, "same memory, no new allocation");
    }

    #[test]
    fn node_events_are_read_borrowed_and_junk_is_refused() {
        let e =
            NodeEvent::parse(r#"{"event":"media","streamSid":"MZ","media":{"payload":"AAEC"}}"#)
                .unwrap();
        assert_eq!(e.event, "media");
        assert!(matches!(e.media.unwrap().payload, Cow::Borrowed("AAEC")));
        let e = NodeEvent::parse(
            r#"{"event":"stop","stop":{"command":"escalate","ringGroup":"agents"}}"#,
        )
        .unwrap();
        let stop = e.stop.unwrap();
        assert_eq!(stop.command.as_deref(), Some("escalate"));
        assert_eq!(stop.ring_group.as_deref(), Some("agents"));
        assert!(NodeEvent::parse("{").is_none());
        assert!(NodeEvent::parse(r#"{"media":1}"#).is_none());
    }
}
