//! The Talkdesk voice stream of one call (ARCHITECTURE §2–3): the WebSocket connection actor.
//!
//! A Talkdesk stream *is* its call: the socket opens when the Studio flow reaches "Connect to
//! Autopilot Voice" and closes when the call leaves the bot. So the connection actor is both the
//! call's ingress leg and its supervisor (`supervisor.rs` holds that half): it starts the same
//! bot side as a SIP call ([`crate::calls`]' transcoder and builtin or WebSocket bot), restarts a
//! failing bot within the bot's budget, hands the caller back, and writes the session record.
//!
//! Choices worth knowing:
//! - Talkdesk speaks the bot protocol with the node in the bot's seat ([`voxgate_engine::ws`]):
//!   it sends `connected`, `start`, `media`, `dtmf`, `mark`, `stop`; the node sends `media`,
//!   `mark`, `clear` and exactly one final `stop` whose `command` picks the flow's exit.
//! - Bot audio arrives as fast as the bot makes it; it is queued in a preallocated
//!   [`PlayoutQueue`] and sent one 160-byte µ-law frame per 20 ms tick, so Talkdesk gets real
//!   time and a `clear` can still drop what the caller has not heard. A bot `mark` is answered
//!   (to the bot, and as a `mark` to Talkdesk) when the audio queued before it has been sent.
//!   Talkdesk's echo of our marks is only logged: the bot must not depend on it.
//! - Caller audio is read with its strings borrowed from the frame (`inbound.rs`), decoded from
//!   base64 into one reusable buffer and cut into inline frames: an inbound `media` event
//!   allocates nothing but the actor envelopes of its frames.
//! - Bad input is counted ([`TALKDESK_BAD_FRAMES`]); an unknown event is ignored, but malformed
//!   JSON, binary or oversized frames end the stream (final `stop` `error`, then a close frame
//!   with a code and a reason), because the stream can no longer be trusted to carry the call.
//! - Talkdesk's `stop` or a closed socket is the caller hanging up: no `stop` goes back.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, AsyncContext, Handler, SpawnHandle, StreamHandler};
use actix_web_actors::ws::{self as aws, CloseCode, CloseReason, ProtocolError, WebsocketContext};
use base64::Engine as _;
use rand::RngCore;
use voxgate_codecs::{AudioFormat, EncodedFrame};
use voxgate_engine::config::BotConfig;
use voxgate_engine::store::{self, IngressKind, SessionRecord};
use voxgate_engine::ws::{self, StopCommand, ToBot};

use super::inbound;
use super::outbound::Outbound;
use crate::bots::StreamInfo;
use crate::calls::bot_tree::{self, BotSide, IngressInputs, SupervisorInputs};
use crate::calls::messages::{AudioFrame, Clear, Dtmf, Escalate, Mark, MarkPlayed, StopLeg};
use crate::calls::record::{self, unix_ms};
use crate::calls::restart::RestartBudget;
use crate::media::PlayoutQueue;
use crate::metrics::{CALLS_ENDED, FRAMES_DROPPED, TALKDESK_BAD_FRAMES};
use crate::state::{CallSlot, NodeState};

/// One µ-law frame: 20 ms at 8 kHz.
pub const FRAME_BYTES: usize = 160;
/// The pace of outbound audio.
const FRAME_PERIOD: Duration = Duration::from_millis(20);
/// Bot audio held ahead of the caller (10 s); beyond it the newest frames are dropped.
const QUEUE_FRAMES: usize = 500;
/// A stream that sends no `start` this long after the upgrade is closed.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Caller audio is decoded this many bytes at a time (six frames; a multiple of 3, so each
/// piece of base64 decodes on its own).
const DECODE_BYTES: usize = 6 * FRAME_BYTES;
/// Longest close reason sent (a close frame carries at most 123 bytes of reason).
const MAX_CLOSE_REASON: usize = 120;
/// How often a stream looks whether the node has started draining.
const DRAIN_POLL: Duration = Duration::from_secs(1);
/// How long a DTMF digit from Talkdesk is taken to last (the event carries no duration).
const DTMF_MS: u32 = 100;

/// What the HTTP handler established before the upgrade.
#[derive(Debug, Clone)]
pub struct StreamParams {
    /// The node (config, store).
    pub node: Arc<NodeState>,
    /// The bot the stream's number routes to (checked against `botId`).
    pub bot: BotConfig,
    /// The stream's number (`sipuri`, URL-decoded).
    pub did: String,
    /// Talkdesk's `accountId`, recorded.
    pub account_id: Option<String>,
    /// `agentassist=true`: listen-only.
    pub agent_assist: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Upgraded; waiting for `start`.
    AwaitStart,
    /// `start` received; the bot side runs.
    Live,
    /// Over: the final `stop` (if any) and the close frame are written.
    Ended,
}

/// What the session record collects while the stream lives.
#[derive(Debug, Default)]
pub(super) struct RecordDraft {
    pub(super) start_ms: i64,
    pub(super) answer_ms: Option<i64>,
    pub(super) call_sid: String,
    pub(super) account_sid: String,
    pub(super) stream_sid: String,
    pub(super) dtmf: String,
    pub(super) transcript: Vec<store::TranscriptLine>,
    pub(super) escalation: Option<store::Escalation>,
}

/// How a stream ends, from the node's side.
pub(super) struct Ending {
    /// The session record's end reason.
    pub(super) reason: String,
    /// The final `stop` to send (`None`: Talkdesk ended it, nothing goes back).
    pub(super) stop: Option<(StopCommand, Option<String>)>,
    /// The close frame.
    pub(super) close: CloseReason,
}

impl Ending {
    /// Talkdesk hung up (its `stop` or a closed socket): nothing goes back but the close.
    pub(super) fn caller_hang_up() -> Self {
        Ending {
            reason: "CallerHangUp".into(),
            stop: None,
            close: CloseCode::Normal.into(),
        }
    }

    /// A protocol failure: final `stop` `error`, then a close with `code` and `why` (cut to
    /// fit a close frame, whose payload is at most 125 bytes with the code).
    fn protocol(code: CloseCode, why: &str) -> Self {
        Ending {
            reason: "ProtocolError".into(),
            stop: Some((StopCommand::Error, None)),
            close: CloseReason {
                code,
                description: Some(truncate(why, MAX_CLOSE_REASON).to_owned()),
            },
        }
    }
}

/// The WebSocket actor of one Talkdesk stream (ingress leg and supervisor of its call).
pub struct TalkdeskIngress {
    pub(super) p: StreamParams,
    slot: Option<CallSlot>,
    pub(super) session_id: String,
    pub(super) phase: Phase,
    pub(super) tree: Option<BotSide>,
    out: Outbound,
    queue: PlayoutQueue,
    /// Reused for every inbound `media` payload, a piece at a time.
    decoded: [u8; DECODE_BYTES],
    clock: Option<SpawnHandle>,
    /// The node drains: the stream ends at the drain deadline (see `watch_drain`).
    drain_deadline_armed: bool,
    pub(super) restarts: RestartBudget,
    pub(super) record: RecordDraft,
}

impl TalkdeskIngress {
    /// The actor for a stream admitted with `p`, holding its call slot.
    pub fn new(p: StreamParams, slot: CallSlot) -> Self {
        let mut rng = rand::thread_rng();
        let session_id = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
        TalkdeskIngress {
            p,
            slot: Some(slot),
            session_id,
            phase: Phase::AwaitStart,
            tree: None,
            out: Outbound::new(""),
            queue: PlayoutQueue::new(QUEUE_FRAMES, FRAME_BYTES),
            decoded: [0; DECODE_BYTES],
            clock: None,
            drain_deadline_armed: false,
            restarts: RestartBudget::default(),
            record: RecordDraft {
                start_ms: unix_ms(),
                ..RecordDraft::default()
            },
        }
    }

    fn bad_frame(kind: &'static str) {
        metrics::counter!(TALKDESK_BAD_FRAMES, "kind" => kind).increment(1);
    }

    fn on_text(&mut self, text: &str, ctx: &mut WebsocketContext<Self>) {
        if let Some(media) = inbound::media(text) {
            self.on_media(media.track, &media.payload);
            return;
        }
        match ToBot::parse(text) {
            Ok(event) => self.on_event(event, ctx),
            Err(e) if is_unknown_event(text) => {
                Self::bad_frame("unknown_event");
                tracing::debug!(session_id = %self.session_id, error = %e, "unknown Talkdesk event ignored");
            }
            Err(e) => {
                Self::bad_frame("malformed");
                tracing::info!(session_id = %self.session_id, error = %e, "malformed Talkdesk event; closing the stream");
                let why = format!("malformed event: {e}");
                self.end(Ending::protocol(CloseCode::Invalid, &why), ctx);
            }
        }
    }

    fn on_event(&mut self, event: ToBot, ctx: &mut WebsocketContext<Self>) {
        match event {
            ToBot::Connected(_) => {}
            ToBot::Start {
                stream_sid, start, ..
            } => self.on_start(stream_sid, &start, ctx),
            ToBot::Media { media, .. } => self.on_media(media.track.as_deref(), &media.payload),
            ToBot::Dtmf { dtmf, .. } => {
                let Some(digit) = dtmf.digit.chars().next() else {
                    return;
                };
                if self.record.dtmf.len() < 256 {
                    self.record.dtmf.push(digit);
                }
                if crate::calls::call::test_hooks::panics_on(&self.p.did) {
                    panic!("test hook: VOXGATE_TEST_PANIC_DID matched a Talkdesk stream");
                }
                if let Some(tree) = &self.tree {
                    tree.bot.dtmf(Dtmf {
                        digit,
                        duration_ms: DTMF_MS,
                    });
                }
            }
            ToBot::Mark { mark, .. } => {
                tracing::trace!(session_id = %self.session_id, mark = %mark.name, "Talkdesk played a mark");
            }
            ToBot::Stop { .. } => self.end(Ending::caller_hang_up(), ctx),
        }
    }

    fn on_start(
        &mut self,
        envelope_sid: String,
        start: &ws::Start,
        ctx: &mut WebsocketContext<Self>,
    ) {
        if self.phase != Phase::AwaitStart {
            Self::bad_frame("duplicate_start");
            return;
        }
        let format = &start.media_format;
        let stream_sid = if start.stream_sid.is_empty() {
            envelope_sid
        } else {
            start.stream_sid.clone()
        };
        self.out = Outbound::new(&stream_sid);
        self.record.stream_sid = stream_sid;
        self.record.call_sid = start.call_sid.clone();
        self.record.account_sid = start.account_sid.clone();
        if !format
            .encoding
            .eq_ignore_ascii_case(ws::start::ENCODING_MULAW)
            || format.sample_rate != 8000
        {
            Self::bad_frame("media_format");
            let why = format!(
                "unsupported mediaFormat {}/{}: only audio/x-mulaw 8000",
                format.encoding, format.sample_rate
            );
            self.end(Ending::protocol(CloseCode::Unsupported, &why), ctx);
            return;
        }
        self.record.answer_ms = Some(unix_ms());
        if let Err(why) = self.start_tree(start, ctx) {
            tracing::warn!(session_id = %self.session_id, %why, "Talkdesk call tree did not start");
            self.end(
                Ending {
                    reason: "InternalError".into(),
                    stop: Some((StopCommand::Error, None)),
                    close: CloseReason {
                        code: CloseCode::Error,
                        description: Some("the bot could not be started".into()),
                    },
                },
                ctx,
            );
            return;
        }
        self.phase = Phase::Live;
        self.clock = Some(ctx.run_interval(FRAME_PERIOD, |me, ctx| me.tick(ctx)));
    }

    fn start_tree(
        &mut self,
        start: &ws::Start,
        ctx: &mut WebsocketContext<Self>,
    ) -> Result<(), String> {
        let me = ctx.address();
        let mut parameters = start.custom_parameters.clone();
        parameters.insert("did".into(), self.p.did.clone());
        parameters.insert("botId".into(), self.p.bot.id.clone());
        parameters.insert("talkdeskCallSid".into(), start.call_sid.clone());
        if let Some(account) = &self.p.account_id {
            parameters.insert("talkdeskAccountId".into(), account.clone());
        }
        let account_sid = start.account_sid.clone();
        let session_id = self.session_id.clone();
        let side = bot_tree::start(
            Some(self.p.bot.clone()),
            AudioFormat::Pcmu,
            IngressInputs {
                audio: me.clone().recipient(),
                marks: me.clone().recipient(),
                clear: me.clone().recipient(),
                bot_audio: None,
            },
            SupervisorInputs {
                escalate: me.clone().recipient(),
                hangup: me.clone().recipient(),
                transcript: me.clone().recipient(),
                exited: me.recipient(),
            },
            None,
            move |config| StreamInfo {
                account_sid,
                call_sid: session_id,
                custom_parameters: {
                    let mut p = config.websocket.custom_parameters.clone();
                    p.extend(parameters);
                    p
                },
            },
        )?;
        self.tree = Some(side);
        Ok(())
    }

    /// Caller audio: base64 µ-law into the reused buffer, then 20 ms frames to the transcoder.
    fn on_media(&mut self, track: Option<&str>, payload: &str) {
        let Some(tree) = &self.tree else {
            Self::bad_frame("media_before_start");
            return;
        };
        if track.is_some_and(|t| !t.starts_with("inbound")) {
            return;
        }
        for piece in payload.as_bytes().chunks(DECODE_BYTES / 3 * 4) {
            let n = match base64::engine::general_purpose::STANDARD
                .decode_slice(piece, &mut self.decoded)
            {
                Ok(n) => n,
                Err(_) => {
                    Self::bad_frame("payload");
                    return;
                }
            };
            for chunk in self.decoded[..n].chunks(FRAME_BYTES) {
                let Ok(frame) = EncodedFrame::from_bytes(AudioFormat::Pcmu, chunk) else {
                    continue;
                };
                if let Err(actix::dev::SendError::Full(_)) =
                    tree.transcoder.try_send(AudioFrame(frame))
                {
                    metrics::counter!(FRAMES_DROPPED, "leg" => "talkdesk").increment(1);
                }
            }
        }
    }

    /// One 20 ms tick: the next queued bot frame goes out, then the marks it completes.
    fn tick(&mut self, ctx: &mut WebsocketContext<Self>) {
        if self.phase != Phase::Live {
            return;
        }
        if let Some(frame) = self.queue.pop() {
            ctx.text(self.out.media(frame));
        }
        self.marks_played(ctx);
    }

    fn marks_played(&mut self, ctx: &mut WebsocketContext<Self>) {
        while let Some(name) = self.queue.pop_played_mark() {
            self.mark_played(name, ctx);
        }
    }

    fn mark_played(&mut self, name: String, ctx: &mut WebsocketContext<Self>) {
        if !self.p.agent_assist {
            ctx.text(self.out.mark(&name));
        }
        if let Some(tree) = &self.tree {
            tree.marks_to_bot.do_send(MarkPlayed(name));
        }
    }

    /// A draining node lets live streams run until its drain deadline, then ends them: a
    /// stream that saw the drain start (within [`DRAIN_POLL`]) hands its caller back a poll
    /// period before the deadline, so the final `stop` is out before the node exits.
    fn watch_drain(&mut self, ctx: &mut WebsocketContext<Self>) {
        if self.drain_deadline_armed || !self.p.node.is_draining() {
            return;
        }
        self.drain_deadline_armed = true;
        let deadline = Duration::from_secs(self.p.node.config.node.drain_deadline_secs);
        ctx.run_later(deadline.saturating_sub(DRAIN_POLL), |me, ctx| {
            if me.phase != Phase::Ended {
                tracing::info!(session_id = %me.session_id, "drain deadline: handing the stream back");
                me.hand_back_unserved("NodeShutdown", ctx);
            }
        });
    }

    /// Ends the stream once: the final `stop` (when the node ends it), the close frame, the
    /// bot side stopped, the record written.
    pub(super) fn end(&mut self, ending: Ending, ctx: &mut WebsocketContext<Self>) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Ended;
        if let Some(h) = self.clock.take() {
            ctx.cancel_future(h);
        }
        if let Some((command, ring_group)) = ending.stop {
            let stop = ws::Stop {
                account_sid: self.record.account_sid.clone(),
                call_sid: self.record.call_sid.clone(),
                reason: Some(ending.reason.clone()),
                command: Some(command),
                ring_group,
            };
            ctx.text(self.out.stop(stop));
        }
        ctx.close(Some(ending.close));
        if let Some(tree) = self.tree.take() {
            tree.bot.stop();
            tree.transcoder.do_send(StopLeg);
        }
        tracing::debug!(session_id = %self.session_id, reason = %ending.reason, "Talkdesk stream ended");
        metrics::counter!(CALLS_ENDED, "outcome" => ending.reason.clone()).increment(1);
        self.write_record(&ending.reason);
        self.slot.take();
        ctx.stop();
    }

    fn write_record(&mut self, end_reason: &str) {
        let draft = std::mem::take(&mut self.record);
        let call_id = if draft.call_sid.is_empty() {
            self.session_id.clone()
        } else {
            draft.call_sid
        };
        let record = SessionRecord {
            session_id: self.session_id.clone(),
            call_id,
            ingress: IngressKind::Talkdesk,
            did: self.p.did.clone(),
            trunk: None,
            bot_id: self.p.bot.id.clone(),
            contact_id: (!draft.stream_sid.is_empty()).then_some(draft.stream_sid),
            account_id: self.p.account_id.clone(),
            start_ms: draft.start_ms,
            answer_ms: draft.answer_ms,
            end_ms: unix_ms(),
            end_reason: end_reason.to_owned(),
            escalation: draft.escalation,
            codec: Some("PCMU/8000".into()),
            rtp: None,
            dtmf: draft.dtmf,
            transcript: draft.transcript,
        };
        record::store(&self.p.node, record);
    }
}

/// True when `text` is a JSON object whose `event` is a string the protocol does not define
/// (ignored, as Twilio clients ignore events they do not know), not malformed input.
fn is_unknown_event(text: &str) -> bool {
    const KNOWN: [&str; 6] = ["connected", "start", "media", "dtmf", "mark", "stop"];
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned))
        .is_some_and(|event| !KNOWN.contains(&event.as_str()))
}

/// At most `max` bytes of `s`, cut on a character boundary (close reasons are short).
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Actor for TalkdeskIngress {
    type Context = WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(DRAIN_POLL, |me, ctx| me.watch_drain(ctx));
        ctx.run_later(START_TIMEOUT, |me, ctx| {
            if me.phase == Phase::AwaitStart {
                TalkdeskIngress::bad_frame("no_start");
                me.end(
                    Ending::protocol(CloseCode::Policy, "no start event in time"),
                    ctx,
                );
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        // Stopped without `end` (the arbiter shut down): the bot side goes with it.
        if let Some(tree) = self.tree.take() {
            tree.bot.stop();
            tree.transcoder.do_send(StopLeg);
        }
    }
}

impl TalkdeskIngress {
    /// Runs `f` so that a panic on this stream's input ends this stream cleanly — the caller is
    /// escalated with `BotFailure` (or, listen-only, the stream is closed) — instead of taking
    /// the HTTP worker's other streams down with it.
    fn guarded(
        &mut self,
        ctx: &mut WebsocketContext<Self>,
        f: impl FnOnce(&mut Self, &mut WebsocketContext<Self>),
    ) {
        if catch_unwind(AssertUnwindSafe(|| f(self, ctx))).is_ok() {
            return;
        }
        metrics::counter!(crate::metrics::CALL_PANICS).increment(1);
        tracing::error!(session_id = %self.session_id, "a Talkdesk stream handler panicked; ending the stream cleanly");
        let recovered = catch_unwind(AssertUnwindSafe(|| {
            if self.phase == Phase::Ended {
                return;
            }
            if self.p.agent_assist {
                self.end(Ending::protocol(CloseCode::Error, "internal error"), ctx);
            } else {
                let escalate = Escalate {
                    reason: "BotFailure".into(),
                    ..Escalate::default()
                };
                <Self as Handler<Escalate>>::handle(self, escalate, ctx);
            }
        }));
        if recovered.is_err() {
            self.phase = Phase::Ended;
            ctx.stop();
        }
    }
}

impl StreamHandler<Result<aws::Message, ProtocolError>> for TalkdeskIngress {
    fn handle(&mut self, msg: Result<aws::Message, ProtocolError>, ctx: &mut Self::Context) {
        if self.phase == Phase::Ended {
            return;
        }
        self.guarded(ctx, |this, ctx| this.on_message(msg, ctx));
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        // The socket closed without a close frame: the caller's side is gone.
        self.end(Ending::caller_hang_up(), ctx);
    }
}

impl TalkdeskIngress {
    fn on_message(
        &mut self,
        msg: Result<aws::Message, ProtocolError>,
        ctx: &mut WebsocketContext<Self>,
    ) {
        match msg {
            Ok(aws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(aws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(aws::Message::Pong(_)) | Ok(aws::Message::Nop) => {}
            Ok(aws::Message::Close(_)) => self.end(Ending::caller_hang_up(), ctx),
            Ok(aws::Message::Binary(_)) | Ok(aws::Message::Continuation(_)) => {
                Self::bad_frame("binary");
                self.end(
                    Ending::protocol(
                        CloseCode::Unsupported,
                        "binary and fragmented frames are not part of the protocol",
                    ),
                    ctx,
                );
            }
            Err(ProtocolError::Overflow) => {
                Self::bad_frame("oversized");
                let why = format!(
                    "frame larger than {} bytes",
                    self.p.node.config.talkdesk.max_frame_bytes
                );
                self.end(Ending::protocol(CloseCode::Size, &why), ctx);
            }
            Err(e) => {
                Self::bad_frame("websocket");
                tracing::debug!(session_id = %self.session_id, error = %e, "Talkdesk WebSocket error");
                self.end(
                    Ending::protocol(CloseCode::Protocol, "WebSocket protocol error"),
                    ctx,
                );
            }
        }
    }
}

/// Bot audio (µ-law, from the transcoder) for the caller: queued for its tick.
impl Handler<AudioFrame> for TalkdeskIngress {
    type Result = ();

    fn handle(&mut self, AudioFrame(frame): AudioFrame, _ctx: &mut Self::Context) {
        if self.p.agent_assist || self.phase != Phase::Live {
            return;
        }
        let bytes = frame.bytes();
        if bytes.is_empty() {
            // A lost frame: nothing to send, Talkdesk plays silence in the gap.
            return;
        }
        if self.queue.push(bytes).is_err() {
            metrics::counter!(FRAMES_DROPPED, "leg" => "talkdesk").increment(1);
        }
    }
}

impl Handler<Mark> for TalkdeskIngress {
    type Result = ();

    fn handle(&mut self, Mark(name): Mark, ctx: &mut Self::Context) {
        if let Some(name) = self.queue.mark(name) {
            self.mark_played(name, ctx);
        }
        self.marks_played(ctx);
    }
}

impl Handler<Clear> for TalkdeskIngress {
    type Result = ();

    fn handle(&mut self, _: Clear, ctx: &mut Self::Context) {
        self.queue.clear();
        if self.phase == Phase::Live && !self.p.agent_assist {
            ctx.text(self.out.clear());
        }
        self.marks_played(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_events_are_told_from_malformed_input() {
        assert!(is_unknown_event(r#"{"event":"nonsense","x":1}"#));
        for text in [
            "not json",
            "{}",
            r#"{"event":5}"#,
            r#"{"event":"media"}"#,
            "[1]",
        ] {
            assert!(!is_unknown_event(text), "{text}");
        }
    }

    #[test]
    fn close_reasons_are_cut_on_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("ééé", 3), "é");
    }
}
