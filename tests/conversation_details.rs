//! The conversation details and summary API against a real node: on the record of a real SIPp
//! call that the builtin bot escalates (DTMF `0`), and on session records written into the
//! node's SQLite store before it starts (lookup by session id and call id, paging of the
//! transcript, the deterministic summary, and the 400/401/404 answers).

mod common;

use std::collections::BTreeMap;

use common::{call_expecting_bye, http_post_json, Node, DEFAULT_TOML};
use serde_json::{json, Value};
use voxgate_engine::auth::jwt;
use voxgate_engine::store::{
    Escalation, EscalationOutcome, IngressKind, Role, SessionRecord, SqliteStore, Store as _,
    TranscriptLine,
};

const START_MS: i64 = 1_796_000_000_000; // 2026-11-30T00:53:20Z

fn record(session: &str, call: &str, bot: &str) -> SessionRecord {
    let line = |role, text: &str, offset| TranscriptLine {
        role,
        text: text.into(),
        at_ms: START_MS + offset,
    };
    SessionRecord {
        session_id: session.into(),
        call_id: call.into(),
        ingress: IngressKind::Sip,
        did: "+15550100".into(),
        trunk: Some("local".into()),
        bot_id: bot.into(),
        contact_id: None,
        account_id: None,
        start_ms: START_MS,
        answer_ms: Some(START_MS + 200),
        end_ms: START_MS + 42_000,
        end_reason: "TransferToAgent".into(),
        escalation: Some(Escalation {
            reason: "TransferToAgent".into(),
            target: None,
            profile: "zoom-cc".into(),
            outcome: EscalationOutcome::Completed,
            at_ms: START_MS + 41_000,
            variables: BTreeMap::from([("ringGroup".into(), "agents".into())]),
            refer_to: None,
            refer_status: None,
            agent_legs: Vec::new(),
            assist_transcripts: Vec::new(),
        }),
        codec: Some("PCMU/8000".into()),
        rtp: None,
        dtmf: "0".into(),
        transcript: vec![
            line(Role::Bot, "Welcome to Acme", 300),
            line(Role::Caller, "I need help with my bill", 5_000),
            line(Role::Bot, "Let me check", 8_000),
            line(Role::Caller, "Agent please", 30_000),
            line(Role::Bot, "Transferring you now", 40_000),
        ],
    }
}

/// A node whose store already holds two records of `demo` and one of bot `other`.
fn node() -> (tempfile::TempDir, Node) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let store = SqliteStore::open(&db).unwrap();
    store
        .put_session(&record("s-1", "call-1@pbx", "demo"))
        .unwrap();
    let mut plain = record("s-2", "call-2@pbx", "demo");
    plain.escalation = None;
    plain.end_reason = "CallerHangUp".into();
    plain.transcript.clear();
    plain.dtmf.clear();
    store.put_session(&plain).unwrap();
    store
        .put_session(&record("s-3", "call-3@pbx", "other"))
        .unwrap();
    drop(store);
    let config = DEFAULT_TOML.replace(
        "path = \"voxgate.db\"",
        &format!("path = \"{}\"", db.display()),
    ) + "\n[[bots]]\nid = \"other\"\nkind = \"builtin\"\nclient_id = \"other-client\"\nclient_secret = \"other-secret\"\n";
    (dir, Node::start(&config))
}

fn demo_token() -> String {
    jwt::sign("demo-secret", "demo-client", jwt::unix_now(), 300).unwrap()
}

fn details(node: &Node, bot: &str, auth: Option<&str>, body: &Value) -> common::HttpReply {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("auth", a)).into_iter().collect();
    http_post_json(
        node.http,
        &format!("/api/public/bot/{bot}/conversationDetails"),
        &headers,
        body,
    )
}

#[test]
fn details_by_session_id_with_summary() {
    let (_dir, node) = node();
    let token = demo_token();
    let r = details(
        &node,
        "demo",
        Some(&token),
        &json!({"sessionId": "s-1", "isSummaryRequired": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let info = &v["conversationInfo"];
    assert_eq!(info["sessionId"], "s-1");
    assert_eq!(info["callId"], "call-1@pbx");
    assert_eq!(info["sessionStartTime"], "2026-11-30T00:53:20.000Z");
    assert_eq!(info["agentHandOffTime"], "2026-11-30T00:54:01.000Z");
    assert_eq!(info["sessionEndTime"], "2026-11-30T00:54:02.000Z");
    assert_eq!(info["channel"], "sip");
    let history = v["conversationHistory"].as_array().unwrap();
    let turns: Vec<_> = history
        .iter()
        .map(|h| {
            (
                h["type"].as_str().unwrap(),
                h["components"][0]["data"]["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        turns,
        [
            ("outgoing", "Welcome to Acme"),
            ("incoming", "I need help with my bill"),
            ("outgoing", "Let me check"),
            ("incoming", "Agent please"),
            ("outgoing", "Transferring you now"),
        ]
    );
    assert_eq!(history[1]["createdOn"], "2026-11-30T00:53:25.000Z");
    assert_eq!(v["conversationFlow"][2]["taskName"], "TransferToAgent");
    let summary = &v["summary"][0];
    assert_eq!(summary["outcome"], "escalated");
    assert_eq!(summary["durationSecs"], 42.0);
    assert_eq!(summary["escalationReason"], "TransferToAgent");
    assert_eq!(summary["escalationTarget"], "agents");
    assert_eq!(summary["dtmf"], "0");
    assert_eq!(
        (summary["callerTurns"].clone(), summary["botTurns"].clone()),
        (json!(2), json!(3))
    );
    assert_eq!(
        summary["ConversationSummary"],
        "SIP call to +15550100 handled by bot demo, 42.0 s long; the caller spoke 2 times and \
         the bot 3 times; the caller pressed 0; the bot asked for an agent (TransferToAgent), \
         target agents, handed back by zoom-cc."
    );
    // The same question gives the same answer.
    let again = details(
        &node,
        "demo",
        Some(&token),
        &json!({"sessionId": "s-1", "isSummaryRequired": true}),
    );
    assert_eq!(again.json(), v);
}

#[test]
fn details_by_call_id_paged_without_summary() {
    let (_dir, node) = node();
    let token = demo_token();
    let r = details(
        &node,
        "demo",
        Some(&token),
        &json!({"callId": "call-1@pbx", "skip": 1, "limit": 2}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["conversationInfo"]["sessionId"], "s-1");
    let texts: Vec<_> = v["conversationHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["components"][0]["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["I need help with my bill", "Let me check"]);
    assert_eq!(v["totalMessages"], 5);
    assert_eq!(v["moreAvailable"], true);
    assert!(v.get("summary").is_none());

    let r = details(
        &node,
        "demo",
        Some(&token),
        &json!({"sessionId": "s-2", "isSummaryRequired": true}),
    );
    let v = r.json();
    assert_eq!(v["conversationInfo"]["agentHandOffTime"], Value::Null);
    assert_eq!(v["summary"][0]["outcome"], "caller_hung_up");
    assert!(v["conversationHistory"].as_array().unwrap().is_empty());
}

#[test]
fn refusals() {
    let (_dir, node) = node();
    let token = demo_token();
    let body = json!({"sessionId": "s-1"});
    let code = |r: common::HttpReply| (r.status, r.json()["error"].as_str().unwrap().to_owned());

    assert_eq!(
        code(details(&node, "demo", None, &body)),
        (401, "unauthorized".into())
    );
    let forged = jwt::sign("not-the-secret", "demo-client", jwt::unix_now(), 300).unwrap();
    assert_eq!(code(details(&node, "demo", Some(&forged), &body)).0, 401);
    let expired = jwt::sign("demo-secret", "demo-client", jwt::unix_now() - 3600, 60).unwrap();
    let r = details(&node, "demo", Some(&expired), &body);
    assert_eq!(r.status, 401);
    assert!(r.json()["message"].as_str().unwrap().contains("expired"));
    // demo's token does not open bot `other`, and a bot does not see another bot's sessions.
    assert_eq!(code(details(&node, "other", Some(&token), &body)).0, 401);
    assert_eq!(
        code(details(
            &node,
            "demo",
            Some(&token),
            &json!({"sessionId": "s-3"})
        )),
        (404, "unknown_session".into())
    );
    assert_eq!(
        code(details(&node, "nobot", Some(&token), &body)),
        (404, "unknown_bot".into())
    );
    assert_eq!(
        code(details(
            &node,
            "demo",
            Some(&token),
            &json!({"sessionId": "s-404"})
        )),
        (404, "unknown_session".into())
    );
    for bad in [
        json!({}),
        json!({"sessionId": "s-1", "limit": 0}),
        json!({"sessionId": "s-1", "skip": -1}),
        json!({"sessionId": 7}),
    ] {
        assert_eq!(
            code(details(&node, "demo", Some(&token), &bad)),
            (400, "bad_request".into()),
            "{bad}"
        );
    }
}

/// A real call: SIPp dials the default node, presses `0`, the builtin bot hands it back; the
/// API finds the record by the SIP Call-ID and summarises the escalation.
#[test]
fn details_of_a_real_escalated_call() {
    let node = Node::start_default();
    let record = call_expecting_bye(&node, "dtmf_2833_0.pcap", "TransferToAgent");

    let r = details(
        &node,
        "demo",
        Some(&demo_token()),
        &json!({"callId": record.call_id, "isSummaryRequired": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(
        v["conversationInfo"]["sessionId"],
        record.session_id.as_str()
    );
    assert_eq!(v["conversationInfo"]["callId"], record.call_id.as_str());
    assert_eq!(v["conversationInfo"]["did"], "+15550100");
    assert_eq!(v["conversationInfo"]["dtmf"], "0");
    assert!(v["conversationInfo"]["agentHandOffTime"].is_string());
    let summary = &v["summary"][0];
    assert_eq!(summary["outcome"], "escalated");
    assert_eq!(summary["escalationReason"], "TransferToAgent");
    assert_eq!(summary["escalationTarget"], "agents");
    assert_eq!(summary["dtmf"], "0");
    let text = summary["ConversationSummary"].as_str().unwrap();
    assert!(
        text.starts_with("SIP call to +15550100 handled by bot demo")
            && text.contains("the caller pressed 0")
            && text.ends_with("(TransferToAgent), target agents, handed back by zoom-cc."),
        "{text}"
    );
}
