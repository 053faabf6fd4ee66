//! A call bridged to a WebSocket bot (the reference bot, examples/ws_echo_bot.rs, started by the
//! test): the caller's audio comes back from the bot byte for byte (also in 40 ms messages), DTMF `0` makes the bot send
//! `transfer` and the zoom-cc BYE carries the bot's reason, and a bot that dies mid-call is
//! restarted within the budget and then the call is handed back with `BotFailure`, not dropped;
//! so is the call of a bot that breaks the WebSocket protocol, after the node closes each of its
//! connections with status 1002. The node's close frame is the last frame a bot hears, even
//! when the bot pings and marks after `stop`.

mod common;
use std::io::Write as _;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ws_bot::{config, Bot};
use common::{
    call_with_tone, echoed, expect_bye_scenario, play_pcap, scenario_with, session_records,
    ulaw_rms, wait_until, Node, Sipp,
};

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

/// With `chunk_ms = 40` the bot hears two frames per message (1,280 bytes of L16/16k) and its
/// answers, cut back into 20 ms frames, still reach the caller.
#[test]
fn caller_audio_in_40_ms_messages_comes_back() {
    let bot = Bot::start(&[]);
    let text = config(bot.addr, "audio/l16").replace(
        "format = \"audio/l16\"",
        "format = \"audio/l16\"\nchunk_ms = 40",
    );
    let node = Node::start(&text);
    let (_, received) = call_with_tone(&node, "ws-echo-l16-40ms", 150);
    let loud = received
        .iter()
        .filter(|p| ulaw_rms(&p.payload) > 2000.0)
        .count();
    assert!(
        loud >= 80,
        "only {loud} loud frames came back\n{}",
        bot.log()
    );
    assert!(
        bot.log().lines().any(|l| l == "audio: 1280 bytes"),
        "the bot did not hear 40 ms messages\n{}",
        bot.log()
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
    let (_dir, path) = expect_bye_scenario("BotFailure", "");
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

#[test]
fn fifty_calls_whose_bot_is_killed_all_end_in_bot_failure() {
    const CALLS: usize = 50;
    let mut bot = Bot::start(&[]);
    let node = Node::start(&config(bot.addr, "audio/x-mulaw"));
    let (_dir, path) = expect_bye_scenario("BotFailure", "");
    // SIPp takes the last -m: 50 calls at 25/s, all held at once.
    let sipp = Sipp::with_scenario_file(&path, node.sip)
        .arg("-m")
        .arg(CALLS.to_string())
        .arg("-r")
        .arg("25")
        .arg("-l")
        .arg(CALLS.to_string());
    let mut callers = sipp.spawn();
    assert!(
        wait_until(Duration::from_secs(30), || bot.streams_started() == CALLS),
        "the bot saw {} of {CALLS} calls",
        bot.streams_started()
    );
    bot.kill();
    let mut status = None;
    assert!(
        wait_until(Duration::from_secs(60), || {
            status = callers.try_wait().unwrap();
            status.is_some()
        }),
        "not every caller got its BYE in 60 s"
    );
    // SIPp exits 0 only when every call got a BYE with `kore-reason: BotFailure`.
    assert!(
        status.expect("checked above").success(),
        "some calls did not end in a BotFailure hand-back\n{}",
        node.log()
    );
    let mut records = Vec::new();
    assert!(wait_until(Duration::from_secs(15), || {
        records = session_records(&node);
        records.len() == CALLS
    }));
    let failures = records
        .iter()
        .filter(|r| r.end_reason == "BotFailure")
        .count();
    // No reconnection is possible (the bot is gone), so every call is escalated: none dropped.
    assert_eq!(failures, CALLS, "calls ended otherwise: {records:?}");
    assert_eq!(
        node.metric("voxgate_bot_restarts_total"),
        2.0 * CALLS as f64
    );
}

/// Accepts `connections` WebSocket connections on `listener`; on each, sends a frame no server
/// may send (a masked one, RFC 6455 §5.1) and records the status code of the close frame the
/// node answers with (`None`: none came).
fn protocol_breaking_bot(
    listener: TcpListener,
    connections: usize,
) -> Arc<Mutex<Vec<Option<u16>>>> {
    let codes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&codes);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(stream) = stream else { continue };
            let mut ws = tungstenite::accept(stream).expect("the node's upgrade request");
            // FIN + text, masked, one byte "x" under a zero mask.
            ws.get_mut()
                .write_all(&[0x81, 0x81, 0, 0, 0, 0, b'x'])
                .unwrap();
            let code = loop {
                match ws.read() {
                    Ok(tungstenite::Message::Close(frame)) => {
                        break frame.map(|f| u16::from(f.code));
                    }
                    Ok(_) => continue,
                    Err(_) => break None,
                }
            };
            seen.lock().unwrap().push(code);
        }
    });
    codes
}

/// One call whose bot leg fails for good: the caller gets the zoom-cc BYE with `BotFailure`,
/// and the session record says so.
fn call_handed_back_for_bot_failure(node: &Node) {
    let (_dir, path) = expect_bye_scenario("BotFailure", "");
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        node
    )
    .is_empty()));
    assert_eq!(session_records(node)[0].end_reason, "BotFailure");
}

#[test]
fn a_bot_that_breaks_the_protocol_is_closed_with_1002_restarted_then_handed_back() {
    let (listener, bot) = bot_listener();
    // The first connection and the two restarts of the budget.
    let codes = protocol_breaking_bot(listener, 3);
    let node = Node::start(&config(bot, "audio/x-mulaw"));
    call_handed_back_for_bot_failure(&node);
    assert_eq!(node.metric("voxgate_bot_restarts_total"), 2.0);
    assert!(
        wait_until(Duration::from_secs(10), || codes.lock().unwrap().len() == 3),
        "the bot saw {:?}",
        codes.lock().unwrap()
    );
    assert_eq!(*codes.lock().unwrap(), [Some(1002); 3]);
}

/// A listener for a bot the test plays itself, and its address for the node's config.
fn bot_listener() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// The node's next WebSocket connection on `listener`, upgraded; reads time out after 20 s
/// (a guard: the tests end their calls long before).
fn accept_one(listener: &TcpListener) -> Option<tungstenite::WebSocket<std::net::TcpStream>> {
    let (stream, _) = listener.accept().ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    Some(tungstenite::accept(stream).expect("the node's upgrade request"))
}

/// What [`talking_bot`] saw from the node.
#[derive(Default, Debug)]
struct TalkingBotSaw {
    pongs: Vec<Vec<u8>>,
    marks: Vec<String>,
    media: usize,
    /// From the burst sent to the first mark reported.
    mark_after: Option<Duration>,
}

/// Accepts one WebSocket connection on `listener` and, once the stream has started, says in
/// one go what a bot says between two frames of a real call: half a second of a 440 Hz tone in
/// one `media` event, a ping, then a `mark`. Records the node's pongs, the marks it reports
/// played and how many `media` events it sent, until the node closes the stream.
fn talking_bot(listener: TcpListener, tone_frames: usize) -> Arc<Mutex<TalkingBotSaw>> {
    use base64::Engine as _;
    let saw = Arc::new(Mutex::new(TalkingBotSaw::default()));
    let seen = Arc::clone(&saw);
    std::thread::spawn(move || {
        let Some(mut ws) = accept_one(&listener) else {
            return;
        };
        let text = |ws: &mut tungstenite::WebSocket<_>| loop {
            match ws.read() {
                Ok(tungstenite::Message::Text(t)) => break Some(t.to_string()),
                Ok(_) => continue,
                Err(_) => break None,
            }
        };
        while let Some(t) = text(&mut ws) {
            if t.contains("\"event\":\"start\"") {
                break;
            }
        }
        let tone: Vec<u8> = (0..tone_frames).flat_map(common::tone_frame).collect();
        let payload = base64::engine::general_purpose::STANDARD.encode(tone);
        let media = format!(r#"{{"event":"media","media":{{"payload":"{payload}"}}}}"#);
        let burst = std::time::Instant::now();
        ws.send(tungstenite::Message::text(media)).unwrap();
        ws.send(tungstenite::Message::Ping(b"p1".to_vec().into()))
            .unwrap();
        ws.send(tungstenite::Message::text(
            r#"{"event":"mark","mark":{"name":"after-tone"}}"#,
        ))
        .unwrap();
        loop {
            match ws.read() {
                Ok(tungstenite::Message::Pong(p)) => seen.lock().unwrap().pongs.push(p.to_vec()),
                Ok(tungstenite::Message::Text(t)) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    let mut saw = seen.lock().unwrap();
                    match v["event"].as_str() {
                        Some("mark") => {
                            saw.mark_after.get_or_insert(burst.elapsed());
                            saw.marks
                                .push(v["mark"]["name"].as_str().unwrap_or("").to_owned());
                        }
                        Some("media") => saw.media += 1,
                        _ => {}
                    }
                }
                Ok(tungstenite::Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    });
    saw
}

/// Audio, a ping and a mark sent by the bot in one burst: the caller hears the audio, the ping
/// is answered and the mark is reported once the audio before it has been played, in that
/// order (the leg's clock takes the audio off the socket, the actor the rest).
#[test]
fn a_bots_audio_ping_and_mark_in_one_burst_are_played_answered_and_reported() {
    let (listener, bot) = bot_listener();
    let saw = talking_bot(listener, 25);
    let node = Node::start(&config(bot, "audio/x-mulaw"));
    let (_, received) = call_with_tone(&node, "ws-talking-bot", 100);
    let tone: std::collections::HashSet<Vec<u8>> = (0..25).map(common::tone_frame).collect();
    let heard = received
        .iter()
        .filter(|p| tone.contains(&p.payload))
        .count();
    assert!(
        heard >= 20,
        "the caller heard {heard} of the bot's 25 frames\n{}",
        node.log()
    );
    assert!(
        wait_until(Duration::from_secs(10), || !saw
            .lock()
            .unwrap()
            .marks
            .is_empty()),
        "no mark came back: {:?}\n{}",
        saw.lock().unwrap(),
        node.log()
    );
    let saw = saw.lock().unwrap();
    assert_eq!(saw.pongs, [b"p1".to_vec()]);
    assert_eq!(saw.marks, ["after-tone"]);
    // Reported once the 500 ms of audio before it has been played, not when it arrived.
    let after = saw.mark_after.unwrap();
    assert!(
        after >= Duration::from_millis(400),
        "mark reported after {after:?}"
    );
    assert!(saw.media >= 50, "the bot heard {} frames", saw.media);
}

/// A bot that accepts the stream and never says anything: with `first_message_timeout_ms`
/// each connection fails once that time has passed (the leg's clock reads the socket, the
/// timer runs on the actor), the budget's two restarts fail the same way, and the caller is
/// handed back with `BotFailure`.
#[test]
fn a_bot_that_never_speaks_fails_at_its_first_message_timeout_and_the_caller_is_handed_back() {
    let (listener, bot) = bot_listener();
    let connections = Arc::new(Mutex::new(0usize));
    let seen = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(3) {
            let Ok(stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut ws = tungstenite::accept(stream).expect("the node's upgrade request");
            *seen.lock().unwrap() += 1;
            // Listen, never answer, until the node lets go.
            while ws.read().is_ok() {}
        }
    });
    let text = config(bot, "audio/x-mulaw").replace(
        "connect_timeout_ms = 1000\n",
        "connect_timeout_ms = 1000\nfirst_message_timeout_ms = 300\n",
    );
    let node = Node::start(&text);
    call_handed_back_for_bot_failure(&node);
    assert_eq!(*connections.lock().unwrap(), 3);
    assert!(
        node.log().contains("no message from the bot in 300 ms"),
        "{}",
        node.log()
    );
}

/// The frames a [`recording_bot`] read, in order: opcode and unmasked payload.
type Frames = Arc<Mutex<Vec<(u8, Vec<u8>)>>>;

/// Accepts one WebSocket connection on `listener` and reads every frame the node sends on it,
/// byte by byte off the socket (no library that might hide a frame after a close), until the
/// node drops the connection. It says one thing: when the `stop` event comes, a ping and a
/// `mark`, which the node, closing, must leave unanswered. It never answers the node's close
/// frame, so the node ends the connection itself. The flag is set once the socket has ended.
fn recording_bot(listener: TcpListener) -> (Frames, Arc<Mutex<bool>>) {
    use std::io::Read as _;
    let frames: Frames = Arc::default();
    let ended = Arc::new(Mutex::new(false));
    let (seen, done) = (Arc::clone(&frames), Arc::clone(&ended));
    std::thread::spawn(move || {
        // The handshake only: the node writes no frame before our 101 reaches it.
        let Some(mut socket) = accept_one(&listener).map(tungstenite::WebSocket::into_inner) else {
            return;
        };
        let mut writer = socket.try_clone().unwrap();
        let mut read = |n: usize| -> Option<Vec<u8>> {
            let mut buf = vec![0; n];
            socket.read_exact(&mut buf).ok().map(|()| buf)
        };
        while let Some(head) = read(2) {
            let opcode = head[0] & 0x0f;
            let len = match head[1] & 0x7f {
                126 => read(2).map(|b| u64::from(u16::from_be_bytes([b[0], b[1]]))),
                127 => read(8).map(|b| u64::from_be_bytes(b.try_into().unwrap())),
                n => Some(u64::from(n)),
            };
            // Every client frame is masked (RFC 6455 §5.3).
            let (Some(len), Some(mask)) = (len, read(4)) else {
                break;
            };
            let Some(mut payload) = read(usize::try_from(len).unwrap()) else {
                break;
            };
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
            if opcode == 0x1 && String::from_utf8_lossy(&payload).contains(r#""event":"stop""#) {
                let mark = br#"{"event":"mark","mark":{"name":"late"}}"#;
                let mut say = vec![0x89, 2, b'p', b'2', 0x81, mark.len() as u8];
                say.extend_from_slice(mark);
                let _ = writer.write_all(&say);
            }
            seen.lock().unwrap().push((opcode, payload));
        }
        *done.lock().unwrap() = true;
    });
    (frames, ended)
}

/// RFC 6455 §5.5.1: once the node has sent its close frame it sends no other frame. The
/// caller hangs up 3 s into a 7 s recording, with its audio still arriving, and the bot sends
/// a ping and a mark on hearing `stop`: the bot hears the audio, then `stop`, then the close,
/// last (no pong, no mark, no audio after it).
#[test]
fn the_close_frame_is_the_last_frame_the_bot_hears() {
    let (listener, bot) = bot_listener();
    let (frames, ended) = recording_bot(listener);
    let node = Node::start(&config(bot, "audio/l16"));
    let media = "<exec play_pcap_audio=\"/usr/share/sip-tester/g711a.pcap\"/>";
    let (_dir, path) = scenario_with("uac_media.xml", &[("CODEC_PT", "8"), ("MEDIA", media)]);
    Sipp::with_scenario_file(&path, node.sip)
        .arg("-d")
        .arg("3000")
        .run_ok();
    let read = || {
        frames
            .lock()
            .unwrap()
            .iter()
            .map(|(op, p)| (*op, p.len()))
            .collect::<Vec<_>>()
    };
    assert!(
        wait_until(Duration::from_secs(15), || *ended.lock().unwrap()),
        "the node did not end the connection; the bot read {:?}\n{}",
        read(),
        node.log()
    );
    let frames = frames.lock().unwrap();
    let opcodes: Vec<u8> = frames.iter().map(|(op, _)| *op).collect();
    let audio = opcodes.iter().filter(|&&op| op == 0x2).count();
    assert!(audio >= 50, "the bot heard {audio} audio frames");
    assert_eq!(
        opcodes.iter().filter(|&&op| op == 0x8).count(),
        1,
        "{opcodes:?}"
    );
    let (last, close) = frames.last().unwrap();
    assert_eq!(*last, 0x8, "a frame followed the close: {opcodes:?}");
    assert_eq!(close[..2], 1000u16.to_be_bytes());
    let (stop_op, stop) = &frames[frames.len() - 2];
    assert_eq!(*stop_op, 0x1);
    assert!(
        String::from_utf8_lossy(stop).contains(r#""event":"stop""#),
        "{}",
        String::from_utf8_lossy(stop)
    );
}
