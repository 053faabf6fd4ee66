//! A call bridged to a SIP bot (B2BUA), with SIPp as the bot (`tests/sipp/bot_uas.xml`,
//! `bot_refuse.xml`, `bot_no_answer.xml`) and as the caller: the bot's BYE with `kore-reason`
//! and its own headers becomes the zoom-cc BYE to the caller, audio flows caller → bot → caller
//! through the second dialog (SIPp echoes it; through the transcoder when the bot speaks PCMA),
//! the caller's DTMF reaches the bot as RFC 4733 events, the bot's REFER escalates toward its
//! target, a bot that refuses every INVITE, never answers or sends no RTP ends in `BotFailure`
//! after the restart budget, and a caller hanging up sends the bot a BYE.

mod common;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use voxgate_engine::store::SessionRecord;

use common::{
    call_with_tone, echoed, expect_bye_scenario, play_pcap, scenario, scenario_with,
    session_records, uas_awaits_bye, uas_bye_after, uas_request, ulaw_rms, wait_until, EventSink,
    Node, Sipp, SippBot, DEFAULT_TOML, UAS_ANSWERS_200,
};

/// The default config with the demo bot turned into a SIP bot at `bot`.
fn config(bot: SocketAddr) -> String {
    config_with(bot, "")
}

/// The same with more `[bots.sip]` lines.
fn config_with(bot: SocketAddr, sip: &str) -> String {
    let mut text = DEFAULT_TOML.replace("kind = \"builtin\"", "kind = \"sip\"");
    text.push_str(&format!(
        "\n[bots.sip]\nuri = \"sip:bot@{bot}\"\nconnect_timeout_ms = 2000\n{sip}\
         [bots.restart]\nmax_restarts = 2\nwindow_secs = 10\nbackoff_ms = 100\n"
    ));
    text
}

/// The SIP bot scenario doing `after_ack` once the call is up, with its RTP at `media_port`,
/// answering PCMU.
fn bot_uas(after_ack: &str, media_port: &str) -> (tempfile::TempDir, PathBuf) {
    bot_uas_codec(after_ack, media_port, ("0", "PCMU"))
}

/// The same answering `codec` (payload type, name).
fn bot_uas_codec(
    after_ack: &str,
    media_port: &str,
    codec: (&str, &str),
) -> (tempfile::TempDir, PathBuf) {
    scenario_with(
        "bot_uas.xml",
        &[
            ("AFTER_ACK", after_ack),
            ("MEDIA_PORT", media_port),
            ("PT", codec.0),
            ("CODEC", codec.1),
        ],
    )
}

/// What the bot does after `pause_ms`: hang up with a transfer reason and a header of its own.
fn bot_transfers_after(pause_ms: u32) -> String {
    uas_bye_after(pause_ms, "kore-reason: TransferToAgent\nX-Queue: sales\n")
}

/// What the bot does after the ACK: transfer with REFER, then take the NOTIFY of its outcome
/// (answered 200).
fn bot_refers() -> String {
    let refer = uas_request(
        "REFER",
        2,
        "Contact: <sip:bot@[local_ip]:[local_port]>\nRefer-To: <sip:agent@cc.example>\nX-Queue: billing\n",
        "",
    );
    format!(
        r#"
  <pause milliseconds="500"/>
{refer}  <recv response="202"/>
  <recv request="NOTIFY">
    <action>
      <ereg regexp="SIP/2.0 200" search_in="body" check_it="true" assign_to="frag"/>
    </action>
  </recv>
  <Reference variables="frag"/>
{UAS_ANSWERS_200}"#
    )
}

/// What the bot does after the ACK: send its 200 OK once more (as if the ACK had been lost),
/// which voxgate must ACK again.
const BOT_RESENDS_200: &str = r#"
  <send>
    <![CDATA[
SIP/2.0 200 OK
Via:[$via]
From:[$from]
To:[$to];tag=[pid]SIPpTag01[call_number]
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:bot@[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
"#;

/// One call whose bot does `after_ack`, with a caller that insists on the zoom-cc BYE carrying
/// `kore-reason: TransferToAgent` and `X-Queue: queue`; both SIPp runs must succeed. Returns
/// the call's session record.
fn transfer_reaches_the_caller(after_ack: &str, queue: &str) -> SessionRecord {
    let (_bot_dir, bot_scenario) = bot_uas(after_ack, "[media_port]");
    let bot = SippBot::start(&bot_scenario, 1, &[]);
    let node = Node::start(&config(bot.addr));
    let (_dir, path) = scenario_with(
        "uac_expect_bye_headers.xml",
        &[
            ("HEADER", "kore-reason"),
            ("REASON", "TransferToAgent"),
            ("HEADER2", "X-Queue"),
            ("VALUE2", queue),
            ("CODEC_PT", "0"),
        ],
    );
    let caller = Sipp::with_scenario_file(&path, node.sip).run();
    let out = bot.finish(Duration::from_secs(10));
    assert!(
        caller.status.success(),
        "the caller got no BYE with both headers: {}\n{}",
        String::from_utf8_lossy(&caller.stderr),
        node.log()
    );
    assert!(
        out.status.success(),
        "the SIPp bot failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        node.log()
    );
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    session_records(&node).remove(0)
}

#[test]
fn the_bots_bye_with_a_reason_reaches_the_caller_with_its_headers() {
    let r = transfer_reaches_the_caller(&bot_transfers_after(1000), "sales");
    assert_eq!(r.end_reason, "TransferToAgent");
    assert_eq!(
        r.escalation.as_ref().map(|e| e.reason.as_str()),
        Some("TransferToAgent")
    );
}

#[test]
fn caller_audio_goes_through_the_bots_dialog_and_back() {
    let (_bot_dir, bot_scenario) = bot_uas(&uas_awaits_bye(), "[media_port]");
    let bot = SippBot::start(&bot_scenario, 1, &["-rtp_echo"]);
    let node = Node::start(&config(bot.addr));
    let (sent, received) = call_with_tone(&node, "sip-bot-echo", 150);
    // PCMU on both legs: the tone comes back byte for byte from SIPp's echo.
    let echoed = echoed(&sent, &received);
    assert!(
        echoed >= 100,
        "only {echoed} of our 150 frames came back ({} packets)\n{}",
        received.len(),
        node.log()
    );
}

/// One call to a bot that fails three times in a row (SIPp runs `bot_scenario` for three
/// calls), with a caller that insists on the `BotFailure` hand-back. Checks that the bot saw all
/// three dials (`what` says how they went) and two restarts were counted.
fn bot_failure_reaches_the_caller(bot_scenario: &Path, sip: &str, what: &str) {
    let bot = SippBot::start(bot_scenario, 3, &[]);
    let node = Node::start(&config_with(bot.addr, sip));
    let (_dir, path) = expect_bye_scenario("BotFailure", "");
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    let out = bot.finish(Duration::from_secs(10));
    assert!(
        out.status.success(),
        "the SIPp bot did not see three {what}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        node.log()
    );
    assert_eq!(node.metric("voxgate_bot_restarts_total"), 2.0);
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    assert_eq!(session_records(&node)[0].end_reason, "BotFailure");
}

#[test]
fn a_bot_refusing_every_invite_ends_in_bot_failure() {
    // One INVITE and two restarts, all refused with 503.
    bot_failure_reaches_the_caller(&scenario("bot_refuse.xml"), "", "refused INVITEs");
}

/// A caller that hangs up after 2 s (SIPp `uac_call.xml`) bridged to a bot doing `after_ack`
/// then waiting for voxgate's BYE; the bot's scenario must complete.
fn caller_hangs_up_on(after_ack: &str, what: &str) {
    let after = format!("{after_ack}{}", uas_awaits_bye());
    let (_bot_dir, bot_scenario) = bot_uas(&after, "[media_port]");
    let bot = SippBot::start(&bot_scenario, 1, &[]);
    let node = Node::start(&config(bot.addr));
    Sipp::new("uac_call.xml", node.sip)
        .arg("-d")
        .arg("2000")
        .run_ok();
    let out = bot.finish(Duration::from_secs(10));
    assert!(
        out.status.success(),
        "the SIPp bot got no {what}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        node.log()
    );
}

#[test]
fn the_caller_hanging_up_sends_the_bot_a_bye() {
    caller_hangs_up_on("", "BYE");
}

#[test]
fn the_bots_refer_is_answered_and_escalates_toward_its_target() {
    // zoom-cc hands back by BYE: the REFER's reason (none given: TransferToAgent) and the bot's
    // header reach the caller; the bot gets its 202, the NOTIFY and then the BYE.
    let after = format!("{}{}", bot_refers(), uas_awaits_bye());
    let r = transfer_reaches_the_caller(&after, "billing");
    let esc = r.escalation.expect("escalation recorded");
    assert_eq!(esc.reason, "TransferToAgent");
    assert_eq!(esc.target.as_deref(), Some("sip:agent@cc.example"));
}

#[test]
fn a_silent_bot_fails_on_its_rtp_timeout_and_ends_in_bot_failure() {
    // The bot answers every INVITE but never sends RTP: after 1 s each dial is hung up (the
    // bot gets the BYE), twice restarted, then the caller is handed back.
    let (_bot_dir, bot_scenario) = bot_uas(&uas_awaits_bye(), "[media_port]");
    bot_failure_reaches_the_caller(
        &bot_scenario,
        "rtp_timeout_secs = 1\n",
        "answered and hung-up dials",
    );
}

#[test]
fn caller_dtmf_reaches_the_bot_as_telephone_events() {
    // The bot's RTP goes to a socket of the test, which looks for the digit in RFC 4733 events.
    let events = EventSink::start();
    let port = events.port.to_string();
    // The bot transfers after 3 s, long enough for the digit to have gone through.
    let after = bot_transfers_after(3000);
    let (_bot_dir, bot_scenario) = bot_uas(&after, &port);
    let bot = SippBot::start(&bot_scenario, 1, &[]);
    let node = Node::start(&config(bot.addr));
    // The caller waits a second so that the bot's dialog is surely up when the digit comes.
    let play = format!(
        "  <pause milliseconds=\"1000\"/>\n{}",
        play_pcap("dtmf_2833_5.pcap")
    );
    let (_dir, path) = expect_bye_scenario("TransferToAgent", &play);
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    let events = events.finish();
    assert!(
        !events.is_empty() && events.iter().all(|&e| e == 5),
        "the bot got telephone-events {events:?}, not digit 5\n{}",
        node.log()
    );
}

#[test]
fn a_bot_that_never_answers_is_cancelled_and_ends_in_bot_failure() {
    // Each INVITE rings past connect_timeout_ms: the bot gets a CANCEL (and ends the INVITE
    // with 487); after two restarts the caller is handed back.
    bot_failure_reaches_the_caller(&scenario("bot_no_answer.xml"), "", "cancelled INVITEs");
}

#[test]
fn a_pcma_bot_hears_and_answers_a_pcmu_caller_through_the_transcoder() {
    // The bot is offered (and answers) PCMA only; the caller speaks PCMU. SIPp echoes the
    // A-law stream, so the tone crosses the transcoder twice: compare loudness, not bytes.
    let (_bot_dir, bot_scenario) = bot_uas_codec(&uas_awaits_bye(), "[media_port]", ("8", "PCMA"));
    let bot = SippBot::start(&bot_scenario, 1, &["-rtp_echo"]);
    let node = Node::start(&config_with(bot.addr, "codec = \"PCMA\"\n"));
    let (sent, received) = call_with_tone(&node, "sip-bot-pcma", 150);
    let loud = received
        .iter()
        .filter(|p| p.payload.len() == 160 && ulaw_rms(&p.payload) > 2000.0)
        .count();
    assert!(!sent.is_empty());
    assert!(
        loud >= 100,
        "only {loud} loud PCMU frames came back ({} packets)\n{}",
        received.len(),
        node.log()
    );
}

#[test]
fn a_retransmitted_2xx_from_the_bot_is_acked_again() {
    caller_hangs_up_on(BOT_RESENDS_200, "second ACK (or no BYE)");
}
