#![no_main]
//! Arbitrary bytes through the HTTP inputs of Digital Connect and the conversation details API.
//! Byte 0 picks the input: an event body of one of the five actions (validated, typed, then
//! applied to no conversation and to a started one), a conversation details body (parsed and
//! rendered on a sample record), or an OAuth2 token request (the first line is the
//! `Authorization` header, the rest the form body). Nothing may panic.

use serde_json::{json, Value};
use voxgate_engine::auth::oauth;
use voxgate_engine::digital_connect::{parse, Action, Applied, Event};
use voxgate_engine::session_details::{details, DetailsRequest};
use voxgate_engine::store::SessionRecord;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 7 {
        n @ 0..=4 => {
            let Ok(body) = serde_json::from_slice::<Value>(rest) else {
                return;
            };
            let Ok(event) = parse(Action::ALL[usize::from(n)], &body) else {
                return;
            };
            let _ = event.apply(None, 1);
            if let Ok(Applied::Changed { conversation, .. }) = started().apply(None, 1) {
                let _ = event.apply(Some(&conversation), 2);
            }
        }
        5 => {
            if let Ok(request) = DetailsRequest::parse(rest) {
                let _ = details(&record(), &request);
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            let (header, body) = text.split_once('\n').unwrap_or(("", &text));
            let header = (!header.is_empty()).then_some(header);
            let _ = oauth::parse_token_request(
                header,
                Some("application/x-www-form-urlencoded"),
                body.as_bytes(),
            );
            if let Some(h) = header {
                let _ = oauth::bearer_token(h);
            }
        }
    }
});

fn started() -> Event {
    let body = json!({"event_type": "conversation_started", "conversation_id": "c",
        "timestamp": "t", "payload": {"contact_person": {"email": "e"}, "user": {"name": "n"},
        "touchpoint": {"id": "tp"}}});
    parse(Action::ConversationStarted, &body).expect("a valid body")
}

fn record() -> SessionRecord {
    serde_json::from_value(json!({"session_id": "s", "call_id": "c", "ingress": "sip",
        "did": "+1", "bot_id": "b", "start_ms": 1, "end_ms": 2, "end_reason": "HangUp",
        "transcript": [{"role": "caller", "text": "hi", "at_ms": 1}]}))
    .expect("a valid record")
}
