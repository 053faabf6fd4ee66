//! The demo bot of the default configuration (ARCHITECTURE §3): it proves a call end to end
//! without an external bot. It greets, then echoes the caller, and turns two DTMF digits into
//! the two ways a bot ends its part of a call: escalation to an agent and hang-up.
//!
//! Choices worth knowing:
//! - The greeting is encoded once per process and format ([`shared_greeting`]) and shared by
//!   every call's bot: synthesising and encoding it per call cost ~11 KiB of memory per call
//!   and the greeting's sine synthesis on every call setup. It is sent at start much faster than real
//!   time: the ingress paces playout, so the bot needs no timer per frame. It goes in bursts of
//!   [`GREETING_BURST`] frames a couple of milliseconds apart, because the transcoder forwards
//!   with `try_send` and drops what the ingress mailbox cannot take: a burst must fit every
//!   mailbox on the way (actix's default is 16). When the next mailbox is full anyway the bot
//!   waits and goes on from where it stopped rather than dropping greeting frames; the `Mark`
//!   follows the last frame.
//! - Caller audio is dropped until the ingress reports the greeting played (`MarkPlayed`), so
//!   the echo starts in step with the caller instead of queued behind the greeting.
//! - A lost caller frame (zero length, only seen when the transcoder passes frames through) is
//!   echoed as a frame of silence, so the echo keeps the caller's 20 ms cadence.
//! - On a call whose caller speaks the bot's format the bot is wired to the RTP leg by two
//!   [`FrameRing`]s ([`BuiltinBot::with_rings`]): caller frames arrive in one (the leg's push
//!   wakes the bot's reader task, no message), the greeting goes back in the other, which the
//!   leg drains on its frame tick. While it echoes, the bot has the input ring reflect every
//!   caller frame into the return ring itself ([`FrameRing::reflect_into`], lost frames as
//!   silence), so an echoed frame costs the bot no wake at all; it switches that off when it
//!   stops echoing. Control (marks, DTMF, Clear) stays on messages.
//! - After an escalation or hang-up the bot has nothing more to say: it sends `Clear` first so
//!   the caller does not hear the rest of a greeting or echo during the hand-back, then ignores
//!   digits and audio until its call stops it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::dev::SendError;
use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Recipient};
use voxgate_codecs::{AudioFormat, ByteOrder, EncodedFrame, SampleRate, Transcoder};
use voxgate_engine::config::BuiltinBotConfig;

use super::{greeting, BotError, Sent};
use crate::calls::messages::{
    AudioFrame, Clear, Dtmf, Escalate, ExitCause, Hangup, LegExited, LegKind, Mark, MarkPlayed,
    StopLeg, Transcript,
};
use crate::calls::transcoder::Downstream;
use crate::media::{FrameRing, RingConsumer, RingError, RingReader};
use crate::metrics::FRAMES_DROPPED;

/// The name of the mark that follows the greeting.
pub const GREETING_MARK: &str = "greeting";

/// Greeting frames sent in one go (160 ms of audio), well under a default actix mailbox.
pub const GREETING_BURST: usize = 8;
/// Pause between greeting bursts, and before retrying a frame a full mailbox would not take.
const GREETING_RETRY: Duration = Duration::from_millis(2);
/// Retries in a row without progress after which the rest of the greeting is dropped.
const GREETING_MAX_STALLS: u32 = 500;

/// Where the bot's output goes: the legs (or the call) that take each kind of message.
#[derive(Clone)]
pub struct BotOwner {
    /// Bot audio toward the caller (the transcoder's downstream input).
    pub audio: Recipient<Downstream>,
    /// Marks, answered by `MarkPlayed` once played (route them behind the audio).
    pub marks: Recipient<Mark>,
    /// Drop the bot audio queued for the caller (sent before an escalation or hang-up).
    pub clear: Recipient<Clear>,
    /// Hand the call to an agent.
    pub escalate: Recipient<Escalate>,
    /// End the call.
    pub hangup: Recipient<Hangup>,
    /// Lines for the session record.
    pub transcript: Recipient<Transcript>,
    /// Told once when the bot stops.
    pub exited: Recipient<LegExited>,
}

/// The greeting, encoded in the bot's format, frame after frame in one buffer.
struct EncodedGreeting {
    bytes: Vec<u8>,
    /// End offset of each frame in `bytes`.
    ends: Vec<usize>,
}

impl EncodedGreeting {
    fn frames(&self) -> usize {
        self.ends.len()
    }

    fn frame(&self, i: usize, format: AudioFormat) -> Option<EncodedFrame> {
        let end = *self.ends.get(i)?;
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p]);
        EncodedFrame::from_bytes(format, &self.bytes[start..end]).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sending the greeting; `next` frame to send, `stalls` retries in a row without progress.
    Greeting { next: usize, stalls: u32 },
    /// Greeting sent, waiting for the ingress to have played it.
    AwaitMark,
    /// Echoing the caller.
    Echo,
    /// Escalated or hung up: deaf and mute.
    Done,
}

/// The builtin demo bot: greeting, echo, DTMF escalate/hang-up.
pub struct BuiltinBot {
    format: AudioFormat,
    escalate_digit: Option<char>,
    hangup_digit: Option<char>,
    escalate_reason: String,
    hangup_reason: String,
    escalate_variables: std::collections::BTreeMap<String, String>,
    greeting: Option<Arc<EncodedGreeting>>,
    silence: EncodedFrame,
    owner: BotOwner,
    phase: Phase,
    /// Caller frames in and bot frames out, when wired to the RTP leg directly.
    rings: Option<(Arc<FrameRing>, Arc<FrameRing>)>,
}

impl BuiltinBot {
    /// The bot's default audio format: L16 8 kHz little-endian.
    pub const FORMAT: AudioFormat = AudioFormat::L16 {
        rate: SampleRate::Hz8000,
        order: ByteOrder::LittleEndian,
    };

    /// A bot speaking `format`, configured by `config`, sending to `owner`. Validates the config
    /// and encodes the greeting now, so starting and running it allocate nothing per frame.
    pub fn new(
        config: BuiltinBotConfig,
        format: AudioFormat,
        owner: BotOwner,
    ) -> Result<Self, BotError> {
        let escalate_digit = parse_digit("escalate_digit", &config.escalate_digit)?;
        let hangup_digit = parse_digit("hangup_digit", &config.hangup_digit)?;
        if escalate_digit.is_some() && escalate_digit == hangup_digit {
            return Err(BotError::Config(
                "escalate_digit and hangup_digit must differ".into(),
            ));
        }
        let want_tones = match config.greeting.to_ascii_lowercase().as_str() {
            "tones" => true,
            "none" => false,
            other => {
                return Err(BotError::Config(format!(
                    "greeting must be \"tones\" or \"none\", not {other:?}"
                )))
            }
        };
        // Encodes PCM at the format's own rate into the format (a plain copy for L16).
        let rate = format.pcm_rate();
        let mut encoder = Transcoder::new(
            AudioFormat::L16 {
                rate,
                order: ByteOrder::LittleEndian,
            },
            format,
        )?;
        let greeting = if want_tones {
            Some(shared_greeting(format, &mut encoder, rate)?)
        } else {
            None
        };
        let mut silence = EncodedFrame::empty(format);
        let zeros = [0i16; voxgate_codecs::frame::MAX_FRAME_SAMPLES];
        let n = encoder.encode_pcm(&zeros[..rate.frame_samples()], silence.buffer_mut())?;
        silence.set_len(n)?;
        Ok(BuiltinBot {
            format,
            escalate_digit,
            hangup_digit,
            escalate_reason: config.escalate_reason,
            hangup_reason: config.hangup_reason,
            escalate_variables: config.escalate_variables,
            greeting,
            silence,
            owner,
            phase: Phase::Echo,
            rings: None,
        })
    }

    /// Wires the bot to the RTP leg directly: caller frames come from `from_caller`, the bot's
    /// audio goes to `to_caller` instead of [`BotOwner::audio`]. Both rings are in the bot's
    /// format (see `DirectBot` in `media`).
    pub fn with_rings(mut self, from_caller: Arc<FrameRing>, to_caller: Arc<FrameRing>) -> Self {
        self.rings = Some((from_caller, to_caller));
        self
    }

    /// Sends one frame of bot audio toward the caller without waiting.
    fn send_audio(&self, frame: EncodedFrame) -> Sent {
        if let Some((_, to_caller)) = &self.rings {
            return match to_caller.push(frame.bytes()) {
                Ok(()) => Sent::Taken,
                Err(RingError::Full | RingError::TooLong) => Sent::Full,
                Err(RingError::Closed) => Sent::Gone,
            };
        }
        match self.owner.audio.try_send(Downstream(AudioFrame(frame))) {
            Ok(()) => Sent::Taken,
            Err(SendError::Full(_)) => Sent::Full,
            Err(SendError::Closed(_)) => Sent::Gone,
        }
    }

    /// Starts echoing the caller: with rings, the input ring reflects into the return ring.
    fn start_echo(&mut self) {
        self.phase = Phase::Echo;
        if let Some((from_caller, to_caller)) = &self.rings {
            from_caller.reflect_into(Some((Arc::clone(to_caller), self.silence.bytes())));
        }
    }

    /// One caller frame (empty: lost): echoed once the greeting has played.
    fn echo(&mut self, frame: &[u8]) {
        if self.phase != Phase::Echo {
            return;
        }
        let sent = match &self.rings {
            // Already in the bot's format: copied from ring to ring.
            Some((_, to_caller)) if !frame.is_empty() => match to_caller.push(frame) {
                Ok(()) | Err(RingError::Closed) => Sent::Taken,
                Err(RingError::Full | RingError::TooLong) => Sent::Full,
            },
            _ if frame.is_empty() => self.send_audio(self.silence.clone()),
            _ => match EncodedFrame::from_bytes(self.format, frame) {
                Ok(f) => self.send_audio(f),
                // Longer than any frame: not audio the bot can say.
                Err(_) => Sent::Full,
            },
        };
        if let Sent::Full = sent {
            metrics::counter!(FRAMES_DROPPED, "leg" => "bot").increment(1);
        }
    }

    /// The format the bot speaks on a call whose caller uses `ingress`: the caller's own G.711
    /// law, so the bridged echo path needs no transcoding (the transcoder passes frames
    /// through, and the echo is bit-exact), else [`BuiltinBot::FORMAT`].
    pub fn format_for(ingress: AudioFormat) -> AudioFormat {
        match ingress {
            AudioFormat::Pcmu | AudioFormat::Pcma => ingress,
            _ => Self::FORMAT,
        }
    }

    /// The bot's audio format.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// How many 20 ms frames the greeting has (0 without a greeting).
    pub fn greeting_frames(&self) -> usize {
        self.greeting.as_deref().map_or(0, EncodedGreeting::frames)
    }

    /// Sends the next burst of greeting frames; then the mark when all are sent, or the next
    /// burst (or a retry, when the mailbox was full) a moment later.
    fn push_greeting(&mut self, ctx: &mut Context<Self>) {
        let Phase::Greeting { mut next, stalls } = self.phase else {
            // An action digit ended the greeting early.
            return;
        };
        let Some(greeting) = &self.greeting else {
            self.start_echo();
            return;
        };
        let mut progressed = false;
        let burst_end = next + GREETING_BURST;
        while next < greeting.frames() {
            if next == burst_end {
                self.phase = Phase::Greeting { next, stalls: 0 };
                ctx.run_later(GREETING_RETRY, |bot, ctx| bot.push_greeting(ctx));
                return;
            }
            let Some(frame) = greeting.frame(next, self.format) else {
                // Encoded at construction into frame-sized pieces: cannot happen; skip it.
                next += 1;
                continue;
            };
            match self.send_audio(frame) {
                Sent::Taken => {
                    next += 1;
                    progressed = true;
                }
                Sent::Full => {
                    let stalls = if progressed { 0 } else { stalls + 1 };
                    if stalls < GREETING_MAX_STALLS {
                        self.phase = Phase::Greeting { next, stalls };
                        ctx.run_later(GREETING_RETRY, |bot, ctx| bot.push_greeting(ctx));
                        return;
                    }
                    let lost = greeting.frames() - next;
                    tracing::warn!(lost, "greeting frames dropped: the audio path is stuck");
                    metrics::counter!(FRAMES_DROPPED, "leg" => "bot").increment(lost as u64);
                    break;
                }
                // The audio path is gone; the call is stopping us.
                Sent::Gone => break,
            }
        }
        self.owner.marks.do_send(Mark(GREETING_MARK.into()));
        self.phase = Phase::AwaitMark;
    }

    /// The bot's part is over: silence what is still queued for the caller, then go deaf.
    fn finish(&mut self) {
        self.phase = Phase::Done;
        if let Some((from_caller, _)) = &self.rings {
            from_caller.reflect_into(None);
        }
        self.owner.clear.do_send(Clear);
    }
}

fn parse_digit(field: &str, value: &str) -> Result<Option<char>, BotError> {
    let mut chars = value.trim().chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        (Some(c), None) if is_dtmf(c) => Ok(Some(c.to_ascii_uppercase())),
        _ => Err(BotError::Config(format!(
            "{field} must be one DTMF digit (0-9, *, #, A-D) or empty, not {value:?}"
        ))),
    }
}

fn is_dtmf(c: char) -> bool {
    c.is_ascii_digit() || matches!(c.to_ascii_uppercase(), '*' | '#' | 'A'..='D')
}

/// The greeting encoded in `format`, made with `encoder` (from L16 at `rate`) the first time a
/// bot of that format is built, then shared: the tones are the same for every call.
fn shared_greeting(
    format: AudioFormat,
    encoder: &mut Transcoder,
    rate: SampleRate,
) -> Result<Arc<EncodedGreeting>, BotError> {
    static GREETINGS: Mutex<Vec<(AudioFormat, Arc<EncodedGreeting>)>> = Mutex::new(Vec::new());
    // A poisoned lock only means another bot panicked while encoding: the list is still whole
    // (an entry is pushed complete or not at all).
    let mut greetings = GREETINGS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, g)) = greetings.iter().find(|(f, _)| *f == format) {
        return Ok(Arc::clone(g));
    }
    let g = Arc::new(encode_greeting(encoder, rate)?);
    greetings.push((format, Arc::clone(&g)));
    Ok(g)
}

fn encode_greeting(
    encoder: &mut Transcoder,
    rate: SampleRate,
) -> Result<EncodedGreeting, BotError> {
    let pcm = greeting::tones(rate);
    let frame = rate.frame_samples();
    let mut bytes = Vec::new();
    let mut ends = Vec::with_capacity(pcm.len() / frame);
    let mut buf = [0u8; voxgate_codecs::frame::MAX_ENCODED_BYTES];
    for chunk in pcm.chunks_exact(frame) {
        let n = encoder.encode_pcm(chunk, &mut buf)?;
        bytes.extend_from_slice(&buf[..n]);
        ends.push(bytes.len());
    }
    Ok(EncodedGreeting { bytes, ends })
}

impl Actor for BuiltinBot {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some((from_caller, _)) = &self.rings {
            ctx.spawn(RingReader(Arc::clone(from_caller)));
        }
        if self.greeting.is_some() {
            self.owner.transcript.do_send(Transcript {
                role: "bot".into(),
                text: greeting::DESCRIPTION.into(),
            });
            self.phase = Phase::Greeting { next: 0, stalls: 0 };
            self.push_greeting(ctx);
        } else {
            self.start_echo();
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some((from_caller, _)) = &self.rings {
            // Nobody reads the caller's frames any more: the leg's pushes are refused quietly.
            from_caller.close();
        }
        self.owner.exited.do_send(LegExited {
            leg: LegKind::Bot,
            cause: ExitCause::Normal("stopped".into()),
        });
    }
}

impl Handler<AudioFrame> for BuiltinBot {
    type Result = ();

    fn handle(&mut self, AudioFrame(frame): AudioFrame, _ctx: &mut Self::Context) {
        if self.phase != Phase::Echo {
            return;
        }
        let sent = if frame.bytes().is_empty() {
            self.send_audio(self.silence.clone())
        } else {
            self.send_audio(frame)
        };
        if let Sent::Full = sent {
            metrics::counter!(FRAMES_DROPPED, "leg" => "bot").increment(1);
        }
    }
}

/// Caller frames from the ring (the bot wired to the RTP leg): echoed as they come.
impl RingConsumer for BuiltinBot {
    fn take_frame(&mut self, _format: AudioFormat, bytes: &[u8]) {
        self.echo(bytes);
    }
}

impl Handler<MarkPlayed> for BuiltinBot {
    type Result = ();

    fn handle(&mut self, msg: MarkPlayed, _ctx: &mut Self::Context) {
        if msg.0 == GREETING_MARK && self.phase == Phase::AwaitMark {
            self.start_echo();
        }
    }
}

impl Handler<Dtmf> for BuiltinBot {
    type Result = ();

    fn handle(&mut self, msg: Dtmf, _ctx: &mut Self::Context) {
        if self.phase == Phase::Done {
            return;
        }
        let digit = msg.digit.to_ascii_uppercase();
        if Some(digit) == self.escalate_digit {
            self.finish();
            self.owner.escalate.do_send(Escalate {
                reason: self.escalate_reason.clone(),
                variables: self.escalate_variables.clone(),
                ..Escalate::default()
            });
        } else if Some(digit) == self.hangup_digit {
            self.finish();
            self.owner.hangup.do_send(Hangup {
                reason: self.hangup_reason.clone(),
                headers: Vec::new(),
            });
        } else {
            self.owner.transcript.do_send(Transcript {
                role: "caller".into(),
                text: format!("DTMF {digit}"),
            });
        }
    }
}

impl Handler<StopLeg> for BuiltinBot {
    type Result = ();

    fn handle(&mut self, _msg: StopLeg, ctx: &mut Self::Context) {
        // `stopped` reports the exit, whatever stopped us.
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_parse() {
        assert_eq!(parse_digit("d", "0").unwrap(), Some('0'));
        assert_eq!(parse_digit("d", "#").unwrap(), Some('#'));
        assert_eq!(parse_digit("d", "a").unwrap(), Some('A'));
        assert_eq!(parse_digit("d", "").unwrap(), None);
        assert!(parse_digit("d", "12").is_err());
        assert!(parse_digit("d", "x").is_err());
    }
}
