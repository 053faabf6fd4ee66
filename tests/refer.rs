//! The `refer` hand-back profile against SIPp as the contact center: the REFER the node sends
//! on DTMF 0 (Refer-To, Referred-By, custom headers in both modes), the NOTIFY subscription
//! until the final sipfrag and the BYE after it; the BYE fallbacks after a 603 and after the
//! timeout; a REFER from the caller honoured with 202 and NOTIFYs; the refusals (400, 403,
//! 481) on a trunk that does not transfer; and the `invite` profile's `fallback = "refer"`
//! after a busy agent.

mod common;

use std::time::{Duration, Instant};

use common::{
    http_request, play_pcap, scenario, scenario_with, session_records, wait_until, Node, Sipp,
    SippBot, DEFAULT_TOML,
};
use serde_json::Value;
use voxgate_engine::store::{EscalationOutcome, SessionRecord};

const API_TOKEN: &str = "refer-test-api-token";

/// The default config with profile `refer`, the `[trunks.refer]` lines replaced by `edits`.
fn config(edits: &[(&str, &str)]) -> String {
    let mut text = DEFAULT_TOML
        .replace("profile = \"zoom-cc\"", "profile = \"refer\"")
        .replace(
            "api_token = \"demo-api-token\"",
            &format!("api_token = \"{API_TOKEN}\""),
        );
    for (from, to) in edits {
        assert!(text.contains(from), "default.toml has no `{from}`");
        text = text.replace(from, to);
    }
    text
}

const TARGET: (&str, &str) = ("default_target = \"\"", "default_target = \"+15550123\"");
const HOST: (&str, &str) = ("target_host = \"\"", "target_host = \"cc.example\"");
const HEADERS: (&str, &str) = (
    "[trunks.refer.headers]\n",
    "[trunks.refer.headers]\nX-Reason = \"Call Received from voxgate\"\n",
);

/// SIPp's answer to our REFER: 202, a NOTIFY whose body is no sipfrag (answered 400), then
/// NOTIFY 100 (active) and NOTIFY 200 (terminated).
fn accept_and_notify() -> String {
    format!(
        "{}{}\n  <recv response=\"400\"/>\n{}\n  <recv response=\"200\"/>\n{}\n  <recv response=\"200\"/>\n",
        just("202 Accepted"),
        notify(2, "active;expires=60", "100 Trying, more or less"),
        notify(3, "active;expires=60", "SIP/2.0 100 Trying"),
        notify(4, "terminated;reason=noresource", "SIP/2.0 200 OK"),
    )
}

fn notify(cseq: u32, state: &str, frag: &str) -> String {
    format!(
        r#"  <send retrans="500">
    <![CDATA[
NOTIFY [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Caller" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} NOTIFY
Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Event: refer
Subscription-State: {state}
Content-Type: message/sipfrag
Content-Length: [len]

{frag}
    ]]>
  </send>"#
    )
}

/// The usual end: the node's BYE with `kore-reason: TransferToAgent`, answered 200.
fn expect_bye() -> String {
    let check = r#"  <recv request="BYE">
    <action>
      <ereg regexp="^ *TransferToAgent *$" search_in="hdr" header="kore-reason:" check_it="true" assign_to="reason"/>
    </action>
  </recv>
  <Reference variables="reason"/>
"#;
    format!("{check}{}", just("200 OK"))
}

/// SIPp answers the last request with `status`.
fn just(status: &str) -> String {
    format!(
        "  <send>\n    <![CDATA[\nSIP/2.0 {status}\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n    ]]>\n  </send>\n"
    )
}

/// The escalation SIPp scenario with `answer` to the REFER and `checks` on it (ereg actions and
/// the `,names` they assign).
fn escalation_scenario(
    refer_to: &str,
    checks: (&str, &str),
    answer: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    scenario_playing(&play_pcap("dtmf_2833_0.pcap"), refer_to, checks, answer)
}

/// [`escalation_scenario`] with `play` instead of DTMF 0 after the ACK (empty: silence).
fn scenario_playing(
    play: &str,
    refer_to: &str,
    (checks, refs): (&str, &str),
    answer: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    scenario_with(
        "uac_refer_target.xml",
        &[
            ("CODEC_PT", "0"),
            ("PLAY", play),
            ("REFER_TO", refer_to),
            ("CHECKS", checks),
            ("REFS", refs),
            ("ANSWER", answer),
            ("END", &expect_bye()),
        ],
    )
}

/// The node's only session record, once written.
fn record(node: &Node) -> SessionRecord {
    assert!(
        wait_until(Duration::from_secs(10), || !session_records(node)
            .is_empty()),
        "no session record; log:\n{}",
        node.log()
    );
    session_records(node).remove(0)
}

fn api(node: &Node, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let auth = format!("Bearer {API_TOKEN}");
    let (status, text) = http_request(
        node.http,
        method,
        path,
        &[("Authorization", &auth)],
        body.map(str::as_bytes),
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The id of the node's first live call once the API lists it in `state`.
fn live_call_in(node: &Node, state: &str) -> String {
    let mut id = String::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (_, v) = api(node, "GET", "/api/v1/calls", None);
            match v["calls"].as_array().and_then(|c| c.first()) {
                Some(c) if c["state"] == state => {
                    id = c["id"].as_str().unwrap_or_default().to_owned();
                    true
                }
                _ => false,
            }
        }),
        "no call listed as {state}; log:\n{}",
        node.log()
    );
    id
}

#[test]
fn refer_with_uri_headers_then_notify_200_then_bye() {
    let node = Node::start(&config(&[TARGET, HOST, HEADERS]));
    let (_dir, path) = escalation_scenario(
        r"&lt;sip:\+15550123@cc\.example\?X-Reason=Call%20Received%20from%20voxgate&gt;",
        ("", ""),
        &accept_and_notify(),
    );
    Sipp::with_scenario_file(&path, node.sip).run_ok();

    let rec = record(&node);
    let esc = rec.escalation.expect("escalation recorded");
    assert_eq!(esc.profile, "refer");
    assert_eq!(esc.reason, "TransferToAgent");
    assert_eq!(esc.outcome, EscalationOutcome::Completed);
    assert_eq!(esc.refer_to.as_deref(), Some("sip:+15550123@cc.example"));
    assert_eq!(esc.refer_status, Some(200));
    assert_eq!(esc.variables["ringGroup"], "agents");
    assert_eq!(rec.end_reason, "TransferToAgent");
    assert_eq!(
        node.metric("voxgate_refer_transfers_total{outcome=\"completed\"}"),
        1.0
    );
}

#[test]
fn refer_declined_603_falls_back_to_bye_with_reason() {
    let node = Node::start(&config(&[
        TARGET,
        HOST,
        HEADERS,
        ("header_mode = \"uri\"", "header_mode = \"message\""),
    ]));
    // Message mode: the custom header rides on the REFER, Refer-To is bare.
    let checks = r#"      <ereg regexp="^ *Call Received from voxgate *$" search_in="hdr" header="X-Reason:" check_it="true" assign_to="x_reason"/>"#;
    let (_dir, path) = escalation_scenario(
        r"&lt;sip:\+15550123@cc\.example&gt;",
        (checks, ",x_reason"),
        &just("603 Decline"),
    );
    Sipp::with_scenario_file(&path, node.sip).run_ok();

    let esc = record(&node).escalation.expect("escalation recorded");
    assert_eq!(
        esc.outcome,
        EscalationOutcome::FellBack {
            cause: "REFER answered 603".into()
        }
    );
    assert_eq!(esc.refer_status, Some(603));
    assert_eq!(
        node.metric("voxgate_refer_transfers_total{outcome=\"fell_back\"}"),
        1.0
    );
}

#[test]
fn refer_without_notify_times_out_to_bye_and_refuses_a_second_transfer() {
    let node = Node::start(&config(&[
        TARGET,
        HOST,
        ("timeout_secs = 15", "timeout_secs = 2"),
    ]));
    let (_dir, path) = escalation_scenario(
        r"&lt;sip:\+15550123@cc\.example&gt;",
        ("", ""),
        &just("202 Accepted"),
    );
    let sipp = Sipp::with_scenario_file(&path, node.sip);
    let mut child = sipp.spawn();

    // While the node waits for a NOTIFY that never comes, the API sees the hand-back running
    // and refuses another one.
    let call_id = live_call_in(&node, "handing_back");
    let asked = Instant::now();
    let (status, body) = api(
        &node,
        "POST",
        &format!("/api/v1/calls/{call_id}/transfer"),
        Some(r#"{"reason":"TransferToAgent"}"#),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "conflict");

    assert!(
        wait_until(Duration::from_secs(20), || matches!(
            child.try_wait(),
            Ok(Some(_))
        )),
        "SIPp did not finish"
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "SIPp failed: {status:?}");
    // The BYE came from the 2 s timeout, not from anything sooner.
    assert!(asked.elapsed() < Duration::from_secs(10));

    let esc = record(&node).escalation.expect("escalation recorded");
    match &esc.outcome {
        EscalationOutcome::FellBack { cause } => {
            assert_eq!(cause, "timeout: no final NOTIFY within 2s")
        }
        other => panic!("expected a fallback, got {other:?}"),
    }
    assert_eq!(esc.refer_status, Some(202));
}

#[test]
fn a_caller_hanging_up_during_the_transfer_still_gets_a_record() {
    let node = Node::start(&config(&[TARGET, HOST]));
    // 202 and a "100 Trying" NOTIFY, then the caller side hangs up itself.
    let answer = format!(
        "{}{}\n  <recv response=\"200\"/>\n",
        just("202 Accepted"),
        notify(2, "active;expires=60", "SIP/2.0 100 Trying")
    );
    let bye = r#"  <send retrans="500">
    <![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Caller" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
"#;
    let (_dir, path) =
        escalation_scenario(r"&lt;sip:\+15550123@cc\.example&gt;", ("", ""), &answer);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(&expect_bye(), bye);
    std::fs::write(&path, text).unwrap();
    Sipp::with_scenario_file(&path, node.sip).run_ok();

    let rec = record(&node);
    assert_eq!(rec.end_reason, "CallerHangUp");
    let esc = rec.escalation.expect("escalation recorded");
    assert_eq!(
        esc.outcome,
        EscalationOutcome::Failed {
            cause: "the call ended before the hand-back finished".into()
        }
    );
    assert_eq!(esc.refer_to.as_deref(), Some("sip:+15550123@cc.example"));
}

#[test]
fn norefersub_makes_the_202_the_success() {
    let node = Node::start(&config(&[
        TARGET,
        HOST,
        ("norefersub = false", "norefersub = true"),
    ]));
    let checks = r#"      <ereg regexp="^ *false *$" search_in="hdr" header="Refer-Sub:" check_it="true" assign_to="refer_sub"/>
      <ereg regexp="norefersub" search_in="hdr" header="Supported:" check_it="true" assign_to="supported"/>"#;
    let (_dir, path) = escalation_scenario(
        r"&lt;sip:\+15550123@cc\.example&gt;",
        (checks, ",refer_sub,supported"),
        &just("202 Accepted"),
    );
    let started = Instant::now();
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    // No waiting for NOTIFYs that will not come.
    assert!(started.elapsed() < Duration::from_secs(10));
    let esc = record(&node).escalation.expect("escalation recorded");
    assert_eq!(esc.outcome, EscalationOutcome::Completed);
    assert_eq!(esc.refer_status, Some(202));
}

#[test]
fn api_transfer_refers_to_the_target_it_gives() {
    // No default target: the REFER's target can only come from the API's body.
    let node = Node::start(&config(&[]));
    let (_dir, path) = scenario_playing(
        "",
        r"&lt;sip:agent-7@pbx\.example\?X-Api=queue%201&gt;",
        ("", ""),
        &accept_and_notify(),
    );
    let mut sipp = Sipp::with_scenario_file(&path, node.sip).spawn();
    let id = live_call_in(&node, "answered");
    let body = r#"{"reason":"TransferToAgent","target":"sip:agent-7@pbx.example","headers":{"X-Api":"queue 1"}}"#;
    let (status, v) = api(
        &node,
        "POST",
        &format!("/api/v1/calls/{id}/transfer"),
        Some(body),
    );
    assert_eq!(status, 202, "{v}");
    assert!(wait_until(Duration::from_secs(20), || matches!(
        sipp.try_wait(),
        Ok(Some(_))
    )));
    assert!(
        sipp.wait().unwrap().success(),
        "SIPp failed; log:\n{}",
        node.log()
    );

    let esc = record(&node).escalation.expect("escalation recorded");
    assert_eq!(esc.target.as_deref(), Some("sip:agent-7@pbx.example"));
    assert_eq!(esc.refer_to.as_deref(), Some("sip:agent-7@pbx.example"));
    assert_eq!(esc.outcome, EscalationOutcome::Completed);
}

#[test]
fn caller_refer_is_accepted_notified_and_carried_out() {
    let node = Node::start(&config(&[]));
    let (_dir, path) = scenario_with("uac_refer_caller.xml", &[("CODEC_PT", "0")]);
    Sipp::with_scenario_file(&path, node.sip).run_ok();

    let rec = record(&node);
    let esc = rec.escalation.expect("escalation recorded");
    assert_eq!(esc.reason, "TransferToAgent");
    assert_eq!(esc.outcome, EscalationOutcome::Completed);
    assert!(
        esc.refer_to
            .as_deref()
            .is_some_and(|t| t.starts_with("sip:agent@127.0.0.1:")),
        "{esc:?}"
    );
    assert_eq!(esc.refer_status, Some(200));
}

#[test]
fn refer_and_notify_refused_on_a_trunk_that_does_not_transfer() {
    let node = Node::start(DEFAULT_TOML);
    let (_dir, path) = scenario_with("uac_refer_refused.xml", &[("CODEC_PT", "0")]);
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    let rec = record(&node);
    assert_eq!(rec.end_reason, "CallerHangUp");
    assert!(rec.escalation.is_none());
}

#[test]
fn an_invite_trunk_whose_agent_is_busy_falls_back_to_refer() {
    // The invite profile dials its one agent, which answers 486; past the last target the
    // fallback is a REFER to [trunks.refer] default_target, followed to its NOTIFY 200 and
    // the BYE.
    let busy = SippBot::start(&scenario("agent_busy.xml"), 1, &[]);
    let agent = format!("targets = [\"sip:agent@{}\"]", busy.addr);
    let node = Node::start(&config(&[
        ("profile = \"refer\"", "profile = \"invite\""),
        ("targets = []", &agent),
        ("fallback = \"bye\"", "fallback = \"refer\""),
        TARGET,
        HOST,
    ]));
    let (_dir, path) = escalation_scenario(
        r"&lt;sip:\+15550123@cc\.example&gt;",
        ("", ""),
        &accept_and_notify(),
    );
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    let out = busy.finish(Duration::from_secs(10));
    assert!(
        out.status.success(),
        "the busy agent: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let esc = record(&node).escalation.expect("escalation recorded");
    let causes = common::agent_causes(&esc);
    assert_eq!(causes, [("busy", Some(486))], "{:?}", esc.agent_legs);
    assert_eq!(esc.refer_to.as_deref(), Some("sip:+15550123@cc.example"));
    assert_eq!(esc.refer_status, Some(200));
    assert_eq!(
        node.metric("voxgate_refer_transfers_total{outcome=\"completed\"}"),
        1.0
    );
}
