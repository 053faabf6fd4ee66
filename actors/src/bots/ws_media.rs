//! The caller-audio `media` event toward a WebSocket bot, written straight into a buffer the
//! leg reuses: 50 a second per µ-law call, so it skips building a
//! [`voxgate_engine::ws::ToBot`] (four `String`s for its fields, two for the envelope, then
//! serde into a fifth) and allocates nothing per event. The JSON is the one `ToBot::Media`
//! serialises to (a test proves it).

use std::fmt::Write as _;

use base64::Engine as _;

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

#[cfg(test)]
mod tests {
    use super::*;
    use voxgate_engine::ws::{Media, ToBot};

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
}
