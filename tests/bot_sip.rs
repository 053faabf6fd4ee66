//! A call bridged to a SIP bot (B2BUA), with SIPp as the bot (`tests/sipp/bot_uas.xml`,
//! `bot_refuse.xml`) and as the caller: the bot's BYE with `kore-reason` and its own headers
//! becomes the zoom-cc BYE to the caller, audio flows caller → bot → caller through the second
//! dialog (SIPp echoes it), a bot that refuses every INVITE ends in `BotFailure` after the
//! restart budget, and a caller hanging up sends the bot a BYE.

mod common;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{
    call_with_tone, echoed, free_port, scenario, scenario_with, session_records, wait_until, Node,
    Sipp, DEFAULT_TOML,
};

/// SIPp as the bot: a UAS on a port of its own, for `calls` calls.
struct SippBot {
    child: Option<Child>,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl SippBot {
    fn start(scenario: &Path, calls: u32, extra: &[&str]) -> SippBot {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new("sipp")
            .args(["-sf", &scenario.display().to_string()])
            .args(["-i", "127.0.0.1", "-p", &addr.port().to_string()])
            .args(["-mp", &free_port().to_string()])
            .args([
                "-m",
                &calls.to_string(),
                "-timeout",
                "40s",
                "-timeout_error",
            ])
            .args(["-trace_err", "-nostdin"])
            .args(extra)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sipp (Debian package sip-tester)");
        SippBot {
            child: Some(child),
            addr,
            _dir: dir,
        }
    }

    /// Waits for SIPp to finish its calls; its exit status says whether every call went as the
    /// scenario says.
    fn finish(mut self, timeout: Duration) -> Output {
        let mut child = self.child.take().expect("running");
        let done = wait_until(timeout, || child.try_wait().unwrap().is_some());
        if !done {
            let _ = child.kill();
        }
        child.wait_with_output().expect("sipp output")
    }
}

impl Drop for SippBot {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The default config with the demo bot turned into a SIP bot at `bot`.
fn config(bot: SocketAddr) -> String {
    let mut text = DEFAULT_TOML.replace("kind = \"builtin\"", "kind = \"sip\"");
    text.push_str(&format!(
        "\n[bots.sip]\nuri = \"sip:bot@{bot}\"\nconnect_timeout_ms = 2000\n\
         [bots.restart]\nmax_restarts = 2\nwindow_secs = 10\nbackoff_ms = 100\n"
    ));
    text
}

/// What the bot does after the ACK: wait a second, then hang up with a transfer reason and a
/// header of its own.
const BOT_TRANSFERS: &str = r#"
  <pause milliseconds="1000"/>
  <send>
    <![CDATA[
BYE [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$to];tag=[pid]SIPpTag01[call_number]
To:[$from]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
kore-reason: TransferToAgent
X-Queue: sales
Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
"#;

/// What the bot does after the ACK: wait for voxgate's BYE and answer it.
const BOT_AWAITS_BYE: &str = r#"
  <recv request="BYE"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
"#;

#[test]
fn the_bots_bye_with_a_reason_reaches_the_caller_with_its_headers() {
    let (_bot_dir, bot_scenario) = scenario_with("bot_uas.xml", &[("AFTER_ACK", BOT_TRANSFERS)]);
    let bot = SippBot::start(&bot_scenario, 1, &[]);
    let node = Node::start(&config(bot.addr));
    let (_dir, path) = scenario_with(
        "uac_expect_bye_headers.xml",
        &[
            ("HEADER", "kore-reason"),
            ("REASON", "TransferToAgent"),
            ("HEADER2", "X-Queue"),
            ("VALUE2", "sales"),
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
    let r = &session_records(&node)[0];
    assert_eq!(r.end_reason, "TransferToAgent");
    assert_eq!(
        r.escalation.as_ref().map(|e| e.reason.as_str()),
        Some("TransferToAgent")
    );
}

#[test]
fn caller_audio_goes_through_the_bots_dialog_and_back() {
    let (_bot_dir, bot_scenario) = scenario_with("bot_uas.xml", &[("AFTER_ACK", BOT_AWAITS_BYE)]);
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

#[test]
fn a_bot_refusing_every_invite_ends_in_bot_failure() {
    // One INVITE and two restarts, all refused.
    let bot = SippBot::start(&scenario("bot_refuse.xml"), 3, &[]);
    let node = Node::start(&config(bot.addr));
    let (_dir, path) = scenario_with(
        "uac_expect_bye.xml",
        &[
            ("HEADER", "kore-reason"),
            ("REASON", "BotFailure"),
            ("CODEC_PT", "0"),
            ("PLAY", ""),
        ],
    );
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    let out = bot.finish(Duration::from_secs(10));
    assert!(
        out.status.success(),
        "the SIPp bot did not see three refused INVITEs: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        node.log()
    );
    assert!(node.metric("voxgate_bot_restarts_total") >= 2.0);
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    let r = &session_records(&node)[0];
    assert_eq!(r.end_reason, "BotFailure");
}

#[test]
fn the_caller_hanging_up_sends_the_bot_a_bye() {
    let (_bot_dir, bot_scenario) = scenario_with("bot_uas.xml", &[("AFTER_ACK", BOT_AWAITS_BYE)]);
    let bot = SippBot::start(&bot_scenario, 1, &[]);
    let node = Node::start(&config(bot.addr));
    Sipp::new("uac_call.xml", node.sip)
        .arg("-d")
        .arg("2000")
        .run_ok();
    let out = bot.finish(Duration::from_secs(10));
    assert!(
        out.status.success(),
        "the SIPp bot got no BYE: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        node.log()
    );
}
