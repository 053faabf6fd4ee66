//! The builtin demo bot: greeting first, then a mark; caller audio dropped until the mark is
//! played and echoed unchanged after; DTMF escalates or hangs up once; configurable digits,
//! reasons and variables; no greeting means an echo at once; `StopLeg` reports the exit.
//!
//! No test waits a fixed time to be correct: they poll with deadlines, or use a barrier (a
//! `send(..).await` to the bot, then one to the recorder) to know everything earlier has landed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::{Actor, Addr, AsyncContext, Context, Handler, Message};
use voxgate_actors::bots::builtin::GREETING_MARK;
use voxgate_actors::bots::{greeting, BotOwner, BuiltinBot};
use voxgate_actors::calls::messages::{
    AudioFrame, Clear, Dtmf, Escalate, ExitCause, Hangup, LegExited, LegKind, Mark, MarkPlayed,
    StopLeg, Transcript,
};
use voxgate_actors::calls::transcoder::Downstream;
use voxgate_actors::media::{FrameRing, RingError};
use voxgate_codecs::{l16, AudioFormat, ByteOrder, EncodedFrame, SampleRate};
use voxgate_engine::config::BuiltinBotConfig;

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Audio(Box<EncodedFrame>),
    Mark(String),
    Clear,
    Escalate(Escalate),
    Hangup(Hangup),
    Transcript(Transcript),
    Exited(LegExited),
}

/// The fake owner: records everything the bot sends, in arrival order.
struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Actor for Recorder {
    type Context = Context<Self>;
}

macro_rules! record {
    ($msg:ty, $m:ident => $event:expr) => {
        impl Handler<$msg> for Recorder {
            type Result = ();
            fn handle(&mut self, $m: $msg, _: &mut Context<Self>) {
                self.0.lock().unwrap().push($event);
            }
        }
    };
}

record!(Downstream, m => Event::Audio(Box::new(m.0 .0)));
record!(Mark, m => Event::Mark(m.0));
record!(Clear, _m => Event::Clear);
record!(Escalate, m => Event::Escalate(m));
record!(Hangup, m => Event::Hangup(m));
record!(Transcript, m => Event::Transcript(m));
record!(LegExited, m => Event::Exited(m));

#[derive(Message)]
#[rtype(result = "()")]
struct Ping;

impl Handler<Ping> for Recorder {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

struct Rig {
    bot: Addr<BuiltinBot>,
    recorder: Addr<Recorder>,
    events: Arc<Mutex<Vec<Event>>>,
    greeting_frames: usize,
}

impl Rig {
    fn start(config: BuiltinBotConfig) -> Rig {
        Self::start_with(config, BuiltinBot::FORMAT, |bot| bot)
    }

    /// A bot speaking `format`, changed by `wire` before it starts.
    fn start_with(
        config: BuiltinBotConfig,
        format: AudioFormat,
        wire: impl FnOnce(BuiltinBot) -> BuiltinBot,
    ) -> Rig {
        let events = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder(events.clone()).start();
        let owner = BotOwner {
            audio: recorder.clone().recipient(),
            marks: recorder.clone().recipient(),
            clear: recorder.clone().recipient(),
            escalate: recorder.clone().recipient(),
            hangup: recorder.clone().recipient(),
            transcript: recorder.clone().recipient(),
            exited: recorder.clone().recipient(),
        };
        let bot = wire(BuiltinBot::new(config, format, owner).unwrap());
        let greeting_frames = bot.greeting_frames();
        Rig {
            bot: bot.start(),
            recorder,
            events,
            greeting_frames,
        }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&[Event]) -> bool) {
        poll_until(what, || done(&self.events())).await;
    }

    /// Everything the bot was sent before has been handled, and what it sent has been recorded.
    async fn barrier(&self) {
        self.bot.send(MarkPlayed("barrier".into())).await.unwrap();
        self.recorder.send(Ping).await.unwrap();
    }

    async fn greeted(&self) {
        self.wait_for("the greeting mark", |e| {
            e.contains(&Event::Mark(GREETING_MARK.into()))
        })
        .await;
    }

    async fn digit(&self, digit: char) {
        self.bot
            .send(Dtmf {
                digit,
                duration_ms: 100,
            })
            .await
            .unwrap();
    }

    fn audio(&self) -> Vec<EncodedFrame> {
        audio_of(&self.events())
    }
}

fn audio_of(events: &[Event]) -> Vec<EncodedFrame> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Audio(f) => Some((**f).clone()),
            _ => None,
        })
        .collect()
}

/// A caller frame (bot format) with recognisable content.
fn caller_frame(seed: u8) -> EncodedFrame {
    let bytes: Vec<u8> = (0..320u16).map(|i| seed.wrapping_add(i as u8)).collect();
    EncodedFrame::from_bytes(BuiltinBot::FORMAT, &bytes).unwrap()
}

#[actix::test]
async fn greeting_frames_then_mark_come_first() {
    let rig = Rig::start(BuiltinBotConfig::default());
    assert_eq!(rig.greeting_frames, 33, "660 ms of 20 ms frames");
    rig.greeted().await;
    let events = rig.events();
    let media: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Audio(_) | Event::Mark(_)))
        .collect();
    assert_eq!(media.len(), rig.greeting_frames + 1);
    assert_eq!(
        media.last(),
        Some(&&Event::Mark(GREETING_MARK.into())),
        "mark after the last frame"
    );
    // The frames are the synthesised greeting, L16/8k little-endian.
    let pcm = greeting::tones(SampleRate::Hz8000);
    for (i, f) in audio_of(&events).iter().enumerate() {
        assert_eq!(f.format(), BuiltinBot::FORMAT);
        let mut want = [0u8; 320];
        l16::pack(
            &pcm[i * 160..(i + 1) * 160],
            ByteOrder::LittleEndian,
            &mut want,
        )
        .unwrap();
        assert_eq!(f.bytes(), &want[..], "greeting frame {i}");
    }
    assert!(events.contains(&Event::Transcript(Transcript {
        role: "bot".into(),
        text: greeting::DESCRIPTION.into(),
    })));
}

#[actix::test]
async fn caller_audio_is_dropped_until_the_greeting_played_then_echoed() {
    let rig = Rig::start(BuiltinBotConfig::default());
    rig.greeted().await;
    for seed in 0..3 {
        rig.bot.do_send(AudioFrame(caller_frame(seed)));
    }
    // A mark other than the greeting's does not start the echo.
    rig.bot.do_send(MarkPlayed("other".into()));
    rig.bot.do_send(AudioFrame(caller_frame(9)));
    rig.barrier().await;
    assert_eq!(rig.audio().len(), rig.greeting_frames, "nothing echoed yet");

    rig.bot.do_send(MarkPlayed(GREETING_MARK.into()));
    let sent: Vec<EncodedFrame> = (10..15).map(caller_frame).collect();
    for f in &sent {
        rig.bot.do_send(AudioFrame(f.clone()));
    }
    let want = rig.greeting_frames + sent.len();
    rig.wait_for("the echo", |e| audio_of(e).len() == want)
        .await;
    assert_eq!(
        &rig.audio()[rig.greeting_frames..],
        &sent[..],
        "echoed unchanged"
    );

    // A lost frame comes back as a frame of silence.
    rig.bot
        .do_send(AudioFrame(EncodedFrame::empty(BuiltinBot::FORMAT)));
    rig.wait_for("the silence", |e| audio_of(e).len() == want + 1)
        .await;
    let silence = rig.audio().pop().unwrap();
    assert_eq!(silence.bytes(), &[0u8; 320][..]);
}

#[actix::test]
async fn zero_escalates_once_to_agents() {
    let rig = Rig::start(BuiltinBotConfig::default());
    rig.greeted().await;
    rig.bot.do_send(MarkPlayed(GREETING_MARK.into()));
    rig.digit('0').await;
    // After the escalation: digits and audio are ignored.
    rig.digit('0').await;
    rig.digit('#').await;
    rig.digit('5').await;
    rig.bot.do_send(AudioFrame(caller_frame(1)));
    rig.barrier().await;
    let events = rig.events();
    let escalations: Vec<&Escalate> = events
        .iter()
        .filter_map(|e| match e {
            Event::Escalate(x) => Some(x),
            _ => None,
        })
        .collect();
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0].reason, "TransferToAgent");
    assert_eq!(
        escalations[0].variables,
        BTreeMap::from([("ringGroup".to_string(), "agents".to_string())])
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Hangup(_))));
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::Transcript(t) if t.role == "caller")));
    // Queued bot audio is cleared once, just before the escalation.
    let clear = events.iter().position(|e| *e == Event::Clear);
    let escalate = events.iter().position(|e| matches!(e, Event::Escalate(_)));
    assert_eq!(clear.map(|c| c + 1), escalate);
    assert_eq!(events.iter().filter(|e| **e == Event::Clear).count(), 1);
    assert_eq!(
        rig.audio().len(),
        rig.greeting_frames,
        "no echo after escalating"
    );
}

#[actix::test]
async fn hash_hangs_up_and_other_digits_are_transcribed() {
    let rig = Rig::start(BuiltinBotConfig::default());
    rig.digit('5').await;
    rig.digit('#').await;
    rig.digit('0').await;
    rig.barrier().await;
    let events = rig.events();
    let hangups: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Hangup(_) | Event::Escalate(_)))
        .collect();
    assert_eq!(
        hangups,
        [&Event::Hangup(Hangup {
            reason: "HangUp".into(),
            headers: Vec::new()
        })]
    );
    assert!(events.contains(&Event::Transcript(Transcript {
        role: "caller".into(),
        text: "DTMF 5".into(),
    })));
}

#[actix::test]
async fn custom_digits_reasons_and_variables() {
    let config = BuiltinBotConfig {
        escalate_digit: "5".into(),
        hangup_digit: "*".into(),
        escalate_reason: "Sales".into(),
        hangup_reason: "Bye".into(),
        escalate_variables: BTreeMap::from([("queue".into(), "sales".into())]),
        ..BuiltinBotConfig::default()
    };
    let rig = Rig::start(config.clone());
    rig.digit('0').await;
    rig.digit('#').await;
    rig.digit('5').await;
    rig.barrier().await;
    let events = rig.events();
    let escalations: Vec<&Escalate> = events
        .iter()
        .filter_map(|e| match e {
            Event::Escalate(x) => Some(x),
            _ => None,
        })
        .collect();
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0].reason, "Sales");
    assert_eq!(escalations[0].variables["queue"], "sales");
    // The default digits are plain digits here.
    for d in ["DTMF 0", "DTMF #"] {
        assert!(events.contains(&Event::Transcript(Transcript {
            role: "caller".into(),
            text: d.into(),
        })));
    }
    assert!(!events.iter().any(|e| matches!(e, Event::Hangup(_))));

    let rig = Rig::start(config);
    rig.digit('*').await;
    rig.barrier().await;
    assert!(rig.events().contains(&Event::Hangup(Hangup {
        reason: "Bye".into(),
        headers: Vec::new()
    })));
}

#[actix::test]
async fn no_greeting_echoes_at_once() {
    let rig = Rig::start(BuiltinBotConfig {
        greeting: "none".into(),
        ..BuiltinBotConfig::default()
    });
    assert_eq!(rig.greeting_frames, 0);
    let f = caller_frame(42);
    rig.bot.do_send(AudioFrame(f.clone()));
    rig.wait_for("the echo", |e| !audio_of(e).is_empty()).await;
    rig.barrier().await;
    let events = rig.events();
    assert_eq!(
        events,
        [Event::Audio(Box::new(f))],
        "no greeting, no mark, no transcript"
    );
}

#[actix::test]
async fn stop_leg_reports_the_exit() {
    let rig = Rig::start(BuiltinBotConfig {
        greeting: "none".into(),
        ..BuiltinBotConfig::default()
    });
    rig.bot.do_send(StopLeg);
    rig.wait_for("the exit", |e| {
        e.iter().any(|x| matches!(x, Event::Exited(_)))
    })
    .await;
    let exits: Vec<Event> = rig
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Exited(_)))
        .collect();
    assert_eq!(
        exits,
        [Event::Exited(LegExited {
            leg: LegKind::Bot,
            cause: ExitCause::Normal("stopped".into())
        })]
    );
}

#[actix::test]
async fn bad_configs_are_refused() {
    let recorder = Recorder(Arc::default()).start();
    let owner = BotOwner {
        audio: recorder.clone().recipient(),
        marks: recorder.clone().recipient(),
        clear: recorder.clone().recipient(),
        escalate: recorder.clone().recipient(),
        hangup: recorder.clone().recipient(),
        transcript: recorder.clone().recipient(),
        exited: recorder.recipient(),
    };
    for config in [
        BuiltinBotConfig {
            greeting: "music".into(),
            ..BuiltinBotConfig::default()
        },
        BuiltinBotConfig {
            escalate_digit: "00".into(),
            ..BuiltinBotConfig::default()
        },
        BuiltinBotConfig {
            hangup_digit: "0".into(),
            ..BuiltinBotConfig::default()
        },
    ] {
        assert!(BuiltinBot::new(config, BuiltinBot::FORMAT, owner.clone()).is_err());
    }
    // Other formats work too: the greeting is encoded in them.
    let bot = BuiltinBot::new(
        BuiltinBotConfig::default(),
        AudioFormat::Pcmu,
        owner.clone(),
    )
    .unwrap();
    assert_eq!(bot.greeting_frames(), 33);
    let bot = BuiltinBot::new(BuiltinBotConfig::default(), AudioFormat::L16_16K, owner).unwrap();
    assert_eq!(bot.format(), AudioFormat::L16_16K);
}

/// The caller's side of a call for the end-to-end test: records what it would play and
/// answers every mark at once, as if it had been played.
struct FakeIngress {
    log: Arc<Mutex<Vec<Event>>>,
    played: actix::Recipient<MarkPlayed>,
}

impl Actor for FakeIngress {
    type Context = Context<Self>;
}

impl Handler<AudioFrame> for FakeIngress {
    type Result = ();
    fn handle(&mut self, msg: AudioFrame, _: &mut Context<Self>) {
        self.log.lock().unwrap().push(Event::Audio(Box::new(msg.0)));
    }
}

impl Handler<Mark> for FakeIngress {
    type Result = ();
    fn handle(&mut self, msg: Mark, _: &mut Context<Self>) {
        self.log.lock().unwrap().push(Event::Mark(msg.0.clone()));
        self.played.do_send(MarkPlayed(msg.0));
    }
}

impl Handler<Clear> for FakeIngress {
    type Result = ();
    fn handle(&mut self, _: Clear, _: &mut Context<Self>) {
        self.log.lock().unwrap().push(Event::Clear);
    }
}

fn pcmu_tone(idx: usize) -> EncodedFrame {
    let pcm: Vec<i16> = (0..160)
        .map(|i| {
            let t = (idx * 160 + i) as f64 / 8000.0;
            (6000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as i16
        })
        .collect();
    let mut bytes = [0u8; 160];
    voxgate_codecs::g711::ulaw_encode(&pcm, &mut bytes);
    EncodedFrame::from_bytes(AudioFormat::Pcmu, &bytes).unwrap()
}

fn decode_pcmu(f: &EncodedFrame) -> Vec<i16> {
    let mut pcm = vec![0i16; f.bytes().len()];
    voxgate_codecs::g711::ulaw_decode(f.bytes(), &mut pcm);
    pcm
}

/// A PCMU caller, the transcoder and the bot wired as a call wires them: the greeting reaches
/// the caller in PCMU with the mark behind it, the caller's audio comes back, `0` escalates.
#[actix::test]
async fn a_pcmu_call_through_the_transcoder() {
    use voxgate_actors::calls::transcoder::{TranscoderLeg, Upstream};

    let played = Arc::new(Mutex::new(Vec::new()));
    let call_events = Arc::new(Mutex::new(Vec::new()));
    let call = Recorder(call_events.clone()).start();

    // The bot's address exists before the bot: the transcoder and ingress need it.
    let bot_ctx = Context::<BuiltinBot>::new();
    let bot_addr = bot_ctx.address();
    let ingress = FakeIngress {
        log: played.clone(),
        played: bot_addr.clone().recipient(),
    }
    .start();
    let transcoder = TranscoderLeg::new(
        AudioFormat::Pcmu,
        BuiltinBot::FORMAT,
        bot_addr.clone().recipient(),
        ingress.clone().recipient(),
        call.clone().recipient(),
    )
    .unwrap()
    .with_marks(ingress.clone().recipient())
    .start();
    let bot = BuiltinBot::new(
        BuiltinBotConfig::default(),
        BuiltinBot::FORMAT,
        BotOwner {
            audio: transcoder.clone().recipient(),
            marks: transcoder.clone().recipient(),
            clear: ingress.recipient(),
            escalate: call.clone().recipient(),
            hangup: call.clone().recipient(),
            transcript: call.clone().recipient(),
            exited: call.recipient(),
        },
    )
    .unwrap();
    let greeting_frames = bot.greeting_frames();
    bot_ctx.run(bot);

    let wait = |what: &'static str, want: usize| {
        let played = played.clone();
        async move { poll_until(what, || played.lock().unwrap().len() >= want).await }
    };
    wait("greeting and mark", greeting_frames + 1).await;
    {
        let log = played.lock().unwrap();
        assert_eq!(log[greeting_frames], Event::Mark(GREETING_MARK.into()));
        let greeting = audio_of(&log);
        assert_eq!(
            greeting.len(),
            greeting_frames,
            "no frame lost, none after the mark"
        );
        assert!(greeting.iter().all(|f| f.format() == AudioFormat::Pcmu));
        // The first tone is audible in PCMU.
        let loud = decode_pcmu(&greeting[2])
            .iter()
            .map(|s| s.unsigned_abs())
            .max();
        assert!(loud > Some(6000), "{loud:?}");
    }

    // The ingress answered the mark: the bot now echoes, through the transcoder both ways.
    let sent: Vec<EncodedFrame> = (0..20).map(pcmu_tone).collect();
    for (i, f) in sent.iter().enumerate() {
        transcoder.do_send(Upstream(AudioFrame(f.clone())));
        wait("the echo", greeting_frames + 2 + i).await;
    }
    let echoed = audio_of(&played.lock().unwrap())[greeting_frames..].to_vec();
    assert_eq!(echoed.len(), sent.len());
    for (s, e) in sent.iter().zip(&echoed) {
        assert_eq!(e.format(), AudioFormat::Pcmu);
        // µ-law → L16 → µ-law is exact (up to the two codes of zero).
        assert_eq!(decode_pcmu(s), decode_pcmu(e));
    }

    bot_addr
        .send(Dtmf {
            digit: '0',
            duration_ms: 80,
        })
        .await
        .unwrap();
    poll_until("the escalation", || {
        call_events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::Escalate(x) if x.reason == "TransferToAgent"))
    })
    .await;
}

/// Wired to the RTP leg by rings (a G.711 call): the whole greeting goes into the return ring
/// before its mark, caller frames from the input ring are echoed into it byte for byte once
/// the mark is played (reflected by the ring), a lost frame (empty) as a frame of silence; a
/// full return ring refuses; after an escalation the bot is deaf.
#[actix::test]
async fn ring_wired_bot_greets_and_echoes_without_messages() {
    let format = BuiltinBot::format_for(AudioFormat::Pcmu);
    let from_caller = FrameRing::new(format, 160, 8);
    let to_caller = FrameRing::new(format, 160, 40);
    let rig = Rig::start_with(BuiltinBotConfig::default(), format, |bot| {
        bot.with_rings(Arc::clone(&from_caller), Arc::clone(&to_caller))
    });
    rig.greeted().await;
    assert_eq!(
        to_caller.len(),
        rig.greeting_frames,
        "the greeting is in the ring"
    );
    assert!(rig.audio().is_empty(), "no audio went as messages");
    to_caller.clear();

    // Before the mark is played the caller is not echoed.
    from_caller.push(&[0x11; 160]).unwrap();
    read_by_the_bot(&from_caller).await;
    assert!(to_caller.is_empty());
    rig.bot
        .send(MarkPlayed(GREETING_MARK.into()))
        .await
        .unwrap();

    // Echoing: the input ring reflects into the return ring as the leg pushes, without a
    // wake of the bot in between.
    from_caller.push(&[0x22; 160]).unwrap();
    from_caller.push(&[]).unwrap();
    assert_eq!(to_caller.len(), 2);
    assert!(from_caller.is_empty());
    assert_eq!(to_caller.pop_with(<[u8]>::to_vec), Some(vec![0x22; 160]));
    // µ-law silence is 0xFF.
    assert_eq!(to_caller.pop_with(<[u8]>::to_vec), Some(vec![0xff; 160]));

    // A full return ring refuses the echo (the leg is behind and counts the drop).
    for _ in 0..40 {
        to_caller.push(&[0; 160]).unwrap();
    }
    assert_eq!(from_caller.push(&[0x33; 160]), Err(RingError::Full));
    assert_eq!(to_caller.len(), 40);
    to_caller.clear();

    rig.digit('0').await;
    rig.wait_for("the escalation", |e| {
        e.iter().any(|e| matches!(e, Event::Escalate(_)))
    })
    .await;
    from_caller.push(&[0x44; 160]).unwrap();
    read_by_the_bot(&from_caller).await;
    assert!(to_caller.is_empty(), "deaf after the escalation");
    assert!(rig.events().contains(&Event::Clear));
}

/// Waits until the bot has taken everything out of `ring`.
async fn read_by_the_bot(ring: &FrameRing) {
    poll_until("the bot to read its ring", || ring.is_empty()).await;
}

/// Polls `done` every millisecond, failing the test after 5 s waiting for `what`.
async fn poll_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
}
