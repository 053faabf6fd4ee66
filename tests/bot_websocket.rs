//! A call bridged to a WebSocket bot (the reference bot, examples/ws_echo_bot.rs, started by the
//! test): the caller's audio comes back from the bot byte for byte, DTMF `0` makes the bot send
//! `transfer` and the zoom-cc BYE carries the bot's reason, and a bot that dies mid-call is
//! restarted within the budget and then the call is handed back with `BotFailure`, not dropped.

mod common;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    call_with_tone, echoed, free_port, play_pcap, scenario_with, session_records, ulaw_rms,
    wait_until, Node, Sipp, DEFAULT_TOML,
};

/// The reference bot, running.
struct Bot {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Bot {
    fn start(extra: &[&str]) -> Bot {
        let exe = example_binary();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = Command::new(exe)
            .args(["--listen", &addr.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ws_echo_bot");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        assert!(
            wait_until(Duration::from_secs(20), || TcpStream::connect(addr).is_ok()),
            "ws_echo_bot does not listen"
        );
        Bot { child, addr, log }
    }

    fn streams_started(&self) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.starts_with("start:")).count()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.kill();
    }
}

/// target/debug/examples/ws_echo_bot, built by the test run (or now, when it is not).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir.join("examples").join("ws_echo_bot");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "ws_echo_bot"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --example ws_echo_bot");
        assert!(status.success());
    }
    path
}

/// The default config with the demo bot turned into a WebSocket bot at `bot`.
fn config(bot: SocketAddr, format: &str) -> String {
    let mut text = DEFAULT_TOML.replace("kind = \"builtin\"", "kind = \"websocket\"");
    text.push_str(&format!(
        "\n[bots.websocket]\nurl = \"ws://{bot}/stream\"\nformat = \"{format}\"\n\
         connect_timeout_ms = 1000\n[bots.restart]\nmax_restarts = 2\nwindow_secs = 10\n\
         backoff_ms = 100\n"
    ));
    text
}

#[test]
fn caller_audio_comes_back_from_the_bot() {
    let bot = Bot::start(&[]);
    let node = Node::start(&config(bot.addr, "audio/x-mulaw"));
    let (sent, received) = call_with_tone(&node, "ws-echo-mulaw", 150);
    let echoed = echoed(&sent, &received);
    assert!(
        echoed >= 100,
        "only {echoed} of our 150 frames came back ({} packets)\n{}",
        received.len(),
        node.log()
    );
    assert_eq!(bot.streams_started(), 1);
}

#[test]
fn l16_bot_audio_comes_back() {
    let bot = Bot::start(&[]);
    let node = Node::start(&config(bot.addr, "audio/l16"));
    let (sent, received) = call_with_tone(&node, "ws-echo-l16", 150);
    // µ-law → L16/16k → µ-law resamples: compare loudness, not bytes.
    let loud = received
        .iter()
        .filter(|p| ulaw_rms(&p.payload) > 2000.0)
        .count();
    assert!(!sent.is_empty());
    assert!(
        loud >= 80,
        "only {loud} loud frames came back ({} packets)",
        received.len()
    );
}

#[test]
fn dtmf_zero_makes_the_bot_transfer_with_its_reason() {
    let bot = Bot::start(&["--transfer-reason", "BotSaysAgent"]);
    let node = Node::start(&config(bot.addr, "audio/x-mulaw"));
    let play = play_pcap("dtmf_2833_0.pcap");
    let (_dir, path) = scenario_with(
        "uac_expect_bye.xml",
        &[
            ("HEADER", "kore-reason"),
            ("REASON", "BotSaysAgent"),
            ("CODEC_PT", "0"),
            ("PLAY", &play),
        ],
    );
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    let r = &session_records(&node)[0];
    assert_eq!(r.end_reason, "BotSaysAgent");
    let esc = r.escalation.as_ref().expect("escalation recorded");
    assert_eq!(esc.reason, "BotSaysAgent");
    assert_eq!(
        esc.variables.get("ringGroup").map(String::as_str),
        Some("agents")
    );
    assert!(
        r.transcript.iter().any(|l| l.text == "echo bot ready"),
        "the bot's transcript line is kept"
    );
}

#[test]
fn a_bot_killed_mid_call_ends_in_bot_failure_not_a_dropped_caller() {
    let mut bot = Bot::start(&[]);
    let node = Node::start(&config(bot.addr, "audio/x-mulaw"));
    let (_dir, path) = scenario_with(
        "uac_expect_bye.xml",
        &[
            ("HEADER", "kore-reason"),
            ("REASON", "BotFailure"),
            ("CODEC_PT", "0"),
            ("PLAY", ""),
        ],
    );
    let sipp = Sipp::with_scenario_file(&path, node.sip);
    let mut caller = sipp.spawn();
    assert!(
        wait_until(Duration::from_secs(15), || bot.streams_started() == 1),
        "the bot never saw the call"
    );
    bot.kill();
    let mut status = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            status = caller.try_wait().unwrap();
            status.is_some()
        }),
        "the caller got no BYE in 30 s"
    );
    let status = status.expect("checked above");
    assert!(status.success(), "sipp failed\n{}", node.log());
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    let r = &session_records(&node)[0];
    assert_eq!(r.end_reason, "BotFailure");
    assert_eq!(node.metric("voxgate_bot_restarts_total"), 2.0);
}
