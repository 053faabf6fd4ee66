//! A Talkdesk stream bridged to the reference WebSocket bot (examples/ws_echo_bot.rs): µ-law
//! passes through untouched, so the caller's tone comes back byte for byte; the bot's `transfer`
//! becomes the final `stop` with the bot's `ringGroup` variable; and when the bot is killed
//! mid-call it is restarted within its budget, then the caller is escalated with `BotFailure`.
//! With an `audio/l16` bot the bot leg resamples µ-law 8 kHz ⇄ L16 16 kHz itself, behind the
//! call's pass-through transcoder (a Talkdesk stream has no direct bot path): the tone comes
//! back at its pitch.

mod common;
use std::time::Duration;

use common::talkdesk::{assert_bot_failure_escalation, latest_record, Stream};
use common::ws_bot::{config, Bot};
use common::{tone_frame, ulaw_rms, wait_until, Node};

#[test]
fn reference_bot_echo_and_transfer() {
    let bot = Bot::start(&["--transfer-reason", "BotSaysAgent"]);
    let node = Node::start(&config(bot.addr, "audio/x-mulaw"));
    let mut s = Stream::open_demo(&node, "+15550100", "");
    s.start("MZws");
    s.play(100, tone_frame);
    s.pump(Duration::from_millis(300));
    let sent: std::collections::HashSet<Vec<u8>> = (0..100).map(tone_frame).collect();
    let media = s.media_payloads();
    let echoed = media.iter().filter(|p| sent.contains(*p)).count();
    assert!(echoed >= 90, "{echoed} of {} frames echoed", media.len());
    assert!(wait_until(Duration::from_secs(5), || bot.streams_started() == 1));
    s.send_dtmf("0");
    assert!(s.wait_closed(Duration::from_secs(5)));
    let stop = s.final_stop();
    assert_eq!(stop["command"], "escalate");
    assert_eq!(stop["reason"], "BotSaysAgent");
    assert_eq!(stop["ringGroup"], "agents");
    let r = latest_record(&node);
    assert!(
        r.transcript.iter().any(|l| l.text == "echo bot ready"),
        "{:?}",
        r.transcript
    );
    assert_eq!(
        r.escalation.map(|e| e.reason).as_deref(),
        Some("BotSaysAgent")
    );
}

#[test]
fn l16_bot_hears_and_answers_at_the_callers_pitch() {
    let bot = Bot::start(&[]);
    let node = Node::start(&config(bot.addr, "audio/l16"));
    let mut s = Stream::open_demo(&node, "+15550100", "");
    s.start("MZl16");
    s.play(100, tone_frame);
    s.pump(Duration::from_millis(300));
    let media = s.media_payloads();
    let loud: Vec<&Vec<u8>> = media.iter().filter(|p| ulaw_rms(p) > 2000.0).collect();
    assert!(
        loud.len() >= 80,
        "{} loud of {} frames",
        loud.len(),
        media.len()
    );
    // 440 Hz crosses zero 17.6 times in 20 ms: the tone came back, not noise or a wrong rate.
    for p in &loud[5..loud.len() - 5] {
        let signs: Vec<bool> = p
            .iter()
            .map(|&b| voxgate_codecs::g711::ulaw_decode_sample(b) >= 0)
            .collect();
        let crossings = signs.windows(2).filter(|w| w[0] != w[1]).count();
        assert!((16..=19).contains(&crossings), "{crossings} zero crossings");
    }
}

#[test]
fn killed_bot_is_restarted_then_the_caller_escalated() {
    let mut bot = Bot::start(&[]);
    let node = Node::start(&config(bot.addr, "audio/x-mulaw"));
    let mut s = Stream::open_demo(&node, "+15550100", "");
    s.start("MZkill");
    s.play(10, tone_frame);
    assert!(wait_until(Duration::from_secs(10), || bot
        .streams_started()
        == 1));
    bot.kill();
    // Keep streaming as Talkdesk would while the node restarts the bot and gives up.
    let mut n = 10;
    while !s.wait_closed(Duration::from_millis(1)) && n < 1000 {
        s.play(10, |i| tone_frame(n + i));
        n += 10;
    }
    assert_bot_failure_escalation(&s, &node);
}
