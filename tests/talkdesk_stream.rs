//! A Talkdesk voice stream against the default configuration (builtin `demo` bot), with a real
//! WebSocket client playing Talkdesk: the caller's tone comes back as `media` byte for byte,
//! paced at 20 ms; DTMF `0` ends the stream with exactly one `stop` carrying `command: escalate`
//! and `ringGroup: agents`, recorded in the session record; `#` ends it with `stop` `ok`;
//! Talkdesk's own `stop` ends it with nothing sent back; agent-assist streams hear nothing and
//! escalate nothing; bad frames close the stream with a reason and the node goes on.

mod common;
use std::time::Duration;

use common::talkdesk::{Event, Stream};
use common::{session_records, tone_frame, wait_until, Node, DEFAULT_TOML};
use voxgate_engine::store::IngressKind;

#[test]
fn builtin_bot_echo_comes_back_as_media() {
    let node = Node::start(DEFAULT_TOML);
    let mut s = Stream::open_demo(&node, "+15550100", "&agentassist=false");
    s.start("MZecho");
    // 3 s of tone: the greeting (660 ms) plays first, then the echo.
    s.play(150, tone_frame);
    // Then 200 ms in one `media` event (1600 bytes: decoded in two pieces, cut into frames).
    let batch: Vec<u8> = (150..160).flat_map(tone_frame).collect();
    s.send_media(&batch);
    s.pump(Duration::from_millis(600));
    let sent: std::collections::HashSet<Vec<u8>> = (0..150).map(tone_frame).collect();
    let batch_back = (150..160)
        .filter(|n| s.media_payloads().contains(&tone_frame(*n)))
        .count();
    assert_eq!(
        batch_back, 10,
        "every frame of the batched media event echoed"
    );
    let media = s.media_payloads();
    assert!(media.iter().all(|p| p.len() == 160), "160-byte frames");
    let echoed = media.iter().filter(|p| sent.contains(*p)).count();
    assert!(
        echoed >= 80,
        "{echoed} of {} media frames are the caller's tone byte for byte",
        media.len()
    );
    // The greeting's mark comes back to Talkdesk after the greeting audio.
    let first_mark = s
        .received
        .iter()
        .position(|e| matches!(e, Event::Json(v) if v["event"] == "mark"))
        .expect("a mark after the greeting");
    let media_before = s.received[..first_mark]
        .iter()
        .filter(|e| matches!(e, Event::Json(v) if v["event"] == "media"))
        .count();
    assert_eq!(media_before, 33, "the 660 ms greeting precedes its mark");
    // Paced: not much more than one frame per 20 ms left the node.
    assert!(
        media.len() <= 3500 / 20 + 5,
        "{} frames in 3.5 s",
        media.len()
    );
    assert!(
        s.events("stop").is_empty(),
        "no stop while the call goes on"
    );

    s.send_stop();
    assert!(
        s.wait_closed(Duration::from_secs(5)),
        "closed after Talkdesk's stop"
    );
    assert!(
        s.events("stop").is_empty(),
        "nothing sent back on the caller's stop"
    );
    assert!(wait_until(Duration::from_secs(5), || {
        session_records(&node)
            .iter()
            .any(|r| r.end_reason == "CallerHangUp" && r.ingress == IngressKind::Talkdesk)
    }));
    let r = session_records(&node).pop().unwrap();
    assert_eq!(r.call_id, "CA-MZecho");
    assert_eq!(r.did, "+15550100");
    assert_eq!(r.contact_id.as_deref(), Some("MZecho"));
    assert_eq!(r.account_id.as_deref(), Some("acct-test"));
    assert!(r.escalation.is_none());
}

#[test]
fn dtmf_zero_escalates_with_the_ring_group() {
    let node = Node::start(DEFAULT_TOML);
    let mut s = Stream::open_demo(&node, "+15550100", "");
    s.start("MZesc");
    s.play(10, tone_frame);
    s.send_dtmf("0");
    assert!(
        s.wait_closed(Duration::from_secs(5)),
        "closed after escalation"
    );
    let stops = s.events("stop");
    assert_eq!(stops.len(), 1, "exactly one stop: {:?}", s.received);
    assert_eq!(stops[0]["streamSid"], "MZesc");
    assert_eq!(stops[0]["stop"]["command"], "escalate");
    assert_eq!(stops[0]["stop"]["ringGroup"], "agents");
    assert_eq!(stops[0]["stop"]["callSid"], "CA-MZesc");
    // The bot barged in before escalating: `clear` first, and no bot audio after it.
    let clear_at = s
        .received
        .iter()
        .position(|e| matches!(e, Event::Json(v) if v["event"] == "clear"))
        .expect("a clear before the hand-back");
    assert!(s.received[clear_at..]
        .iter()
        .all(|e| !matches!(e, Event::Json(v) if v["event"] == "media")));
    // The stop is the last event before the close.
    assert!(matches!(s.received.last(), Some(Event::Close(1000, _))));
    assert!(matches!(&s.received[s.received.len() - 2], Event::Json(v) if v["event"] == "stop"));
    assert!(wait_until(Duration::from_secs(5), || !session_records(
        &node
    )
    .is_empty()));
    let r = session_records(&node).pop().unwrap();
    assert_eq!(r.ingress, IngressKind::Talkdesk);
    assert_eq!(r.dtmf, "0");
    let esc = r.escalation.expect("escalation recorded");
    assert_eq!(esc.reason, "TransferToAgent");
    assert_eq!(esc.profile, "talkdesk");
    assert_eq!(esc.target.as_deref(), Some("agents"));
}

#[test]
fn ring_group_is_the_bots_escalation_variable() {
    // The bot's variable wins over `[talkdesk] default_ring_group` (still "agents").
    let config = DEFAULT_TOML.replace("\nringGroup = \"agents\"", "\nringGroup = \"billing\"");
    let node = Node::start(&config);
    let mut s = Stream::open_demo(&node, "+15550100", "");
    s.start("MZbilling");
    s.send_dtmf("0");
    assert!(s.wait_closed(Duration::from_secs(5)));
    assert_eq!(s.events("stop")[0]["stop"]["ringGroup"], "billing");
}

#[test]
fn bot_hang_up_ends_with_stop_ok() {
    let node = Node::start(DEFAULT_TOML);
    let mut s = Stream::open_demo(&node, "+15550100", "");
    s.start("MZbye");
    s.send_dtmf("#");
    assert!(s.wait_closed(Duration::from_secs(5)));
    let stops = s.events("stop");
    assert_eq!(stops.len(), 1, "{:?}", s.received);
    assert_eq!(stops[0]["stop"]["command"], "ok");
    assert!(stops[0]["stop"].get("ringGroup").is_none());
    assert!(wait_until(Duration::from_secs(5), || !session_records(
        &node
    )
    .is_empty()));
    let r = session_records(&node).pop().unwrap();
    assert_eq!(r.end_reason, "HangUp");
    assert!(r.escalation.is_none());
}

#[test]
fn agent_assist_is_listen_only() {
    let node = Node::start(DEFAULT_TOML);
    let mut s = Stream::open_demo(&node, "+15550100", "&agentassist=true");
    s.start("MZassist");
    s.play(60, tone_frame);
    s.send_dtmf("0");
    s.pump(Duration::from_millis(500));
    assert!(
        s.media_payloads().is_empty(),
        "no audio back on agent assist"
    );
    assert!(s.events("stop").is_empty(), "escalation ignored");
    s.send_stop();
    assert!(s.wait_closed(Duration::from_secs(5)));
    assert!(wait_until(Duration::from_secs(5), || !session_records(
        &node
    )
    .is_empty()));
    let r = session_records(&node).pop().unwrap();
    let esc = r.escalation.expect("the ignored request is recorded");
    assert!(
        matches!(esc.outcome, voxgate_engine::store::EscalationOutcome::Failed { ref cause } if cause.contains("agentassist")),
        "{esc:?}"
    );
    assert_eq!(r.end_reason, "CallerHangUp");
}

#[test]
fn malformed_json_closes_with_a_reason_and_the_node_still_serves() {
    let node = Node::start(DEFAULT_TOML);
    let mut s = Stream::open_demo(&node, "+15550100", "");
    s.start("MZbad");
    s.send_text(r#"{"event":"nonsense"}"#);
    s.send_text("{this is not json");
    assert!(s.wait_closed(Duration::from_secs(5)));
    let (code, reason) = s.close_frame().expect("a close frame");
    assert_eq!(code, 1007, "invalid payload data");
    assert!(reason.contains("malformed"), "{reason}");
    let stops = s.events("stop");
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0]["stop"]["command"], "error");
    assert!(node.metric("voxgate_talkdesk_bad_frames_total{kind=\"malformed\"}") >= 1.0);
    assert!(node.metric("voxgate_talkdesk_bad_frames_total{kind=\"unknown_event\"}") >= 1.0);

    // A binary frame is refused the same way.
    let mut b = Stream::open_demo(&node, "+15550100", "");
    b.start("MZbin");
    b.send_binary(vec![1, 2, 3]);
    assert!(b.wait_closed(Duration::from_secs(5)));
    assert_eq!(b.close_frame().map(|c| c.0), Some(1003));

    // An oversized frame (default limit 64 KiB) is refused with 1009.
    let mut o = Stream::open_demo(&node, "+15550100", "");
    o.start("MZbig");
    o.send_text(&format!(
        "{{\"event\":\"media\",\"pad\":\"{}\"}}",
        "x".repeat(70_000)
    ));
    assert!(o.wait_closed(Duration::from_secs(5)));
    assert_eq!(o.close_frame().map(|c| c.0), Some(1009));

    // A format other than µ-law 8 kHz is refused with 1003 and a reason that fits the frame.
    let mut f = Stream::open_demo(&node, "+15550100", "");
    let encoding = format!("audio/{}", "x".repeat(300));
    f.send_text(
        &serde_json::json!({"event": "start", "streamSid": "MZfmt", "start": {
            "streamSid": "MZfmt", "callSid": "CA1",
            "mediaFormat": {"encoding": encoding, "sampleRate": 8000, "channels": 1}}})
        .to_string(),
    );
    assert!(f.wait_closed(Duration::from_secs(5)));
    let (code, reason) = f.close_frame().expect("a close frame");
    assert_eq!(code, 1003);
    assert!(
        reason.starts_with("unsupported mediaFormat") && reason.len() <= 123,
        "{reason}"
    );
    assert_eq!(f.final_stop()["command"], "error");

    // The node still serves: a new stream escalates normally.
    let mut ok = Stream::open_demo(&node, "+15550100", "");
    ok.start("MZok");
    ok.send_dtmf("0");
    assert!(ok.wait_closed(Duration::from_secs(5)));
    assert_eq!(ok.events("stop")[0]["stop"]["command"], "escalate");
    assert_eq!(node.http_get("/healthz").0, 200);
}
