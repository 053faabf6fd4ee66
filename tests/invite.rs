//! The `invite` hand-back profile with SIPp as the agent (`tests/sipp/agent_uas.xml`,
//! `agent_busy.xml`, `bot_no_answer.xml`): on the caller's DTMF `0` the builtin bot escalates,
//! the node calls the agent, the caller hears the 425 Hz ringback while it rings, and once the
//! agent answers the caller's audio reaches the agent and comes back (SIPp echoes it) byte for
//! byte; the agent's BYE ends the caller's call. A busy agent moves on to the next target of the
//! chain; an agent that never answers is cancelled and the caller gets the fallback BYE. The
//! session record holds every agent leg.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::pki::{tls_server_relay, Pki};
use common::tone_peer::{ulaw_tone_level, TonePeer};
use common::ws_bot;
use common::{
    echoed, expect_bye_scenario, http_post_json, play_pcap, scenario, scenario_with, scripted_call,
    session_records, uas_awaits_bye, uas_bye_after, uas_request, ulaw_rms, wait_until, CallScript,
    EventSink, Node, Sipp, SippBot, DEFAULT_TOML,
};
use voxgate_engine::auth::jwt;
use voxgate_engine::store::{EscalationOutcome, SessionRecord};

/// The default config with profile `invite`, calling `agents` in turn, each ringing at most
/// `ring_secs`.
fn config(agents: &[SocketAddr], ring_secs: u64) -> String {
    config_on(DEFAULT_TOML, agents, ring_secs)
}

/// `base` (a config text) with profile `invite`, calling `agents` in turn, each ringing at most
/// `ring_secs`.
fn config_on(base: &str, agents: &[SocketAddr], ring_secs: u64) -> String {
    let targets: Vec<String> = agents
        .iter()
        .map(|a| format!("\"sip:agent@{a}\""))
        .collect();
    let edits = [
        ("profile = \"zoom-cc\"", "profile = \"invite\"".to_owned()),
        (
            "targets = []",
            format!("targets = [{}]", targets.join(", ")),
        ),
        (
            "ring_timeout_secs = 30",
            format!("ring_timeout_secs = {ring_secs}"),
        ),
    ];
    let mut text = base.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "default.toml has no `{from}`");
        text = text.replacen(from, &to, 1);
    }
    text
}

/// An agent that rings `ring_ms`, answers, echoes the caller's audio and then does `after_ack`.
fn agent(ring_ms: u32, after_ack: &str) -> (tempfile::TempDir, SippBot) {
    agent_with(ring_ms, after_ack, "[media_port]", ("", ""), "")
}

/// An agent with its RTP at `media_port` (SIPp's own, echoed; or a socket of the test),
/// `checks` on the INVITE (ereg actions, the variables they assign) and `before` it.
fn agent_with(
    ring_ms: u32,
    after_ack: &str,
    media_port: &str,
    checks: (&str, &str),
    before: &str,
) -> (tempfile::TempDir, SippBot) {
    agent_sipp(ring_ms, after_ack, media_port, checks, before, &[])
}

/// [`agent_with`], SIPp run with `args` too (`-t t1`: TCP).
fn agent_sipp(
    ring_ms: u32,
    after_ack: &str,
    media_port: &str,
    checks: (&str, &str),
    before: &str,
    args: &[&str],
) -> (tempfile::TempDir, SippBot) {
    let ring = ring_ms.to_string();
    let (dir, path) = scenario_with(
        "agent_uas.xml",
        &[
            ("RING_MS", ring.as_str()),
            ("MEDIA_PORT", media_port),
            ("AFTER_ACK", after_ack),
            ("INVITE_CHECKS", checks.0),
            ("CHECKED", checks.1),
            ("BEFORE", before),
        ],
    );
    let mut args = args.to_vec();
    if media_port == "[media_port]" {
        args.push("-rtp_echo");
    }
    let bot = SippBot::start(&path, 1, &args);
    (dir, bot)
}

/// The agent hangs up after `ms` and takes the node's 200.
fn agent_hangs_up_after(ms: u32) -> String {
    uas_bye_after(ms, "")
}

/// A SIPp caller that presses 0 and insists on the BYE the agent's hang-up gives it.
fn caller_expects_the_agents_bye(node: &Node) {
    caller_expects_the_agents_bye_after(node, "");
}

/// [`caller_expects_the_agents_bye`], doing `then` (scenario text) after the key press.
fn caller_expects_the_agents_bye_after(node: &Node, then: &str) {
    let play = format!("{}{then}", play_pcap("dtmf_2833_0.pcap"));
    let (_dir, path) = scenario_with(
        "uac_expect_bye.xml",
        &[
            ("HEADER", "Reason"),
            ("REASON", "SIP;cause=200;text=.agent-hangup."),
            ("CODEC_PT", "0"),
            ("PLAY", &play),
        ],
    );
    Sipp::with_scenario_file(&path, node.sip).run_ok();
}

/// A SIPp caller that presses 0 and hangs up itself `ms` after its call was answered.
fn caller_presses_0_and_hangs_up_after(node: &Node, ms: u32) {
    let dtmf = r#"<exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_0.pcap"/>"#;
    let (_dir, path) = scenario_with("uac_media.xml", &[("CODEC_PT", "0"), ("MEDIA", dtmf)]);
    Sipp::with_scenario_file(&path, node.sip)
        .arg("-d")
        .arg(ms.to_string())
        .run_ok();
}

fn assert_ok(what: &str, out: &std::process::Output, node: &Node) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        node.log()
    );
}

fn record(node: &Node) -> SessionRecord {
    assert!(
        wait_until(Duration::from_secs(10), || !session_records(node)
            .is_empty()),
        "no session record\n{}",
        node.log()
    );
    session_records(node).remove(0)
}

/// The frequency of a run of µ-law frames, from its zero crossings.
fn frequency(frames: &[&[u8]]) -> f64 {
    let samples: Vec<i16> = frames
        .iter()
        .flat_map(|f| f.iter())
        .map(|&c| voxgate_codecs::g711::ulaw_decode_sample(c))
        .collect();
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    crossings as f64 / 2.0 / (samples.len() as f64 / 8000.0)
}

#[test]
fn the_agent_answers_after_ringback_and_audio_passes_both_ways_until_its_bye() {
    let (_dir, agent) = agent(1500, &agent_hangs_up_after(4000));
    let node = Node::start(&config(&[agent.addr], 10));
    // 0-1 s silence, DTMF 0 at 1 s (escalation, the agent rings ~1.1-2.6 s), silence, then
    // from 3 s the 440 Hz tone; the agent hangs up ~4 s after answering.
    let out = scripted_call(
        &node,
        &CallScript {
            call_id: "invite-bridge",
            frames: 300,
            tone_from: 150,
            dtmf: &[(50, 0)],
            linger: Duration::from_secs(5),
        },
    );
    let sipp = agent.finish(Duration::from_secs(10));
    assert_ok("the SIPp agent", &sipp, &node);

    // Ringback while it rang: loud 425 Hz frames between the key press and the answer.
    let ringing: Vec<&[u8]> = out
        .received
        .iter()
        .filter(|p| (1300..2000).contains(&p.at_ms) && ulaw_rms(&p.payload) > 1000.0)
        .map(|p| p.payload.as_slice())
        .collect();
    assert!(
        ringing.len() >= 25,
        "only {} ringback frames while the agent rang\n{}",
        ringing.len(),
        node.log()
    );
    let hz = frequency(&ringing);
    assert!((410.0..440.0).contains(&hz), "ringback at {hz:.0} Hz");

    // Caller → agent → (SIPp echo) → caller, byte for byte (PCMU both legs).
    let echoed = echoed(&out.sent, &out.received);
    assert!(
        echoed >= 100,
        "only {echoed} of {} tone frames came back through the agent\n{}",
        out.sent.len(),
        node.log()
    );

    // The agent's BYE ended the caller's call.
    let (bye, _) = out.bye.expect("the node's BYE to the caller");
    assert!(bye.contains("agent-hangup"), "{bye}");

    let r = record(&node);
    assert_eq!(r.end_reason, "AgentHangUp");
    let esc = r.escalation.expect("escalation recorded");
    assert_eq!(esc.profile, "invite");
    assert_eq!(esc.outcome, EscalationOutcome::Completed);
    assert_eq!(esc.agent_legs.len(), 1, "{:?}", esc.agent_legs);
    let leg = &esc.agent_legs[0];
    assert_eq!(leg.status, Some(200));
    assert_eq!(leg.cause, "agent-hangup");
    let (answer, end) = (leg.answer_ms.unwrap(), leg.end_ms.unwrap());
    assert!(
        leg.invite_ms + 1000 <= answer && answer + 3000 <= end,
        "{leg:?}"
    );
    assert_eq!(
        node.metric("voxgate_agent_calls_total{outcome=\"answered\"}"),
        1.0
    );
}

#[test]
fn a_busy_agent_moves_on_to_the_next_target() {
    let busy = SippBot::start(&scenario("agent_busy.xml"), 1, &[]);
    let (_dir, agent) = agent(300, &agent_hangs_up_after(1000));
    let node = Node::start(&config(&[busy.addr, agent.addr], 10));
    caller_expects_the_agents_bye(&node);
    assert_ok(
        "the busy agent",
        &busy.finish(Duration::from_secs(10)),
        &node,
    );
    assert_ok(
        "the second agent",
        &agent.finish(Duration::from_secs(10)),
        &node,
    );

    let esc = record(&node).escalation.expect("escalation recorded");
    let causes = common::agent_causes(&esc);
    assert_eq!(
        causes,
        [("busy", Some(486)), ("agent-hangup", Some(200))],
        "{:?}",
        esc.agent_legs
    );
    assert_eq!(esc.outcome, EscalationOutcome::Completed);
    assert_eq!(
        node.metric("voxgate_agent_calls_total{outcome=\"answered\"}"),
        1.0
    );
}

#[test]
fn agents_that_never_answer_are_cancelled_and_the_caller_gets_the_fallback_bye() {
    // Two targets ring past ring_timeout_secs: each is cancelled (SIPp checks the CANCEL), then
    // the zoom-cc style BYE with the reason reaches the caller.
    let first = SippBot::start(&scenario("bot_no_answer.xml"), 1, &[]);
    let second = SippBot::start(&scenario("bot_no_answer.xml"), 1, &[]);
    let node = Node::start(&config(&[first.addr, second.addr], 1));
    let (_dir, path) = expect_bye_scenario("TransferToAgent", &play_pcap("dtmf_2833_0.pcap"));
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    assert_ok(
        "the first agent",
        &first.finish(Duration::from_secs(10)),
        &node,
    );
    assert_ok(
        "the second agent",
        &second.finish(Duration::from_secs(10)),
        &node,
    );

    let r = record(&node);
    assert_eq!(r.end_reason, "TransferToAgent");
    let esc = r.escalation.expect("escalation recorded");
    assert_eq!(esc.profile, "invite");
    let EscalationOutcome::FellBack { cause } = &esc.outcome else {
        panic!("no fallback recorded: {:?}", esc.outcome);
    };
    assert!(cause.contains("no-answer"), "{cause}");
    assert_eq!(esc.agent_legs.len(), 2, "{:?}", esc.agent_legs);
    assert!(esc.agent_legs.iter().all(|l| l.cause == "no-answer"));
    assert!(esc.agent_legs.iter().all(|l| l.answer_ms.is_none()));
    assert_eq!(
        node.metric("voxgate_agent_calls_total{outcome=\"failed\"}"),
        1.0
    );
}

#[test]
fn the_callers_bye_ends_the_agents_call_and_the_invite_carries_uui() {
    let uui = r#"      <ereg regexp="^ *[0-9a-f]+;encoding=hex$" search_in="hdr" header="User-to-User:" check_it="true" assign_to="uui"/>"#;
    let (_dir, agent) = agent_with(300, &uas_awaits_bye(), "[media_port]", (uui, ",uui"), "");
    let text = config(&[agent.addr], 10).replacen("uui = false", "uui = true", 1);
    let node = Node::start(&text);
    // The caller presses 0 and hangs up 3 s later: the agent (answered after 0.3 s) gets a BYE.
    caller_presses_0_and_hangs_up_after(&node, 3000);
    assert_ok("the agent", &agent.finish(Duration::from_secs(10)), &node);

    let r = record(&node);
    assert_eq!(r.end_reason, "CallerHangUp");
    let esc = r.escalation.expect("escalation recorded");
    assert_eq!(esc.agent_legs.len(), 1, "{:?}", esc.agent_legs);
    assert_eq!(esc.agent_legs[0].cause, "caller-hangup");
    assert!(esc.agent_legs[0].answer_ms.is_some());
}

#[test]
fn the_callers_key_presses_reach_the_agent_as_telephone_events() {
    let events = EventSink::start();
    let port = events.port.to_string();
    let (_dir, agent) = agent_with(300, &agent_hangs_up_after(3000), &port, ("", ""), "");
    let node = Node::start(&config(&[agent.addr], 10));
    // 0 at 0.4 s escalates; 5 at 2 s, once the agent (answered ~0.8 s) is bridged.
    let out = scripted_call(
        &node,
        &CallScript {
            call_id: "invite-dtmf",
            frames: 150,
            dtmf: &[(20, 0), (100, 5)],
            linger: Duration::from_secs(5),
            ..CallScript::default()
        },
    );
    assert!(
        out.bye.is_some(),
        "no BYE after the agent's\n{}",
        node.log()
    );
    assert_ok("the agent", &agent.finish(Duration::from_secs(10)), &node);
    let events = events.finish();
    assert!(
        !events.is_empty() && events.iter().all(|&e| e == 5),
        "the agent got telephone-events {events:?}, not digit 5\n{}",
        node.log()
    );
}

/// The agent side's first answer: 401 with a digest challenge (qop=auth), and its ACK.
const CHALLENGE: &str = r#"  <recv request="INVITE"/>
  <send>
    <![CDATA[
SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag09[call_number]
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="cc.example", nonce="4f1e2d3c", qop="auth", algorithm=MD5
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
"#;

#[test]
fn a_challenging_agent_gets_the_invite_again_with_digest_credentials() {
    let checks = r#"      <verifyauth assign_to="authvalid" username="agent" password="s3cret"/>
      <ereg regexp="username=.agent." search_in="hdr" header="Authorization:" check_it="true" assign_to="authz"/>"#;
    let (_dir, agent) = agent_with(
        300,
        &agent_hangs_up_after(500),
        "[media_port]",
        (checks, ",authvalid,authz"),
        CHALLENGE,
    );
    let text = config(&[agent.addr], 10).replacen(
        "username = \"\"\npassword = \"\"",
        "username = \"agent\"\npassword = \"s3cret\"",
        1,
    );
    let node = Node::start(&text);
    caller_expects_the_agents_bye(&node);
    assert_ok("the agent", &agent.finish(Duration::from_secs(10)), &node);
    let esc = record(&node).escalation.expect("escalation recorded");
    assert_eq!(esc.agent_legs.len(), 1, "{:?}", esc.agent_legs);
    assert_eq!(esc.agent_legs[0].status, Some(200));
}

/// A SIPp side's SDP (`o=` user `who`, session `version`): PCMU and telephone-event on its
/// media port, in `direction`.
fn pcmu_sdp(who: &str, version: u64, direction: &str) -> String {
    format!(
        "v=0\no={who} 53655765 {version} IN IP[local_ip_type] [local_ip]\ns=-\n\
         c=IN IP[media_ip_type] [media_ip]\nt=0 0\nm=audio [media_port] RTP/AVP 0 101\n\
         a=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na={direction}\n"
    )
}

/// The agent re-offers with `direction` (CSeq `cseq`): hold (`sendonly`) or resume
/// (`sendrecv`); the node's answer must say `expect`; then it ACKs.
fn agent_reinvites(cseq: u32, direction: &str, expect: &str) -> String {
    let sdp = format!(
        "{}\n",
        pcmu_sdp("agent", 2353687636 + u64::from(cseq), direction)
    );
    let invite = uas_request(
        "INVITE",
        cseq,
        "Contact: <sip:agent@[local_ip]:[local_port];transport=[transport]>\n\
         Content-Type: application/sdp\n",
        &sdp,
    );
    let ack = uas_request("ACK", cseq, "", "");
    format!(
        r#"
  <pause milliseconds="300"/>
{invite}  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="a={expect}" search_in="body" check_it="true" assign_to="answer{cseq}"/>
    </action>
  </recv>
  <Reference variables="answer{cseq}"/>
{ack}"#
    )
}

/// The caller takes a re-INVITE whose offer says `offered` and answers `answer`.
fn caller_answers_reinvite(n: u32, offered: &str, answer: &str) -> String {
    takes_reinvite("caller", n, offered, answer)
}

/// `who` (a SIPp side) takes the node's `n`-th re-INVITE, whose offer must say `offered`, and
/// answers `answer`.
fn takes_reinvite(who: &str, n: u32, offered: &str, answer: &str) -> String {
    format!(
        r#"
  <recv request="INVITE">
    <action>
      <ereg regexp="a={offered}" search_in="body" check_it="true" assign_to="offer{n}"/>
    </action>
  </recv>
  <Reference variables="offer{n}"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{who}@[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv request="ACK"/>
"#,
        sdp = pcmu_sdp(who, 2353687637 + u64::from(n), answer)
    )
}

/// The agent holds (sendonly), resumes (sendrecv), then does `agent_then` and hangs up; the
/// caller answers the two relayed re-INVITEs (checking the direction it is offered), then does
/// `caller_then`. Each of the agent's re-INVITEs is answered only once the caller has.
fn agent_holds_and_resumes(agent_then: &str, caller_then: &str, what: &str) {
    let after = format!(
        "{}{}{agent_then}\n  <pause milliseconds=\"300\"/>\n{}  <recv response=\"200\"/>\n",
        agent_reinvites(2, "sendonly", "recvonly"),
        agent_reinvites(3, "sendrecv", "sendrecv"),
        uas_request("BYE", 4, "", "")
    );
    let (_dir, agent) = agent(300, &after);
    let node = Node::start(&config(&[agent.addr], 10));
    let reinvites = format!(
        "{}{}{caller_then}",
        caller_answers_reinvite(1, "sendonly", "recvonly"),
        caller_answers_reinvite(2, "sendrecv", "sendrecv")
    );
    caller_expects_the_agents_bye_after(&node, &reinvites);
    assert_ok(what, &agent.finish(Duration::from_secs(10)), &node);
    assert_eq!(record(&node).end_reason, "AgentHangUp");
}

#[test]
fn the_agents_hold_and_resume_are_relayed_to_the_caller() {
    agent_holds_and_resumes("", "", "the holding agent");
}

/// The caller (of `uac_expect_bye.xml`) re-offers with `direction` (its CSeq `cseq`), the
/// node's answer must say `expect`; then it ACKs. The headers are the caller's own (the last
/// message it took may be the node's request).
fn caller_reinvites(cseq: u32, direction: &str, expect: &str) -> String {
    let dialog = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport\n\
                  From: \"Caller\" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n\
                  To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]\n\
                  Call-ID: [call_id]\n";
    format!(
        r#"
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{dialog}CSeq: {cseq} INVITE
Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="a={expect}" search_in="body" check_it="true" assign_to="mine{cseq}"/>
    </action>
  </recv>
  <Reference variables="mine{cseq}"/>
  <send>
    <![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{dialog}CSeq: {cseq} ACK
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
"#,
        sdp = pcmu_sdp("caller", 2353687700 + u64::from(cseq), direction)
    )
}

#[test]
fn the_callers_hold_and_resume_are_relayed_to_the_agent() {
    // The agent's hold and resume come first: that is how the caller knows the legs are
    // bridged. Then the caller holds (sendonly) and resumes; the node answers each at once
    // and re-offers the agent our side in the same direction, which the agent (checking the
    // offer) answers. (3 and 4: the agent's SDP versions go on from its own two re-offers.)
    let agent_then = format!(
        "{}{}",
        takes_reinvite("agent", 3, "sendonly", "recvonly"),
        takes_reinvite("agent", 4, "sendrecv", "sendrecv")
    );
    // The third is a refresh that changes nothing: not relayed (the agent, pausing before
    // its BYE, would fail on an unexpected INVITE).
    let caller_then = format!(
        "{}{}{}",
        caller_reinvites(2, "sendonly", "recvonly"),
        caller_reinvites(3, "sendrecv", "sendrecv"),
        caller_reinvites(4, "sendrecv", "sendrecv")
    );
    agent_holds_and_resumes(
        &agent_then,
        &caller_then,
        "the agent taking the caller's hold",
    );
}

/// The caller's tone (scripted_call's) and the agent's (the tone peer's).
const CALLER_HZ: f64 = 440.0;
const AGENT_HZ: f64 = 1000.0;

/// The session's details as the agent desktop reads them (the conversation details API).
fn details_of(node: &Node, session_id: &str) -> serde_json::Value {
    let token = jwt::sign("demo-secret", "demo-client", jwt::unix_now(), 300).unwrap();
    let reply = http_post_json(
        node.http,
        "/api/public/bot/demo/conversationDetails",
        &[("auth", token.as_str())],
        &serde_json::json!({ "sessionId": session_id }),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

#[test]
fn with_assist_the_bot_listens_to_caller_and_agent_and_its_transcripts_reach_the_record() {
    let recordings = tempfile::tempdir().unwrap();
    let dir = recordings.path().to_str().unwrap();
    let bot = ws_bot::Bot::start(&["--record-dir", dir, "--assist-transcripts"]);
    let peer = TonePeer::start(AGENT_HZ, 8000.0);
    let port = peer.port.to_string();
    let (_dir, agent) = agent_with(500, &agent_hangs_up_after(4000), &port, ("", ""), "");
    let base = ws_bot::config(bot.addr, "audio/x-mulaw");
    let text = config_on(&base, &[agent.addr], 10).replacen("assist = false", "assist = true", 1);
    let node = Node::start(&text);
    // DTMF 0 at 1 s: the bot transfers, the agent answers ~0.5 s later and hangs up 4 s after
    // that; the caller's 440 Hz runs from 2 s on.
    let out = scripted_call(
        &node,
        &CallScript {
            call_id: "invite-assist",
            frames: 350,
            tone_from: 100,
            dtmf: &[(50, 0)],
            linger: Duration::from_secs(5),
        },
    );
    assert_ok("the agent", &agent.finish(Duration::from_secs(10)), &node);
    assert!(peer.finish() > 50, "the agent got no caller audio");

    // The caller hears the agent, and not the bot (which echoes the mix it hears).
    let level = |p: &common::Received, hz| ulaw_tone_level(&p.payload, hz);
    let bridged = out
        .received
        .iter()
        .position(|p| level(p, AGENT_HZ) > 2000.0)
        .expect("the caller never heard the agent");
    let after = &out.received[bridged..];
    let agent_frames = after.iter().filter(|p| level(p, AGENT_HZ) > 2000.0).count();
    let bot_frames = after
        .iter()
        .filter(|p| level(p, CALLER_HZ) > 1000.0)
        .count();
    assert!(
        agent_frames >= 100,
        "{agent_frames} agent frames\n{}",
        node.log()
    );
    assert_eq!(bot_frames, 0, "the caller heard the bot\n{}", node.log());
    let (bye, _) = out.bye.expect("the node's BYE to the caller");
    assert!(bye.contains("agent-hangup"), "{bye}");

    // The bot heard both, mixed into one µ-law stream.
    let heard = std::fs::read_dir(recordings.path())
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .next()
        .expect("the bot recorded nothing");
    let both = heard
        .chunks_exact(160)
        .filter(|f| ulaw_tone_level(f, CALLER_HZ) > 2000.0 && ulaw_tone_level(f, AGENT_HZ) > 2000.0)
        .count();
    assert!(
        both >= 50,
        "only {both} frames of the bot's had both sides\n{}",
        node.log()
    );

    // The agent's BYE ended the bot's stream too; the bot's hang-up and transfer while it
    // listened changed nothing.
    assert!(
        wait_until(Duration::from_secs(5), || bot.logged("stop:") == 1),
        "the bot leg was not stopped\n{}\nbot:\n{}",
        node.log(),
        bot.log()
    );
    let r = record(&node);
    assert_eq!(r.end_reason, "AgentHangUp");
    let esc = r.escalation.expect("escalation recorded");
    assert_eq!(common::agent_causes(&esc), [("agent-hangup", Some(200))]);
    let lines = &esc.assist_transcripts;
    assert!(lines.len() >= 4, "{lines:?}");
    assert_eq!(
        (lines[0].role.as_str(), lines[0].text.as_str()),
        ("caller", "assist line 1")
    );
    assert_eq!(
        (lines[1].role.as_str(), lines[1].text.as_str()),
        ("agent", "assist line 2")
    );
    assert!(r.transcript.iter().all(|l| !l.text.starts_with("assist")));

    let details = details_of(&node, &r.session_id);
    let assist = details["agentAssist"].as_array().expect("agentAssist");
    assert_eq!(assist.len(), lines.len());
    assert_eq!(assist[1]["role"], "agent");
    assert_eq!(assist[1]["text"], "assist line 2");
}

/// The hold audio file's tone.
const FILE_HZ: f64 = 700.0;

/// A WAV file of one second of `FILE_HZ` at 16 kHz (the agent leg resamples it to PCMU).
fn hold_wav(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("hold.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..16000 {
        let t = f64::from(i) / 16000.0;
        let s = 8000.0 * (2.0 * std::f64::consts::PI * FILE_HZ * t).sin();
        w.write_sample(s as i16).unwrap();
    }
    w.finalize().unwrap();
    path
}

#[test]
fn the_caller_hears_the_ringback_file_while_the_agent_rings() {
    let files = tempfile::tempdir().unwrap();
    let wav = hold_wav(files.path());
    let (_dir, agent) = agent(2000, &agent_hangs_up_after(500));
    let text = config(&[agent.addr], 10).replacen(
        "ringback = \"tone\"\nringback_file = \"\"",
        &format!(
            "ringback = \"file\"\nringback_file = {:?}",
            wav.display().to_string()
        ),
        1,
    );
    let node = Node::start(&text);
    // DTMF 0 at 1 s; the agent rings ~2 s and hangs up 0.5 s after answering.
    let out = scripted_call(
        &node,
        &CallScript {
            call_id: "invite-ringback-file",
            frames: 200,
            dtmf: &[(50, 0)],
            linger: Duration::from_secs(3),
            ..CallScript::default()
        },
    );
    assert_ok("the agent", &agent.finish(Duration::from_secs(10)), &node);
    let ringing: Vec<&common::Received> = out
        .received
        .iter()
        .filter(|p| (1300..2900).contains(&p.at_ms))
        .collect();
    let file = ringing
        .iter()
        .filter(|p| ulaw_tone_level(&p.payload, FILE_HZ) > 4000.0)
        .count();
    let tone = ringing
        .iter()
        .filter(|p| ulaw_tone_level(&p.payload, 425.0) > 2000.0)
        .count();
    assert!(
        file >= 60,
        "only {file} of {} frames carried the file's tone\n{}",
        ringing.len(),
        node.log()
    );
    assert_eq!(tone, 0, "the 425 Hz ringback played instead");
    assert!(
        out.bye.is_some(),
        "no BYE after the agent's\n{}",
        node.log()
    );
}

#[test]
fn a_ringback_file_that_is_not_16_bit_mono_is_refused_at_config_load() {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("stereo.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    w.write_sample(0i16).unwrap();
    w.write_sample(0i16).unwrap();
    w.finalize().unwrap();
    let text = DEFAULT_TOML.replacen(
        "ringback = \"tone\"\nringback_file = \"\"",
        &format!(
            "ringback = \"file\"\nringback_file = {:?}",
            path.display().to_string()
        ),
        1,
    );
    let config = files.path().join("voxgate.toml");
    std::fs::write(&config, text).unwrap();
    let out = common::voxgate_cli(files.path(), &["check-config", config.to_str().unwrap()]);
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("ringback_file") && said.contains("mono"),
        "{said}"
    );
}

/// A SIPp agent on TCP (`-t t1`) whose INVITE's Via must say `SIP/2.0/{transport}`; it rings
/// 300 ms, answers, and hangs up a second later.
fn stream_agent(transport: &str) -> (tempfile::TempDir, SippBot) {
    let via = format!(
        r#"      <ereg regexp="SIP/2.0/{transport}" search_in="hdr" header="Via:" check_it="true" assign_to="via"/>"#
    );
    agent_sipp(
        300,
        &agent_hangs_up_after(1000),
        "[media_port]",
        (&via, ",via"),
        "",
        &["-t", "t1"],
    )
}

/// A caller escalates through `node` to `agent`, which answers and hangs up: both SIPps go
/// right and the record has the one answered agent leg.
fn the_agent_answers_and_hangs_up(node: &Node, agent: SippBot) {
    caller_expects_the_agents_bye(node);
    assert_ok("the agent", &agent.finish(Duration::from_secs(10)), node);
    let esc = record(node).escalation.expect("escalation recorded");
    assert_eq!(common::agent_causes(&esc), [("agent-hangup", Some(200))]);
}

#[test]
fn the_agent_is_called_over_tcp_when_the_trunk_says_so() {
    let (_dir, agent) = stream_agent("TCP");
    let text = config(&[agent.addr], 10).replacen("transport = \"udp\"", "transport = \"tcp\"", 1);
    let node = Node::start(&text);
    the_agent_answers_and_hangs_up(&node, agent);
}

#[test]
fn the_agent_is_called_over_tls_and_checked_and_shown_the_nodes_certificate() {
    let (_dir, agent) = stream_agent("TLS");
    // SIPp has no TLS here: a TLS server of the test, demanding a client certificate from the
    // test CA, stands in front of it.
    let pki = Pki::new();
    let (relay, carried) = tls_server_relay(agent.addr, pki.server(true));
    let path = |name| pki.path(name).display().to_string();
    let text = config(&[relay], 10).replacen(
        "transport = \"udp\"\ntls_ca = \"\"\ntls_server_name = \"\"\ntls_cert = \"\"\ntls_key = \"\"\n",
        &format!(
            "transport = \"tls\"\ntls_ca = \"{}\"\ntls_server_name = \"\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            path("ca.pem"),
            path("client.pem"),
            path("client.key")
        ),
        1,
    );
    assert!(text.contains("\ntransport = \"tls\""), "default.toml moved");
    let node = Node::start(&text);
    the_agent_answers_and_hangs_up(&node, agent);
    assert!(
        carried.client_certificate.load(Ordering::SeqCst),
        "the node showed no certificate"
    );
    let (up, down) = (
        carried.up.load(Ordering::SeqCst),
        carried.down.load(Ordering::SeqCst),
    );
    assert!(up > 500 && down > 500, "carried {up} bytes up, {down} down");
}

#[test]
fn an_agent_whose_certificate_does_not_chain_to_tls_ca_is_not_bridged() {
    // The agent side's certificate comes from one test CA, the node trusts another's; the
    // handshake fails before anything reaches the (unused) plain side.
    let (theirs, ours) = (Pki::new(), Pki::new());
    let unused: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let (relay, carried) = tls_server_relay(unused, theirs.server(false));
    let text = config(&[relay], 10).replacen(
        "transport = \"udp\"\ntls_ca = \"\"\n",
        &format!(
            "transport = \"tls\"\ntls_ca = \"{}\"\n",
            ours.path("ca.pem").display()
        ),
        1,
    );
    assert!(text.contains("\ntransport = \"tls\""), "default.toml moved");
    let node = Node::start(&text);
    let (_dir, path) = expect_bye_scenario("TransferToAgent", &play_pcap("dtmf_2833_0.pcap"));
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    let esc = record(&node).escalation.expect("escalation recorded");
    assert!(
        matches!(esc.outcome, EscalationOutcome::FellBack { .. }),
        "{:?}",
        esc.outcome
    );
    assert_eq!(esc.agent_legs.len(), 1, "{:?}", esc.agent_legs);
    assert_eq!(esc.agent_legs[0].cause, "refused");
    assert!(esc.agent_legs[0].answer_ms.is_none());
    assert!(
        carried.refused.load(Ordering::SeqCst),
        "the relay's handshake must fail: {:?}",
        esc.agent_legs
    );
}
