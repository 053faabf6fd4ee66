//! The WebSocket bot leg (ARCHITECTURE §2–3): the call's audio and keys go to an external bot as
//! Twilio-style media-stream events ([`voxgate_engine::ws`]), and the bot's audio, marks,
//! barge-in and control events come back as the same typed messages the builtin bot sends
//! (the [`BotOwner`] contract).
//!
//! Choices worth knowing:
//! - The actor outlives its connections. A failed connection (connect refused or timed out,
//!   socket error, bot closed the socket, no message in time) is reported as
//!   `LegExited{Bot, Failed}` and the actor goes idle, keeping its address: the call decides
//!   whether to restart it ([`RestartBot`], a fresh connection and a fresh stream) or hand the
//!   caller back. That way the transcoder and the RTP leg, which hold this actor's address, need
//!   no rewiring after a restart. Each connection has a generation number; events of an older one
//!   are ignored.
//! - Bot audio may come faster than real time and in chunks of any size. It is re-cut into
//!   20 ms frames and kept in a local queue with the marks between them. Wired to the RTP leg,
//!   frames and marks go into its return ring as long as the ring takes them (whole frames
//!   straight from the socket's buffer when nothing is queued); else they are sent on in bursts
//!   of [`BURST`] frames a couple of milliseconds apart (like the builtin bot's greeting)
//!   because the legs forward media with `try_send`. The RTP leg's playout queue paces it to
//!   the caller.
//! - A `mark` follows the audio sent before it: a partial frame is padded with silence first.
//!   `clear` drops the local queue, answers the marks in it at once, and clears the ingress
//!   queue (which answers its own marks).
//! - A malformed text frame from the bot is logged and counted, never fatal: one bad message
//!   does not cost the caller the bot.
//! - The leg converts between the caller's format and the stream's itself
//!   ([`WsBot::converting_for`]): caller frames come straight from the RTP leg and the bot's
//!   audio goes straight back to it, one actor hop (an envelope, a channel, a task wake-up) fewer
//!   each way than through the transcoder leg. Frames already in the stream's format (the agent
//!   assist mixer's) pass as they are.
//! - [`ListenOnly`] (agent assist, the `invite` profile's `assist = true`) keeps the leg beside
//!   the agent: it is sent the call's audio, while what the bot sends back as audio, marks,
//!   `clear`, `transfer` and `hangup` is dropped (logged); only its `transcript` events go on.
//! - Tick mode: wired to the RTP leg, the leg's clock drives the connection ([`BotClock`]). On
//!   each 20 ms tick the leg hands over the caller's frame, which is converted and written at
//!   once, and then the socket is read and the bot's audio put into the return ring, just
//!   before the leg plays from it: an echo bot is heard as soon as when the socket woke the leg
//!   for it. The socket is taken off the reactor, so the bot's packets wake no thread and the
//!   leg's actor is not woken per frame either way. Anything but audio (marks, `clear`,
//!   control events, pings, the close) is left, in order, to the actor ([`TickIo`]). When the
//!   leg stops driving it (the leg's bot is stopped, or only listens beside an agent) the
//!   socket goes back to the reactor and [`WireIo`].
//!
//! The leg's data plane ([`Core`]: the connection's writer and reader, both conversions, the
//! stream's counters and the queue toward the caller) is shared between the actor and the RTP
//! leg's clock (same arbiter thread) through an `Rc<RefCell>`; neither holds it across a call
//! into the other.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use actix::dev::SendError;
use actix::fut::ActorFuture;
use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, SpawnHandle,
    WrapFuture,
};
use voxgate_codecs::frame::MAX_ENCODED_BYTES;
use voxgate_codecs::{AudioFormat, CodecError, EncodedFrame, Transcoder};
use voxgate_engine::config::{WebsocketBotConfig, WsAudioFormat};
use voxgate_engine::ws::{self, FromBot, ToBot};

use super::ws_wire::{self, Opened, Peek, Reader, WireError, WireEvent, WireIo, WireOwner, Writer};
use super::{BotOwner, Sent};
use crate::calls::messages::{
    AudioFrame, Clear, Dtmf, Escalate, ExitCause, Hangup, LegExited, LegKind, Mark, MarkPlayed,
    StopLeg, Transcript,
};
use crate::calls::transcoder::Downstream;
use crate::media::{BotClock, FrameRing, RingError};
use crate::metrics::{FRAMES_DROPPED, TRANSCODE_ERRORS};

/// Bot frames sent on in one go, well under a default actix mailbox (16).
pub const BURST: usize = 8;
/// Pause between bursts, and before retrying a frame a full mailbox would not take.
const RETRY: Duration = Duration::from_millis(2);
/// Pause before retrying a frame or mark a full return ring would not take: the leg drains
/// it once per 20 ms tick.
const RING_RETRY: Duration = Duration::from_millis(10);
/// Most bot audio held ahead of the caller here (60 s); beyond it frames are dropped.
pub const MAX_QUEUED_FRAMES: usize = 3000;
/// Largest WebSocket frame accepted from a bot (a few seconds of audio in one `media`).
const MAX_FRAME_BYTES: usize = 1 << 20;
/// How long a stopping leg waits for the bot to answer its close frame.
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// Reads of the bot's socket per tick at most (a read that does not fill the buffer ends them).
const READS_PER_TICK: usize = 4;

/// Agent assist: from now on the bot only listens (see the module documentation).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct ListenOnly;

/// Restart a failed bot connection (sent by the call within its restart budget).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct RestartBot;

/// Who the stream is about: the ids and parameters sent in `start`.
#[derive(Debug, Clone, Default)]
pub struct StreamInfo {
    /// `accountSid` (the trunk).
    pub account_sid: String,
    /// `callSid` (the session id).
    pub call_sid: String,
    /// `customParameters`.
    pub custom_parameters: BTreeMap<String, String>,
}

/// One item of bot output waiting for room downstream. The audio of `Audio` items is in
/// [`Core`]'s byte queue, one frame's worth each, so the queue holds bytes, not 1.5 kB frames.
enum Out {
    Audio,
    Mark(String),
}

enum Conn {
    /// No connection: not started, failed (awaiting a restart) or stopping.
    Idle,
    /// Connecting, generation `gen`.
    Connecting { gen: u64 },
    /// Connected, generation `gen` (its writer and reader are the core's [`Link`]).
    Open {
        gen: u64,
        /// The connection's I/O task ([`WireIo`] or, in tick mode, [`TickIo`]).
        io: SpawnHandle,
    },
}

/// The open connection's data plane.
struct Link {
    gen: u64,
    writer: Writer,
    /// The bot has sent something on this connection.
    heard: bool,
    /// Tick mode: the reader the leg's clock reads into, and what it leaves to the actor.
    ticked: Option<Ticked>,
}

struct Ticked {
    /// `None` while the actor delivers from it.
    reader: Option<Reader>,
    /// The actor's [`TickIo`], woken for what the tick leaves to it.
    actor: Option<Waker>,
    /// A frame only the actor handles waits at the front of the reader.
    handoff: bool,
    /// The bot closed the socket (`Some(None)`) or reading it failed.
    ended: Option<Option<WireError>>,
}

impl Ticked {
    fn wake_actor(&self) {
        if let Some(w) = &self.actor {
            w.wake_by_ref();
        }
    }
}

/// Both directions of conversion between the caller's format and the stream's.
struct StreamCodec {
    ingress: AudioFormat,
    up: Transcoder,
    down: Transcoder,
}

/// The leg's data plane, shared by the actor and (tick mode) the RTP leg's clock.
struct Core {
    format: AudioFormat,
    /// The stream's audio format as configured.
    wire_format: WsAudioFormat,
    /// 20 ms caller frames per `media` message (`chunk_ms / 20`).
    per_message: u32,
    owner: BotOwner,
    link: Option<Link>,
    stream_sid: String,
    /// `stream_sid` as a JSON string literal, for the `media` events.
    quoted_sid: String,
    /// Where a µ-law `media` event is written before it is framed (reused).
    json: String,
    /// Caller frames sent to the bot on this connection (the `media` timestamps).
    frames_sent: u64,
    /// Caller audio waiting to fill a `chunk_ms` message, and how many frames it holds.
    batch: Vec<u8>,
    batched: u32,
    /// Where the audio of the bot's `media` events is decoded (reused).
    bot_audio: Vec<u8>,
    sequence: u64,
    chunk: u64,
    out: VecDeque<Out>,
    /// The bytes of the queued `Out::Audio` frames, in order.
    out_audio: VecDeque<u8>,
    partial: Vec<u8>,
    /// A bot frame taken from the queue (and converted) that a full mailbox refused: the next
    /// pump sends it first, so conversion state never sees a frame twice.
    pending: Option<EncodedFrame>,
    /// Set by [`WsBot::converting_for`] when the caller's format is not the stream's.
    codec: Option<Box<StreamCodec>>,
    /// The bot transferred or hung up: a closed socket is then no failure.
    done: bool,
    /// Agent assist: audio in, transcripts out, nothing else.
    listen_only: bool,
    /// When the bot is wired to the RTP leg directly: the ring the leg puts caller frames on,
    /// and the one it takes the bot's frames and marks from.
    rings: Option<(Arc<FrameRing>, Arc<FrameRing>)>,
    /// Tick mode: the clock queued output that only the actor's pump sends on.
    pump_wanted: bool,
    /// Our close frame is written: nothing may follow it (RFC 6455 §5.5.1), though the leg's
    /// clock may still hand over caller frames until it stops.
    close_sent: bool,
}

/// The WebSocket bot leg.
pub struct WsBot {
    config: WebsocketBotConfig,
    info: StreamInfo,
    core: Rc<RefCell<Core>>,
    conn: Conn,
    generation: u64,
    pump_scheduled: bool,
    stopping: bool,
    /// While `stop` and the close frame are written: the call may have dropped every other
    /// address of ours, and an actor without one stops before its sink is flushed.
    closing: Option<actix::Addr<WsBot>>,
}

impl WsBot {
    /// The codec format of `format`.
    pub fn audio_format(format: WsAudioFormat) -> AudioFormat {
        match format {
            WsAudioFormat::Mulaw => AudioFormat::Pcmu,
            WsAudioFormat::L16 => AudioFormat::L16_16K,
        }
    }

    /// A leg that connects to `config.url` once started, for the call `info`.
    pub fn new(config: WebsocketBotConfig, info: StreamInfo, owner: BotOwner) -> Self {
        let core = Core {
            format: WsBot::audio_format(config.format),
            wire_format: config.format,
            per_message: (config.chunk_ms / 20).max(1),
            owner,
            link: None,
            stream_sid: String::new(),
            quoted_sid: String::new(),
            json: String::new(),
            frames_sent: 0,
            batch: Vec::new(),
            batched: 0,
            bot_audio: Vec::new(),
            sequence: 0,
            chunk: 0,
            out: VecDeque::new(),
            out_audio: VecDeque::new(),
            partial: Vec::new(),
            pending: None,
            codec: None,
            done: false,
            listen_only: false,
            rings: None,
            pump_wanted: false,
            close_sent: false,
        };
        WsBot {
            config,
            info,
            core: Rc::new(RefCell::new(core)),
            conn: Conn::Idle,
            generation: 0,
            pump_scheduled: false,
            stopping: false,
            closing: None,
        }
    }

    /// Wires the bot to the RTP leg directly: the bot's audio and marks go into `to_caller`, in
    /// order, instead of as messages (the leg drains the ring on its tick), and the leg, given
    /// [`WsBot::clock`] in its `DirectBot`, hands the caller's frames (in the leg's format, which
    /// [`WsBot::converting_for`] takes) to the clock instead of pushing them into
    /// `from_caller`; that ring only gives the leg its format and is closed when the bot stops.
    pub fn with_rings(self, from_caller: Arc<FrameRing>, to_caller: Arc<FrameRing>) -> Self {
        self.core.borrow_mut().rings = Some((from_caller, to_caller));
        self
    }

    /// What the RTP leg wired by [`WsBot::with_rings`] drives the leg with on its clock (tick
    /// mode, see the module documentation).
    pub fn clock(&self) -> Rc<dyn BotClock> {
        Rc::clone(&self.core) as Rc<dyn BotClock>
    }

    /// The leg takes caller frames in `ingress` and sends the bot's audio back in it,
    /// converting to and from the stream's format itself; fails when no codec path exists.
    pub fn converting_for(self, ingress: AudioFormat) -> Result<Self, CodecError> {
        {
            let mut core = self.core.borrow_mut();
            core.codec = if ingress == core.format {
                None
            } else {
                Some(Box::new(StreamCodec {
                    ingress,
                    up: Transcoder::new(ingress, core.format)?,
                    down: Transcoder::new(core.format, ingress)?,
                }))
            };
        }
        Ok(self)
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        let gen = self.generation;
        self.conn = Conn::Connecting { gen };
        let timeout = Duration::from_millis(self.config.connect_timeout_ms.max(1));
        let url = self.config.url.clone();
        tracing::debug!(%url, gen, "connecting to the bot");
        let connect = async move {
            let target = ws_wire::Target::parse(&url)?;
            match actix_rt::time::timeout(timeout, ws_wire::connect(&target)).await {
                Ok(result) => result,
                Err(_) => Err(format!("connect: no answer in {} ms", timeout.as_millis())),
            }
        };
        ctx.spawn(connect.into_actor(self).map(move |result, bot, ctx| {
            if !matches!(bot.conn, Conn::Connecting { gen: g } if g == gen) {
                return;
            }
            match result {
                Ok(opened) => bot.opened(gen, opened, ctx),
                Err(why) => bot.fail(gen, why, ctx),
            }
        }));
    }

    fn opened(&mut self, gen: u64, opened: Opened, ctx: &mut Context<Self>) {
        let Opened { stream, early } = opened;
        let reader = Reader::new(early, MAX_FRAME_BYTES);
        let mut core = self.core.borrow_mut();
        // Tick mode when wired to the leg (whose clock then drives the socket).
        let plain = if core.rings.is_some() && !core.listen_only && !self.stopping {
            Writer::plain(stream)
        } else {
            Err(stream)
        };
        let (link, io) = match plain {
            Ok(writer) => {
                let ticked = Ticked {
                    reader: Some(reader),
                    actor: None,
                    handoff: false,
                    ended: None,
                };
                (
                    Link {
                        gen,
                        writer,
                        heard: false,
                        ticked: Some(ticked),
                    },
                    ctx.spawn(TickIo { gen }),
                )
            }
            Err(stream) => (
                Link {
                    gen,
                    writer: Writer::new(Arc::clone(&stream)),
                    heard: false,
                    ticked: None,
                },
                ctx.spawn(WireIo::new(gen, stream, reader)),
            ),
        };
        core.link = Some(link);
        core.close_sent = false;
        self.conn = Conn::Open { gen, io };
        core.stream_sid = format!("MZ{}g{gen}", self.info.call_sid);
        core.quoted_sid = super::ws_media::quoted(&core.stream_sid);
        core.sequence = 0;
        core.chunk = 0;
        core.frames_sent = 0;
        core.batch.clear();
        core.batched = 0;
        core.pump_wanted = false;
        core.send(&ToBot::Connected(ws::Connected::default()));
        let start = ws::Start {
            account_sid: self.info.account_sid.clone(),
            stream_sid: core.stream_sid.clone(),
            call_sid: self.info.call_sid.clone(),
            tracks: vec!["inbound".into()],
            custom_parameters: self.info.custom_parameters.clone(),
            media_format: match self.config.format {
                WsAudioFormat::Mulaw => ws::MediaFormat::mulaw(),
                WsAudioFormat::L16 => ws::MediaFormat::l16(),
            },
        };
        let (sequence_number, stream_sid) = core.envelope();
        core.send(&ToBot::Start {
            sequence_number,
            stream_sid,
            start,
        });
        drop(core);
        if self.config.first_message_timeout_ms > 0 {
            let wait = Duration::from_millis(self.config.first_message_timeout_ms);
            ctx.run_later(wait, move |bot, ctx| {
                let silent = bot
                    .core
                    .borrow()
                    .link
                    .as_ref()
                    .is_some_and(|l| l.gen == gen && !l.heard);
                if silent && bot.is_open(gen) {
                    bot.fail(
                        gen,
                        format!("no message from the bot in {} ms", wait.as_millis()),
                        ctx,
                    );
                }
            });
        }
    }

    /// Tick mode ends: the socket goes back to the reactor and [`WireIo`] drives it (the leg's
    /// clock no longer does: its bot is being stopped, or only listens beside an agent).
    fn back_to_reactor(&mut self, ctx: &mut Context<Self>) {
        let Conn::Open { gen, io } = &mut self.conn else {
            return;
        };
        let gen = *gen;
        let (stream, reader, pump) = {
            let mut core = self.core.borrow_mut();
            let pump = std::mem::take(&mut core.pump_wanted);
            let Some(link) = core.link.as_mut() else {
                return;
            };
            let Some(ticked) = link.ticked.take() else {
                return;
            };
            (link.writer.back_to_reactor(), ticked.reader, pump)
        };
        ctx.cancel_future(*io);
        match (stream, reader) {
            (Some(stream), Some(reader)) => *io = ctx.spawn(WireIo::new(gen, stream, reader)),
            _ => {
                self.fail(gen, "the socket could not be registered".into(), ctx);
                return;
            }
        }
        if pump {
            self.pump(ctx);
        }
    }

    /// The connection of generation `gen` failed: report it and go idle until restarted.
    fn fail(&mut self, gen: u64, why: String, ctx: &mut Context<Self>) {
        let current = match &self.conn {
            Conn::Connecting { gen: g } | Conn::Open { gen: g, .. } => *g == gen,
            Conn::Idle => false,
        };
        if !current || self.stopping {
            return;
        }
        self.close_connection(ctx);
        let mut core = self.core.borrow_mut();
        core.clear_output();
        if core.done {
            tracing::debug!(%why, "bot connection ended after its hand-back");
            return;
        }
        tracing::info!(url = %self.config.url, %why, "bot connection failed");
        core.owner.exited.do_send(LegExited {
            leg: LegKind::Bot,
            cause: ExitCause::Failed(why),
        });
    }

    /// Drops the connection (its socket closes with the last handle to it).
    fn close_connection(&mut self, ctx: &mut Context<Self>) {
        if let Conn::Open { io, .. } = std::mem::replace(&mut self.conn, Conn::Idle) {
            ctx.cancel_future(io);
        }
        self.core.borrow_mut().link = None;
    }

    /// Whether `gen` is the open connection.
    fn is_open(&self, gen: u64) -> bool {
        matches!(self.conn, Conn::Open { gen: g, .. } if g == gen)
    }

    /// A text frame from the bot: its `media` events (50 a second) read in place, the rest
    /// parsed whole.
    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let media = self.core.borrow_mut().media_text(text);
        match media {
            Some(true) => self.pump(ctx),
            Some(false) => {}
            None => match FromBot::parse(text) {
                Ok(event) => self.on_event(event, ctx),
                Err(e) => bad_message(&e.to_string()),
            },
        }
    }

    fn on_event(&mut self, event: FromBot, ctx: &mut Context<Self>) {
        let mut core = self.core.borrow_mut();
        if core.listen_only {
            core.on_event_listening(event);
            return;
        }
        if core.done {
            return;
        }
        match event {
            FromBot::Media { media, .. } => match media.decode_payload() {
                Ok(bytes) => {
                    if core.queue_audio(&bytes) {
                        drop(core);
                        self.pump(ctx);
                    }
                }
                Err(e) => bad_message(&e.to_string()),
            },
            FromBot::Mark { mark, .. } => {
                core.flush_partial();
                core.out.push_back(Out::Mark(mark.name));
                drop(core);
                self.pump(ctx);
            }
            FromBot::Clear { .. } => {
                core.partial.clear();
                core.out_audio.clear();
                core.pending = None;
                let queued = std::mem::take(&mut core.out);
                core.owner.clear.do_send(Clear);
                for item in queued {
                    if let Out::Mark(name) = item {
                        core.mark_played(name);
                    }
                }
            }
            FromBot::Transfer { transfer, .. } => {
                core.done = true;
                core.owner.escalate.do_send(Escalate {
                    reason: transfer.reason,
                    target: transfer.target,
                    headers: transfer.headers.into_iter().collect(),
                    variables: transfer.variables,
                    metadata: transfer.metadata,
                });
            }
            FromBot::Hangup { hangup, .. } => {
                core.done = true;
                core.owner.hangup.do_send(Hangup {
                    reason: hangup.reason,
                    headers: hangup.headers.into_iter().collect(),
                });
            }
            FromBot::Transcript { transcript, .. } => {
                core.owner.transcript.do_send(Transcript {
                    role: transcript.role,
                    text: transcript.text,
                });
            }
        }
    }

    /// Sends queued output on: a burst of frames, then again a moment later while any is left.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.pump_scheduled {
            return;
        }
        let retry = self.core.borrow_mut().pump_once();
        if let Some(retry) = retry {
            self.pump_scheduled = true;
            ctx.run_later(retry, |bot, ctx| {
                bot.pump_scheduled = false;
                bot.pump(ctx);
            });
        }
    }
}

impl Core {
    /// The audio of a caller frame (`bytes` of `format`; empty: lost) in the stream's format,
    /// in `buf` unless it is there as is: converted, concealed (a lost frame, when converting)
    /// or silence (a lost frame).
    fn stream_payload<'a>(
        &mut self,
        format: AudioFormat,
        bytes: &'a [u8],
        buf: &'a mut [u8; MAX_ENCODED_BYTES],
    ) -> Option<&'a [u8]> {
        if format == self.format && !bytes.is_empty() {
            return Some(bytes);
        }
        let result = match self.codec.as_deref_mut() {
            Some(c) if bytes.is_empty() => c.up.conceal(buf),
            Some(c) if format == c.ingress => c.up.transcode(bytes, buf),
            None if bytes.is_empty() => {
                // A lost caller frame: silence, so that the bot's clock keeps running.
                let n = self.frame_bytes().min(buf.len());
                buf[..n].fill(self.silence_byte());
                Ok(n)
            }
            _ => Err(CodecError::BadConfig("frame format differs from the leg's")),
        };
        match result {
            Ok(n) => Some(&buf[..n]),
            Err(e) => {
                transcode_error("up", &e);
                None
            }
        }
    }

    /// Takes the next frame's bytes off the audio queue, converted to the caller's format.
    fn next_bot_frame(&mut self) -> Option<EncodedFrame> {
        let n = self
            .frame_bytes()
            .min(self.out_audio.len())
            .min(MAX_ENCODED_BYTES);
        let mut bytes = [0u8; MAX_ENCODED_BYTES];
        let (head, tail) = self.out_audio.as_slices();
        let from_head = head.len().min(n);
        bytes[..from_head].copy_from_slice(&head[..from_head]);
        bytes[from_head..n].copy_from_slice(&tail[..n - from_head]);
        self.out_audio.drain(..n);
        let mut buf = [0u8; MAX_ENCODED_BYTES];
        let audio = Self::to_caller_format(self.codec.as_deref_mut(), &bytes[..n], &mut buf)?;
        // Frame-sized by construction; a frame that does not fit is skipped.
        EncodedFrame::from_bytes(self.caller_format(), audio).ok()
    }

    /// The caller's format: the leg's audio toward the caller is in it.
    fn caller_format(&self) -> AudioFormat {
        self.codec.as_deref().map_or(self.format, |c| c.ingress)
    }

    /// One frame of the bot's audio in the caller's format: as it is (no `codec`), or converted
    /// into `buf`; `None` (counted) when it cannot be converted.
    fn to_caller_format<'a>(
        codec: Option<&mut StreamCodec>,
        frame: &'a [u8],
        buf: &'a mut [u8; MAX_ENCODED_BYTES],
    ) -> Option<&'a [u8]> {
        let Some(codec) = codec else {
            return Some(frame);
        };
        match codec.down.transcode(frame, buf) {
            Ok(n) => Some(&buf[..n]),
            Err(e) => {
                transcode_error("down", &e);
                None
            }
        }
    }

    fn frame_bytes(&self) -> usize {
        match self.format {
            AudioFormat::Pcmu | AudioFormat::Pcma => 160,
            // L16/16k: 320 samples of two bytes.
            _ => self.format.pcm_rate().frame_samples() * 2,
        }
    }

    fn silence_byte(&self) -> u8 {
        match self.format {
            AudioFormat::Pcmu => 0xff,
            AudioFormat::Pcma => 0xd5,
            _ => 0,
        }
    }

    /// The next `sequenceNumber` and the `streamSid`.
    fn envelope(&mut self) -> (String, String) {
        // `connected` is number 0 of the stream by Twilio's count; `start` is 1.
        self.sequence += 1;
        (self.sequence.to_string(), self.stream_sid.clone())
    }

    fn send(&mut self, event: &ToBot) {
        // Audio batched before the event goes first, so the bot hears it in order.
        self.flush_batch();
        self.write(ws_wire::TEXT, event.to_json().as_bytes());
    }

    /// Writes one frame to the bot. A connection that cannot take it fails (its I/O task
    /// reports it): the failure is reported on its own.
    fn write(&mut self, opcode: u8, payload: &[u8]) {
        if self.close_sent {
            return;
        }
        if let Some(link) = &mut self.link {
            link.writer.send(opcode, payload);
            self.close_sent = opcode == ws_wire::CLOSE;
        }
    }

    fn mark_played(&mut self, name: String) {
        let (sequence_number, stream_sid) = self.envelope();
        self.send(&ToBot::Mark {
            sequence_number,
            stream_sid,
            mark: ws::Mark { name },
        });
    }

    /// Drops every piece of bot output not yet sent on.
    fn clear_output(&mut self) {
        self.out.clear();
        self.out_audio.clear();
        self.partial.clear();
        self.pending = None;
    }

    /// One caller frame (`bytes` of `format`, empty: lost) toward the bot.
    fn on_caller_frame(&mut self, format: AudioFormat, bytes: &[u8]) {
        if self.link.is_none() || (self.done && !self.listen_only) {
            return;
        }
        let mut buf = [0u8; MAX_ENCODED_BYTES];
        let Some(payload) = self.stream_payload(format, bytes, &mut buf) else {
            return;
        };
        if self.per_message == 1 {
            self.send_caller_audio(payload, 1);
            return;
        }
        self.batch.extend_from_slice(payload);
        self.batched += 1;
        if self.batched >= self.per_message {
            self.flush_batch();
        }
    }

    /// Sends the caller audio batched so far (`chunk_ms` above 20), if any.
    fn flush_batch(&mut self) {
        if self.batched == 0 {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        self.send_caller_audio(&batch, self.batched);
        self.batch = batch;
        self.batch.clear();
        self.batched = 0;
    }

    /// One message of caller audio, `frames` 20 ms frames of it, in the stream's format.
    fn send_caller_audio(&mut self, payload: &[u8], frames: u32) {
        self.chunk += 1;
        let timestamp_ms = self.frames_sent * 20;
        self.frames_sent += u64::from(frames);
        match self.wire_format {
            WsAudioFormat::Mulaw => {
                self.sequence += 1;
                let mut json = std::mem::take(&mut self.json);
                super::ws_media::inbound_media(
                    &mut json,
                    self.sequence,
                    &self.quoted_sid,
                    self.chunk,
                    timestamp_ms,
                    payload,
                );
                self.write(ws_wire::TEXT, json.as_bytes());
                self.json = json;
            }
            WsAudioFormat::L16 => self.write(ws_wire::BINARY, payload),
        }
    }

    /// A bot text frame read in place when it is a `media` event: `Some(pump)` when it was
    /// one (`pump`: output waits for the actor's pump), `None` when it is another event, or
    /// the leg takes no audio now (then the full parse decides).
    fn media_text(&mut self, text: &str) -> Option<bool> {
        if self.listen_only || self.done {
            return None;
        }
        let mut audio = std::mem::take(&mut self.bot_audio);
        let media = super::ws_media::bot_media_into(text, &mut audio);
        let pump = match &media {
            Some(Ok(())) => Some(self.queue_audio(&audio)),
            Some(Err(e)) => {
                bad_message(e);
                Some(false)
            }
            None => None,
        };
        self.bot_audio = audio;
        pump
    }

    /// Cuts bot audio into frames, keeping the remainder for the next chunk; true when output
    /// waits for the pump.
    fn queue_audio(&mut self, bytes: &[u8]) -> bool {
        if self.listen_only {
            metrics::counter!(FRAMES_DROPPED, "leg" => "assist-bot").increment(1);
            return false;
        }
        if self.done {
            return false;
        }
        let taken = self.send_direct(bytes);
        let bytes = &bytes[taken..];
        if bytes.is_empty() {
            return !self.out.is_empty();
        }
        let frame = self.frame_bytes();
        self.partial.extend_from_slice(bytes);
        let whole = self.partial.len() / frame * frame;
        let mut dropped = 0u64;
        for chunk in self.partial[..whole].chunks_exact(frame) {
            if self.out_audio.len() >= MAX_QUEUED_FRAMES * frame {
                dropped += 1;
                continue;
            }
            self.out_audio.extend(chunk);
            self.out.push_back(Out::Audio);
        }
        self.partial.drain(..whole);
        if dropped > 0 {
            metrics::counter!(FRAMES_DROPPED, "leg" => "bot").increment(dropped);
        }
        true
    }

    /// The steady state of a bot that answers frame by frame, wired to the RTP leg: whole
    /// frames at the start of `bytes` go from the socket's buffer straight into the return ring,
    /// converted on the way, with no queue between (nothing may be queued ahead of them).
    /// Returns how many bytes it took; a frame the full ring refuses becomes `pending`, the
    /// queue's next frame.
    fn send_direct(&mut self, bytes: &[u8]) -> usize {
        let frame = self.frame_bytes();
        let ingress = self.caller_format();
        let Some((_, to_caller)) = &self.rings else {
            return 0;
        };
        let idle = self.partial.is_empty() && self.out.is_empty() && self.pending.is_none();
        if !idle || to_caller.format() != ingress {
            return 0;
        }
        let mut taken = 0;
        for chunk in bytes.chunks_exact(frame) {
            taken += frame;
            let mut buf = [0u8; MAX_ENCODED_BYTES];
            let Some(audio) = Self::to_caller_format(self.codec.as_deref_mut(), chunk, &mut buf)
            else {
                continue;
            };
            match to_caller.push(audio) {
                // TooLong cannot happen (converted to the ingress frame size): not audio.
                Ok(()) | Err(RingError::TooLong) => {}
                Err(RingError::Full) => {
                    self.pending = EncodedFrame::from_bytes(ingress, audio).ok();
                    self.out.push_back(Out::Audio);
                    break;
                }
                // The audio path is gone: the call is stopping us.
                Err(RingError::Closed) => return bytes.len(),
            }
        }
        taken
    }

    /// Pads a partial frame with silence so a mark follows all the audio sent before it.
    fn flush_partial(&mut self) {
        if self.partial.is_empty() {
            return;
        }
        let frame = self.frame_bytes();
        let silence = self.silence_byte();
        self.partial.resize(frame, silence);
        self.out_audio.extend(&self.partial);
        self.out.push_back(Out::Audio);
        self.partial.clear();
    }

    /// Sends queued output on until it is sent or the next leg is full (a burst at most when
    /// it takes messages); returns when to try again, if output is left.
    fn pump_once(&mut self) -> Option<Duration> {
        let mut sent = 0;
        let mut retry = RETRY;
        while let Some(item) = self.out.front_mut() {
            match item {
                Out::Mark(name) => {
                    if let Some((_, to_caller)) = &self.rings {
                        match to_caller.push_mark(std::mem::take(name)) {
                            Ok(()) | Err((RingError::Closed, _)) => {}
                            Err((_, name)) => {
                                // Full: the leg takes it on its next tick.
                                self.out[0] = Out::Mark(name);
                                retry = RING_RETRY;
                                break;
                            }
                        }
                    } else {
                        self.owner.marks.do_send(Mark(std::mem::take(name)));
                    }
                    self.out.pop_front();
                }
                Out::Audio => {
                    if sent == BURST && self.rings.is_none() {
                        break;
                    }
                    let frame = match self.pending.take() {
                        Some(frame) => frame,
                        None => match self.next_bot_frame() {
                            Some(frame) => frame,
                            None => {
                                self.out.pop_front();
                                continue;
                            }
                        },
                    };
                    match self.send_audio(frame) {
                        Sent::Taken => {
                            sent += 1;
                            self.out.pop_front();
                        }
                        Sent::Full => {
                            if self.rings.is_some() {
                                retry = RING_RETRY;
                            }
                            break;
                        }
                        // The audio path is gone: the call is stopping us.
                        Sent::Gone => {
                            self.out.clear();
                            self.out_audio.clear();
                            self.pending = None;
                            return None;
                        }
                    }
                }
            }
        }
        (!self.out.is_empty()).then_some(retry)
    }

    /// Sends one frame of bot audio toward the caller without waiting: into the return ring
    /// when wired to the leg and in its format, else as a message. A frame refused for now
    /// becomes `pending`, sent first next time.
    fn send_audio(&mut self, frame: EncodedFrame) -> Sent {
        match &self.rings {
            Some((_, to_caller)) if to_caller.format() == frame.format() => {
                match to_caller.push(frame.bytes()) {
                    // Cut to the format's frame size, TooLong cannot happen: not audio anyway.
                    Ok(()) | Err(RingError::TooLong) => Sent::Taken,
                    Err(RingError::Full) => {
                        self.pending = Some(frame);
                        Sent::Full
                    }
                    Err(RingError::Closed) => Sent::Gone,
                }
            }
            _ => match self.owner.audio.try_send(Downstream(AudioFrame(frame))) {
                Ok(()) => Sent::Taken,
                Err(SendError::Full(Downstream(AudioFrame(frame)))) => {
                    self.pending = Some(frame);
                    Sent::Full
                }
                Err(SendError::Closed(_)) => Sent::Gone,
            },
        }
    }

    /// Agent assist: only transcripts go on; the rest is the bot trying to take part.
    fn on_event_listening(&mut self, event: FromBot) {
        match event {
            FromBot::Transcript { transcript, .. } => {
                self.owner.transcript.do_send(Transcript {
                    role: transcript.role,
                    text: transcript.text,
                });
            }
            FromBot::Media { .. } => {
                metrics::counter!(FRAMES_DROPPED, "leg" => "assist-bot").increment(1);
            }
            FromBot::Transfer { .. } | FromBot::Hangup { .. } => {
                tracing::info!("listen-only bot asked to transfer or hang up; ignored");
            }
            FromBot::Mark { .. } | FromBot::Clear { .. } => {}
        }
    }

    /// Tick mode, once per tick of the leg: writes what waits, reads the socket and puts the
    /// bot's audio into the return ring; anything else read is left, in order, to the actor.
    fn on_tick(&mut self) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let Some(ticked) = link.ticked.as_mut() else {
            return;
        };
        if ticked.handoff || ticked.ended.is_some() {
            return;
        }
        let Some(mut reader) = ticked.reader.take() else {
            return;
        };
        link.writer.retry();
        for _ in 0..READS_PER_TICK {
            match link.writer.read_into(&mut reader) {
                Ok((0, _)) => {
                    ticked.ended = Some(None);
                    break;
                }
                Ok((_, full)) if full => {}
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    ticked.ended = Some(Some(WireError::io("read", &e)));
                    break;
                }
            }
        }
        let handoff = self.take_audio(&mut reader);
        let Some(ticked) = self.link.as_mut().and_then(|l| l.ticked.as_mut()) else {
            return;
        };
        ticked.reader = Some(reader);
        ticked.handoff = handoff;
        if handoff || ticked.ended.is_some() || self.pump_wanted {
            ticked.wake_actor();
        }
    }

    /// Tick mode: takes the bot's whole audio frames off the front of `reader` into the
    /// return ring (queueing what it cannot take for the actor's pump); true when it stopped
    /// at a frame that is for the actor.
    fn take_audio(&mut self, reader: &mut Reader) -> bool {
        loop {
            let (opcode, payload, size) = match reader.peek() {
                Peek::Data {
                    opcode,
                    payload,
                    size,
                } if !self.done && !self.listen_only => (opcode, payload, size),
                Peek::Incomplete => return false,
                _ => return !reader.is_empty(),
            };
            let pump = if opcode == ws_wire::BINARY {
                self.queue_audio(payload)
            } else {
                match std::str::from_utf8(payload)
                    .ok()
                    .map(|t| self.media_text(t))
                {
                    Some(Some(pump)) => pump,
                    // Another event, or text that is not UTF-8: the actor's.
                    _ => return true,
                }
            };
            if let Some(link) = &mut self.link {
                link.heard = true;
            }
            self.pump_wanted |= pump;
            reader.consume(size);
        }
    }
}

/// The RTP leg's clock drives a leg in tick mode (see the module documentation). Both run on
/// one arbiter; a borrow that finds the actor inside the core (it never calls into the leg
/// while it is) skips the tick.
impl BotClock for RefCell<Core> {
    fn caller_frame(&self, format: AudioFormat, bytes: &[u8]) {
        if let Ok(mut core) = self.try_borrow_mut() {
            core.on_caller_frame(format, bytes);
        }
    }

    fn poll_peer(&self) {
        if let Ok(mut core) = self.try_borrow_mut() {
            core.on_tick();
        }
    }
}

/// Tick mode's task on the actor: woken by the tick for what only the actor handles (frames
/// other than audio, the socket's end, output for the pump) and by the writer for a failed
/// write. It ends with its connection.
struct TickIo {
    gen: u64,
}

impl ActorFuture<WsBot> for TickIo {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        bot: &mut WsBot,
        ctx: &mut Context<WsBot>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let gen = self.gen;
        let (failed, reader, ended, pump) = {
            let mut core = bot.core.borrow_mut();
            let pump = std::mem::take(&mut core.pump_wanted);
            let Some(link) = core.link.as_mut().filter(|l| l.gen == gen) else {
                return Poll::Ready(());
            };
            link.writer.set_io(task.waker());
            let failed = link.writer.take_failure();
            let Some(ticked) = link.ticked.as_mut() else {
                // Back on the reactor: WireIo drives the connection now.
                return Poll::Ready(());
            };
            if !ticked
                .actor
                .as_ref()
                .is_some_and(|w| w.will_wake(task.waker()))
            {
                ticked.actor = Some(task.waker().clone());
            }
            let ended = ticked.ended.take();
            let reader = if std::mem::take(&mut ticked.handoff) || ended.is_some() {
                ticked.reader.take()
            } else {
                None
            };
            (failed, reader, ended, pump)
        };
        if let Some(e) = failed {
            bot.wire_ended(gen, Some(e), ctx);
            return Poll::Ready(());
        }
        if let Some(mut reader) = reader {
            match reader.deliver(|event| bot.on_wire(gen, event, ctx)) {
                Ok(true) => {}
                Ok(false) => return Poll::Ready(()),
                Err(e) => {
                    bot.wire_ended(gen, Some(e), ctx);
                    return Poll::Ready(());
                }
            }
            let mut core = bot.core.borrow_mut();
            match core
                .link
                .as_mut()
                .filter(|l| l.gen == gen)
                .and_then(|l| l.ticked.as_mut())
            {
                Some(ticked) => ticked.reader = Some(reader),
                None => return Poll::Ready(()),
            }
        }
        if let Some(error) = ended {
            bot.wire_ended(gen, error, ctx);
            return Poll::Ready(());
        }
        if pump {
            bot.pump(ctx);
        }
        Poll::Pending
    }
}

fn transcode_error(direction: &'static str, e: &CodecError) {
    metrics::counter!(TRANSCODE_ERRORS, "direction" => direction).increment(1);
    tracing::debug!(direction, error = %e, "bot frame dropped");
}

fn bad_message(why: &str) {
    metrics::counter!(crate::metrics::WS_BOT_BAD_MESSAGES).increment(1);
    tracing::debug!(why, "bot message ignored");
}

impl Actor for WsBot {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.connect(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let mut core = self.core.borrow_mut();
        // The RTP leg may hold the core longer (its clock's handle): the socket goes now.
        core.link = None;
        if let Some((from_caller, _)) = &core.rings {
            from_caller.close();
        }
        core.owner.exited.do_send(LegExited {
            leg: LegKind::Bot,
            cause: ExitCause::Normal("stopped".into()),
        });
    }
}

/// What the connection's I/O task reads, and how it ends.
impl WireOwner for WsBot {
    fn with_writer<R>(&mut self, gen: u64, f: impl FnOnce(&mut Writer) -> R) -> Option<R> {
        let mut core = self.core.borrow_mut();
        core.link
            .as_mut()
            .filter(|l| l.gen == gen)
            .map(|l| f(&mut l.writer))
    }

    fn on_wire(&mut self, gen: u64, event: WireEvent<'_>, ctx: &mut Context<Self>) -> bool {
        if !self.is_open(gen) {
            return false;
        }
        if let Some(link) = &mut self.core.borrow_mut().link {
            link.heard = true;
        }
        match event {
            WireEvent::Text(text) => match std::str::from_utf8(text) {
                Ok(text) => self.on_text(text, ctx),
                Err(e) => bad_message(&e.to_string()),
            },
            WireEvent::Binary(bytes) => {
                if self.core.borrow_mut().queue_audio(bytes) {
                    self.pump(ctx);
                }
            }
            WireEvent::Ping(payload) => self.core.borrow_mut().write(ws_wire::PONG, payload),
            WireEvent::Pong => {}
            WireEvent::Close(_) if self.stopping => {
                ctx.stop();
                return false;
            }
            WireEvent::Close(code) => {
                // Answer the close (RFC 6455 §5.5.1), then drop the connection.
                self.core.borrow_mut().write(
                    ws_wire::CLOSE,
                    &code.unwrap_or(ws_wire::NORMAL_CLOSURE).to_be_bytes(),
                );
                let why = match code {
                    Some(code) => format!("bot closed the socket ({code})"),
                    None => "bot closed the socket".to_owned(),
                };
                self.fail(gen, why, ctx);
            }
        }
        self.is_open(gen)
    }

    fn wire_ended(&mut self, gen: u64, error: Option<WireError>, ctx: &mut Context<Self>) {
        if !self.is_open(gen) {
            return;
        }
        if self.stopping {
            ctx.stop();
            return;
        }
        let why = match error {
            Some(e) => {
                if let Some(code) = e.code {
                    // Tell the bot why, if the socket still takes it.
                    self.core
                        .borrow_mut()
                        .write(ws_wire::CLOSE, &code.to_be_bytes());
                }
                e.why
            }
            None => "socket ended".to_owned(),
        };
        self.fail(gen, why, ctx);
    }
}

impl Handler<AudioFrame> for WsBot {
    type Result = ();

    fn handle(&mut self, msg: AudioFrame, _ctx: &mut Self::Context) {
        self.core
            .borrow_mut()
            .on_caller_frame(msg.0.format(), msg.0.bytes());
    }
}

impl Handler<Dtmf> for WsBot {
    type Result = ();

    fn handle(&mut self, msg: Dtmf, _ctx: &mut Self::Context) {
        let mut core = self.core.borrow_mut();
        if core.done {
            return;
        }
        let (sequence_number, stream_sid) = core.envelope();
        core.send(&ToBot::Dtmf {
            sequence_number,
            stream_sid,
            dtmf: ws::Dtmf::inbound(msg.digit),
        });
    }
}

impl Handler<MarkPlayed> for WsBot {
    type Result = ();

    fn handle(&mut self, msg: MarkPlayed, _ctx: &mut Self::Context) {
        self.core.borrow_mut().mark_played(msg.0);
    }
}

impl Handler<ListenOnly> for WsBot {
    type Result = ();

    fn handle(&mut self, _: ListenOnly, ctx: &mut Self::Context) {
        {
            let mut core = self.core.borrow_mut();
            core.listen_only = true;
            // Its connection ending from now on is no failure the call acts on.
            core.done = true;
            core.clear_output();
            core.pump_wanted = false;
        }
        // The leg's clock no longer drives it; the agent assist mixer sends it the audio.
        self.back_to_reactor(ctx);
    }
}

impl Handler<RestartBot> for WsBot {
    type Result = ();

    fn handle(&mut self, _: RestartBot, ctx: &mut Self::Context) {
        if matches!(self.conn, Conn::Idle) && !self.stopping && !self.core.borrow().done {
            self.connect(ctx);
        }
    }
}

impl Handler<StopLeg> for WsBot {
    type Result = ();

    fn handle(&mut self, _msg: StopLeg, ctx: &mut Self::Context) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        // The closing handshake needs the socket read whether or not the leg still ticks.
        self.back_to_reactor(ctx);
        let mut core = self.core.borrow_mut();
        let (sequence_number, stream_sid) = core.envelope();
        core.send(&ToBot::Stop {
            sequence_number,
            stream_sid,
            stop: ws::Stop {
                account_sid: self.info.account_sid.clone(),
                call_sid: self.info.call_sid.clone(),
                ..ws::Stop::default()
            },
        });
        match &core.link {
            Some(_) if matches!(self.conn, Conn::Open { .. }) => {
                core.write(ws_wire::CLOSE, &ws_wire::NORMAL_CLOSURE.to_be_bytes());
                self.closing = Some(ctx.address());
                // The closing handshake (RFC 6455 §7.1.1): the bot's close frame (or its
                // socket ending) stops us and drops the connection; do not wait on a bot that
                // does not answer. Shutting our side down first would make servers that treat
                // a half-close as an error drop the `stop` unread.
                ctx.run_later(CLOSE_GRACE, |_, ctx| ctx.stop());
            }
            _ => ctx.stop(),
        }
    }
}
