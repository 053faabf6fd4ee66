//! The fast path for Talkdesk's `media` events: fifty a second per stream, so they are read with
//! their strings borrowed from the frame (base64 and the track name never need unescaping),
//! which costs no allocation. Every other event, and any `media` this cannot read, goes through
//! the full [`voxgate_engine::ws::ToBot`] parser, which also produces the error for bad input.

use std::borrow::Cow;

use serde::Deserialize;

/// An event seen only as far as its name and, for `media`, its track and payload.
#[derive(Debug, Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    media: Option<MediaBody<'a>>,
}

#[derive(Debug, Deserialize)]
struct MediaBody<'a> {
    /// A track name with an escape in it does not deserialise as `&str`: such a frame takes
    /// the full parser.
    #[serde(borrow, default)]
    track: Option<&'a str>,
    #[serde(borrow)]
    payload: Cow<'a, str>,
}

/// A `media` event's track and base64 payload, borrowed from the text frame when possible.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct MediaRef<'a> {
    /// `inbound`, `outbound`… when given.
    pub(super) track: Option<&'a str>,
    /// Base64 µ-law.
    pub(super) payload: Cow<'a, str>,
}

/// The `media` event in `text`, or `None` when it is another event or not readable this way.
pub(super) fn media(text: &str) -> Option<MediaRef<'_>> {
    let peek: Peek<'_> = serde_json::from_str(text).ok()?;
    if peek.event != "media" {
        return None;
    }
    let body = peek.media?;
    Some(MediaRef {
        track: body.track,
        payload: body.payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_is_read_without_copies() {
        let text = r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1",
            "media":{"track":"inbound","chunk":"2","timestamp":"20","payload":"/w=="}}"#;
        let m = media(text).unwrap();
        assert!(matches!(m.payload, Cow::Borrowed("/w==")));
        assert_eq!(m.track, Some("inbound"));
    }

    #[test]
    fn other_events_and_bad_media_fall_through() {
        for text in [
            r#"{"event":"start","start":{}}"#,
            r#"{"event":"media"}"#,
            r#"{"event":"media","media":{}}"#,
            r#"{"event":"media","media":{"payload":5}}"#,
            "not json",
        ] {
            assert_eq!(media(text), None, "{text}");
        }
    }
}
