//! A call bridged to a WebSocket bot (the reference bot, examples/ws_echo_bot.rs, started by the
//! test): the caller's audio comes back from the bot byte for byte, DTMF `0` makes the bot send
//! `transfer` and the zoom-cc BYE carries the bot's reason, and a bot that dies mid-call is
//! restarted within the budget and then the call is handed back with `BotFailure`, not dropped.

mod common;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, scenario_with, session_records, wait_until, Node, Sipp, DEFAULT_TOML};
use voxgate_codecs::g711;

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

fn tone_frame(n: usize) -> Vec<u8> {
    (0..160)
        .map(|i| {
            let t = (n * 160 + i) as f64 / 8000.0;
            let s = (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
            g711::ulaw_encode_sample(s)
        })
        .collect()
}

/// Calls the node as a PCMU caller sending a 440 Hz tone for 3 s; returns the payloads received.
fn call_with_tone(node: &Node, call_id: &str) -> (HashSet<Vec<u8>>, Vec<Vec<u8>>) {
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (sip_port, media_port) = (
        sip.local_addr().unwrap().port(),
        media.local_addr().unwrap().port(),
    );
    let invite = format!(
        "INVITE sip:+15550100@{n} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK{call_id};rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=w1\r\nTo: <sip:+15550100@{n}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:{sip_port}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\
         c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {media_port} RTP/AVP 0\r\na=ptime:20\r\n",
        n = node.sip
    );
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sip.send_to(invite.as_bytes(), node.sip).unwrap();
    let mut buf = [0u8; 4096];
    let ok = loop {
        let (n, _) = sip.recv_from(&mut buf).expect("200 OK");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
    };
    let to = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .unwrap()
        .to_owned();
    let ack = format!(
        "ACK sip:voxgate@{n} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKack{call_id};rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=w1\r\n{to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        n = node.sip
    );
    sip.send_to(ack.as_bytes(), node.sip).unwrap();
    let port: u16 = ok
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("answer port");

    let mut sent = HashSet::new();
    let mut received = Vec::new();
    let start = Instant::now();
    let mut next = 0usize;
    let frames = 150;
    while start.elapsed() < Duration::from_millis(frames as u64 * 20 + 1000) {
        let due = start + Duration::from_millis(next as u64 * 20);
        if next < frames && Instant::now() >= due {
            let payload = tone_frame(next);
            let mut pkt = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0e];
            pkt[2..4].copy_from_slice(&(next as u16 + 1).to_be_bytes());
            pkt[4..8].copy_from_slice(&(next as u32 * 160).to_be_bytes());
            pkt.extend_from_slice(&payload);
            media.send_to(&pkt, ("127.0.0.1", port)).unwrap();
            sent.insert(payload);
            next += 1;
            continue;
        }
        let wait = due
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        media.set_read_timeout(Some(wait)).unwrap();
        if let Ok((n, _)) = media.recv_from(&mut buf) {
            if n > 12 && buf[1] & 0x7f == 0 {
                received.push(buf[12..n].to_vec());
            }
        }
    }
    (sent, received)
}

#[test]
fn caller_audio_comes_back_from_the_bot() {
    let bot = Bot::start(&[]);
    let node = Node::start(&config(bot.addr, "audio/x-mulaw"));
    let (sent, received) = call_with_tone(&node, "ws-echo-mulaw");
    let echoed = received.iter().filter(|p| sent.contains(*p)).count();
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
    let (sent, received) = call_with_tone(&node, "ws-echo-l16");
    // µ-law → L16/16k → µ-law resamples: compare loudness, not bytes.
    let loud = received
        .iter()
        .filter(|p| {
            let rms = (p
                .iter()
                .map(|&b| f64::from(g711::ulaw_decode_sample(b)).powi(2))
                .sum::<f64>()
                / p.len() as f64)
                .sqrt();
            rms > 2000.0
        })
        .count();
    assert!(!sent.is_empty());
    assert!(
        loud >= 80,
        "only {loud} loud frames came back ({} packets)",
        received.len()
    );
}

fn play(pcap: &str) -> String {
    format!(
        "  <nop>\n    <action>\n      <exec play_pcap_audio=\"/usr/share/sip-tester/{pcap}\"/>\n    </action>\n  </nop>\n"
    )
}

#[test]
fn dtmf_zero_makes_the_bot_transfer_with_its_reason() {
    let bot = Bot::start(&["--transfer-reason", "BotSaysAgent"]);
    let node = Node::start(&config(bot.addr, "audio/x-mulaw"));
    let play = play("dtmf_2833_0.pcap");
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
    let status = (0..1500)
        .find_map(|_| {
            let s = caller.try_wait().unwrap();
            if s.is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            s
        })
        .expect("the caller got no BYE in 30 s");
    assert!(status.success(), "sipp failed\n{}", node.log());
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    let r = &session_records(&node)[0];
    assert_eq!(r.end_reason, "BotFailure");
    assert_eq!(node.metric("voxgate_bot_restarts_total"), 2.0);
}
