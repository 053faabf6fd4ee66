#![no_main]
//! Arbitrary text frames as media-stream events, both ways: node → bot (what a Talkdesk stream
//! sends the node, and what the node sends a WebSocket bot) and bot → node. Nothing may panic,
//! and whatever parses must print and parse again.

use voxgate_engine::ws::{FromBot, ToBot};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(event) = ToBot::parse(text) {
        ToBot::parse(&event.to_json()).expect("a printed ToBot parses again");
    }
    if let Ok(event) = FromBot::parse(text) {
        FromBot::parse(&event.to_json()).expect("a printed FromBot parses again");
    }
});
