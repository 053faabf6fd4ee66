//! The caller-audio `media` event toward a WebSocket bot, written straight into a buffer the
//! leg reuses: 50 a second per µ-law call, so it skips building a
//! [`voxgate_engine::ws::ToBot`] (four `String`s for its fields, two for the envelope, then
//! serde into a fifth) and allocates nothing per event. The JSON is the one `ToBot::Media`
//! serialises to (a test proves it).
//!
//! The bot's own `media` events, as many a second, are read the same way: the payload is
//! borrowed from the frame and decoded into a buffer the leg reuses, instead of building a
//! [`voxgate_engine::ws::FromBot`] (its strings) and a fresh `Vec` for the audio.

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine as _;
use serde::Deserialize;

/// The JSON string literal of a stream's `streamSid` (quoted and escaped), made once per
/// connection.
pub(crate) fn quoted(stream_sid: &str) -> String {
    // A `&str` always serialises.
    serde_json::to_string(stream_sid).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Writes `{"event":"media","sequenceNumber":…,"streamSid":…,"media":{"track":"inbound",…}}`
/// for `payload`, chunk `chunk` at `timestamp_ms`, into `json` (cleared first, its capacity
/// reused); `quoted_sid` comes from [`quoted`].
pub(crate) fn inbound_media(
    json: &mut String,
    sequence: u64,
    quoted_sid: &str,
    chunk: u64,
    timestamp_ms: u64,
    payload: &[u8],
) {
    json.clear();
    json.reserve(128 + quoted_sid.len() + payload.len().div_ceil(3) * 4);
    // Writing to a `String` cannot fail.
    let _ = write!(
        json,
        r#"{{"event":"media","sequenceNumber":"{sequence}","streamSid":{quoted_sid},"media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{timestamp_ms}","payload":""#
    );
    base64::engine::general_purpose::STANDARD.encode_string(payload, json);
    json.push_str("\"}}");
}

/// Just what a bot's `media` event carries that matters, borrowed from its text where no JSON
/// escape is in the way.
#[derive(Deserialize)]
struct BotMedia<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    media: Option<BotPayload<'a>>,
}

#[derive(Deserialize)]
struct BotPayload<'a> {
    #[serde(borrow)]
    payload: Cow<'a, str>,
}

/// When `text` is a bot's `media` event, decodes its audio into `audio` (cleared first, its
/// capacity reused): `Some(Ok)`, or `Some(Err)` with why the payload is not base64. `None` for
/// any other event, and for text this does not read as a `media` event: the caller parses those
/// whole ([`voxgate_engine::ws::FromBot::parse`]), which also names what is wrong.
pub(crate) fn bot_media_into(text: &str, audio: &mut Vec<u8>) -> Option<Result<(), String>> {
    let event: BotMedia<'_> = serde_json::from_str(text).ok()?;
    if event.event != "media" {
        return None;
    }
    let payload = event.media?.payload;
    audio.clear();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode_vec(payload.as_bytes(), audio)
            .map_err(|e| e.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxgate_engine::ws::{FromBot, Media, ToBot};

    #[test]
    fn same_json_as_the_serde_event() {
        for (sid, payload) in [
            ("MZabc-123g1", &[0xFFu8; 160][..]),
            ("MZ\"odd\\sid\u{1}g7", &[0, 1, 2, 250][..]),
            ("", &[][..]),
        ] {
            let mut ours = String::from("left over from the last event");
            inbound_media(&mut ours, 42, &quoted(sid), 41, 800, payload);
            let serde = ToBot::Media {
                sequence_number: "42".into(),
                stream_sid: sid.into(),
                media: Media::inbound(payload, 41, 800),
            }
            .to_json();
            let ours: serde_json::Value = serde_json::from_str(&ours).unwrap();
            let serde: serde_json::Value = serde_json::from_str(&serde).unwrap();
            assert_eq!(ours, serde, "{sid:?}");
        }
    }

    /// The in-place reading gives the audio the full parse gives, for every `media` event, and
    /// leaves every other text to the full parse.
    #[test]
    fn bot_media_reads_as_the_full_parse() {
        let mut audio = vec![9u8; 3];
        for text in [
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"AAEC/w=="}}"#,
            // Key order, extra fields, an escaped slash (the payload cannot be borrowed).
            r#"{"media":{"track":"outbound","payload":"AAEC\/w=="},"event":"media","x":1}"#,
            r#"{"event":"media","media":{"payload":""}}"#,
        ] {
            let full = match FromBot::parse(text).unwrap() {
                FromBot::Media { media, .. } => media.decode_payload().unwrap(),
                other => panic!("{other:?}"),
            };
            assert_eq!(bot_media_into(text, &mut audio), Some(Ok(())), "{text}");
            assert_eq!(audio, full, "{text}");
        }
        let bad = r#"{"event":"media","media":{"payload":"not base64!"}}"#;
        assert!(matches!(bot_media_into(bad, &mut audio), Some(Err(_))));
        for text in [
            r#"{"event":"mark","mark":{"name":"m"}}"#,
            r#"{"event":"clear"}"#,
            r#"{"event":"media"}"#,
            r#"{"event":"media","media":{"payload":5}}"#,
            "not json",
        ] {
            assert_eq!(bot_media_into(text, &mut audio), None, "{text}");
        }
    }
}
