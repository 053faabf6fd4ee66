//! [`RtpLeg`]: the actor that owns one call's RTP/RTCP sockets and drives its sans-IO
//! [`RtpSession`], jitter buffer and RFC 4733 receiver on a single frame clock.
//!
//! Data flow:
//! - socket → [`RtpSession::handle_packet`] → audio into the [`JitterBuffer`], telephone-events
//!   into the [`DtmfReceiver`] → one [`Dtmf`] per key press to the owner;
//! - every `ptime` (frame `n` is due at `start + n × ptime`): one frame out of the jitter buffer
//!   to the owner ([`AudioFrame`], with `try_send`), and one frame out of the [`PlayoutQueue`]
//!   to the peer through [`RtpSession::send_frame`]; RTCP and the inactivity timeout are
//!   serviced on the same tick;
//! - owner → [`AudioFrame`] / [`Mark`] / [`Clear`] / [`Dtmf`] / [`UpdateMedia`] / [`StopLeg`].
//!
//! The sockets are read on the frame tick, not on every datagram: at the start of each tick
//! the leg drains them with batched `recvmmsg` calls ([`BatchReceiver`]), every datagram
//! stamped by the kernel on arrival, so the jitter estimate, the jitter buffer and DTMF timing
//! see real arrival times while the node wakes once per tick instead of once per packet (the
//! sockets are not registered with the reactor). A packet that arrived before a tick is in the
//! jitter buffer when that tick pops a frame, as it would be if it had been read at once.
//!
//! The media path allocates nothing per packet: datagrams are read into per-thread buffers and
//! handled in place (no message per datagram), the clock is the arbiter's [`clock_hub`] (one
//! timer and one task for all its legs; a tick wakes neither the leg's actor nor its mailbox),
//! and packets are built in a per-thread buffer. The only allocation per frame is the actor
//! envelope of the [`AudioFrame`] sent to the owner.
//!
//! Drops are counted in `voxgate_media_frames_dropped_total`: `leg="ingress"` when the owner's
//! mailbox was full, `leg="ingress_playout"` when the outgoing queue refused a frame (full: the
//! newest frame is refused, see [`PlayoutQueue`]; oversize; or not in the negotiated format).
//!
//! Wiring, on the call's arbiter:
//!
//! ```text
//! let pair = bind_rtp_pair(config.rtp_ports, local_ip)?;      // its port goes in the SDP answer
//! let owner = RtpLegOwner { frames: transcoder.recipient(), dtmf: call.recipient(),
//!                           marks: bot.recipient(), stats: call.recipient(),
//!                           exited: call.recipient() };
//! let leg = RtpLeg::new(pair, RtpLegConfig::new(answer.media, cname), owner).start();
//! leg.do_send(UpdateMedia(renegotiated.media));   // re-INVITE
//! leg.do_send(StopLeg);                           // BYE: MediaStats, then LegExited
//! ```
//!
//! SRTP (SDES, `media.srtp` set): every datagram is unprotected before the session sees it and
//! every packet the session builds is protected on its way to the socket. The SRTP crate hands
//! back a new buffer per packet, so an SRTP leg costs one allocation per packet each way (see
//! [`SrtpTransform`]); packets that fail authentication or replay checks are dropped and
//! counted in `voxgate_srtp_packets_rejected_total`.
//!
//! Nothing read from the network can make the leg panic: every parse goes through the engine's
//! fallible parsers and malformed input is only counted.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use actix::dev::SendError;
use actix::fut::ActorFuture;
use actix::prelude::*;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use voxgate_codecs::frame::MAX_ENCODED_BYTES;
use voxgate_codecs::jitter::{JitterBuffer, JitterConfig, Playout};
use voxgate_codecs::rfc4733::{char_to_event, DtmfEvent, DtmfReceiver, Tone};
use voxgate_codecs::{AudioFormat, EncodedFrame};
use voxgate_engine::rtp::sender::DTMF_DEFAULT_VOLUME;
use voxgate_engine::rtp::srtp::SrtpTransform;
use voxgate_engine::rtp::{
    Channel, Event, MediaKind, RtpSession, SessionConfig, SessionStats, Transmit,
};
use voxgate_engine::sdp::{CodecKind, NegotiatedMedia};

use super::batch_recv::{enable_timestamps, BatchReceiver, DrainClock};
use super::clock_hub::{self, Clocked};
use super::frame_ring::{FrameRing, RingEntry, RingError};
use super::playout::{PlayoutQueue, PushError};
use super::ports::RtpPair;
use crate::calls::messages::{
    AudioFrame, Clear, Dtmf, ExitCause, LegExited, LegKind, Mark, MarkPlayed, StopLeg,
};
use crate::calls::transcoder::Downstream;
use crate::metrics::{FRAMES_DROPPED, SEND_ERRORS, SRTP_REJECTED};

/// Room for an RTP header (with CSRCs and extension the sender never writes) plus the largest
/// encoded frame, and for any RTCP compound the session builds.
const SEND_BUF: usize = 1600;

thread_local! {
    /// Where every leg on this thread builds the packet it sends next: legs tick one at a time,
    /// and a shared buffer stays warm in the cache where one per leg was written cold on every
    /// tick.
    static OUT: RefCell<[u8; SEND_BUF]> = const { RefCell::new([0; SEND_BUF]) };
}
/// Datagrams read from one socket per tick, at most; the rest waits in the socket for the next
/// tick (a call brings about one per tick).
const READ_BUDGET: usize = 64;
/// The RTCP socket (no rtcp-mux) is read this often rather than on every tick: reports come
/// every few seconds, their kernel arrival stamps keep the round-trip time exact, and the RTP
/// socket alone is one system call per tick.
const RTCP_READ_INTERVAL: Duration = Duration::from_millis(200);
/// Ticks run back to back when the arbiter was late; beyond that the clock skips ahead.
const MAX_CATCH_UP: u64 = 5;
/// A digit whose end packets never came is reported after this long without event packets.
const DIGIT_END_TIMEOUT: Duration = Duration::from_millis(500);
/// Digits waiting to be sent to the peer; more are dropped.
const DTMF_QUEUE: usize = 32;
/// Duration of an outgoing digit when the request says 0 ms.
const DEFAULT_DIGIT_MS: u32 = 100;
/// Mailbox size: room for a bot's burst of frames (2.5 s) on top of the control messages.
const MAILBOX: usize = 128;
/// Default outgoing queue length: 10 s of 20 ms frames.
pub const DEFAULT_QUEUE_FRAMES: usize = 500;
/// Largest Opus frame the outgoing queue holds (≈ 200 kbit/s at 20 ms, far above voice rates).
const OPUS_QUEUE_SLOT: usize = 512;
/// Largest audio payload the jitter buffer takes (an Ethernet MTU).
const MAX_PACKET_PAYLOAD: usize = 1500;
/// Largest Opus frame (RFC 6716 §3.4: 1275 bytes for one frame).
const OPUS_MAX_FRAME: usize = 1275;

/// Configuration of one RTP leg.
#[derive(Debug, Clone)]
pub struct RtpLegConfig {
    /// The negotiated stream (codec, payload types, remote address, ptime, direction, mux).
    pub media: NegotiatedMedia,
    /// No RTP from the peer for this long ends the leg (`Failed("media timeout")`);
    /// `Duration::ZERO` disables it. Suspended while the stream does not receive (hold).
    pub inactivity_timeout: Duration,
    /// Smallest jitter-buffer depth, in ms (rounded up to whole frames, at least one).
    pub jitter_min_ms: u32,
    /// Largest jitter-buffer depth, in ms.
    pub jitter_max_ms: u32,
    /// Nominal RTCP report interval (RFC 3550 randomises it 0.5–1.5×).
    pub rtcp_interval: Duration,
    /// Our RTCP SDES CNAME.
    pub cname: String,
    /// Outgoing queue length in frames ([`DEFAULT_QUEUE_FRAMES`] = 10 s).
    pub queue_frames: usize,
    /// Which leg of the call this is, for [`LegExited`] and the metrics label (`Ingress` for
    /// the caller; `Bot` when a SIP bot's media runs through an RTP leg too).
    pub kind: LegKind,
}

impl RtpLegConfig {
    /// A configuration with the defaults: the ingress leg, 30 s inactivity, 40–200 ms jitter
    /// buffer, RTCP every ~5 s, a 10 s outgoing queue.
    pub fn new(media: NegotiatedMedia, cname: impl Into<String>) -> Self {
        Self {
            media,
            inactivity_timeout: Duration::from_secs(30),
            jitter_min_ms: 40,
            jitter_max_ms: 200,
            rtcp_interval: Duration::from_secs(5),
            cname: cname.into(),
            queue_frames: DEFAULT_QUEUE_FRAMES,
            kind: LegKind::Ingress,
        }
    }
}

/// Where the leg reports to (the call, or the leg next to it in the tree).
#[derive(Debug, Clone)]
pub struct RtpLegOwner {
    /// The caller's audio, one frame per tick (a length-0 frame: conceal a lost frame).
    pub frames: Recipient<AudioFrame>,
    /// The caller's key presses, one per press.
    pub dtmf: Recipient<Dtmf>,
    /// Marks the caller has heard.
    pub marks: Recipient<MarkPlayed>,
    /// The counters, once, when the leg ends (before [`LegExited`]).
    pub stats: Recipient<MediaStats>,
    /// The leg has stopped.
    pub exited: Recipient<LegExited>,
}

/// A bot that speaks the leg's own format and is wired to it directly (the builtin bot on a
/// G.711 call) through two [`FrameRing`]s: whole 20 ms caller frames in that format (and
/// lost-frame markers, empty) go into `to_bot` on the tick instead of through the transcoder,
/// and the bot's frames come back in `from_bot`, drained on every tick (and before a [`Mark`]
/// or [`Clear`] is applied, so they stay in order with them). Frames of another size or format
/// take the transcoder both ways (it re-cuts and converts), so a caller packetising at 30 ms or
/// a codec changed by re-INVITE still reaches the bot right. A direct frame costs no actor
/// message either way: two hops, two envelopes and the leg's wake per frame fewer.
#[derive(Clone)]
pub struct DirectBot {
    /// Caller frames to the bot; its format is the bot's (the leg's at setup).
    pub to_bot: Arc<FrameRing>,
    /// The bot's frames to the caller.
    pub from_bot: Arc<FrameRing>,
    /// The transcoder's bot-side input, for bot frames the leg cannot play as they are.
    pub via_transcoder: Recipient<Downstream>,
    /// A bot the leg's clock drives: it is handed the frames meant for `to_bot` on the tick
    /// and polled before `from_bot` is drained (the WebSocket bot; same arbiter).
    pub clock: Option<Rc<dyn BotClock>>,
}

impl std::fmt::Debug for DirectBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectBot")
            .field("to_bot", &self.to_bot)
            .field("from_bot", &self.from_bot)
            .field("clock", &self.clock.is_some())
            .finish_non_exhaustive()
    }
}

/// A direct bot driven by the leg's clock instead of by wake-ups of its own: per tick it is
/// handed the caller's frame, then polled for what its peer said (which it puts into the
/// return ring) just before the leg plays from that ring. It runs on the leg's arbiter.
pub trait BotClock {
    /// One caller frame of `format` (the ring's; empty: lost).
    fn caller_frame(&self, format: AudioFormat, bytes: &[u8]);
    /// Once per tick, before the return ring is drained.
    fn poll_peer(&self);
}

impl DirectBot {
    /// Whether a frame of `format` can skip the transcoder on its way to the bot.
    fn takes(&self, format: AudioFormat, bytes: &[u8]) -> bool {
        format == self.to_bot.format()
            && (bytes.is_empty() || Some(bytes.len()) == format.frame_bytes())
    }
}

/// The bot wired by [`DirectBot`] is being replaced (the `invite` profile bridges an agent in
/// its place, behind the transcoder): from now on every caller frame goes to the owner. What
/// the bot still says is played as before.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct DetachBot;

/// A re-INVITE changed the stream: new remote address, codec, ptime or direction (hold).
///
/// `media.direction` is ours, as in [`NegotiatedMedia`]: when it does not send (the peer's
/// `sendonly`/`inactive` hold) no audio goes out and queued frames are discarded as they come
/// due; when it does not receive (`inactive`, or we hold with `sendonly`) the inactivity timeout
/// is suspended. A codec, payload-type, ptime or rtcp-mux change starts a new RTP stream (new
/// SSRC, as a clock-rate change requires); the counters carry over.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct UpdateMedia(pub NegotiatedMedia);

/// The RTP counters of a leg for the session record, sent once when it ends.
#[derive(Message, Debug, Clone, PartialEq)]
#[rtype(result = "()")]
pub struct MediaStats {
    /// Encoding name of the codec last used (`PCMU`, `PCMA`, `opus`, `G722`).
    pub codec: &'static str,
    /// RTP packets we sent (audio and DTMF).
    pub packets_sent: u64,
    /// Payload octets we sent.
    pub octets_sent: u64,
    /// Valid RTP packets received.
    pub packets_received: u64,
    /// Payload octets received.
    pub octets_received: u64,
    /// Packets the peer's sequence numbers say were lost.
    pub packets_lost: u64,
    /// Packets that arrived out of order.
    pub late: u64,
    /// Duplicate packets dropped.
    pub duplicates: u64,
    /// Largest interarrival jitter estimate, ms.
    pub jitter_max_ms: f64,
    /// Mean interarrival jitter estimate, ms.
    pub jitter_mean_ms: f64,
    /// The address media was latched to (where it really came from), if any arrived.
    pub remote: Option<SocketAddr>,
    /// Last round-trip time from RTCP.
    pub rtt: Option<Duration>,
    /// Lost frames handed to the owner as conceal frames.
    pub frames_concealed: u64,
    /// Frames to the owner dropped because its mailbox was full.
    pub frames_dropped_ingress: u64,
    /// Outgoing frames refused (queue full, oversize, wrong format).
    pub frames_dropped_egress: u64,
    /// DTMF key presses received.
    pub dtmf_received: u64,
}

/// The RTP leg actor; see the module documentation. Its media state is shared with this
/// thread's [`clock_hub`], which runs its frame clock.
pub struct RtpLeg {
    core: Rc<RefCell<LegCore>>,
}

/// The state of an RTP leg: what its frame clock (run by the [`clock_hub`]) and its message
/// handlers work on.
struct LegCore {
    config: RtpLegConfig,
    owner: RtpLegOwner,
    /// The sockets as passed in, until `started` takes them out of the reactor.
    pair: Option<RtpPair>,
    rtp: Option<UdpSocket>,
    rtcp: Option<UdpSocket>,
    /// Reads the sockets (their address family's headers).
    receiver: BatchReceiver,
    /// When the RTP socket was last drained: nothing read later arrived before it.
    last_drain: Instant,
    /// The same for the RTCP socket, read every [`RTCP_READ_INTERVAL`].
    last_rtcp_drain: Instant,
    session: RtpSession,
    /// Counters of streams replaced by a codec change.
    prior: Option<SessionStats>,
    format: AudioFormat,
    samples_per_frame: u32,
    period: Duration,
    jitter: JitterBuffer,
    /// The SSRC whose audio the jitter buffer holds.
    jitter_ssrc: Option<u32>,
    dtmf_rx: DtmfReceiver,
    /// A digit reported as begun whose end has not arrived, and when its last packet came.
    open_digit: Option<(Tone, Instant)>,
    dtmf_out: VecDeque<Dtmf>,
    queue: PlayoutQueue,
    sending: bool,
    clock_start: Instant,
    /// Index of the next frame tick.
    frame: u64,
    concealed: u64,
    dropped_ingress: u64,
    dropped_egress: u64,
    dtmf_received: u64,
    setup_error: Option<String>,
    exited: bool,
    /// SRTP contexts when the stream is `RTP/SAVP`.
    srtp: Option<SrtpTransform>,
    /// A bot wired to this leg without the transcoder in between.
    direct: Option<DirectBot>,
    /// [`DetachBot`] came: caller frames no longer go to the direct bot.
    bot_detached: bool,
    /// The actor's [`ClockLink`], woken when the leg exits on its clock so the actor stops.
    link: Option<Waker>,
}

impl std::fmt::Debug for RtpLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.core.try_borrow() {
            Ok(core) => core.fmt(f),
            Err(_) => f.debug_struct("RtpLeg").finish_non_exhaustive(),
        }
    }
}

impl std::fmt::Debug for LegCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpLeg")
            .field("codec", &self.config.media.codec.name())
            .field("remote", &self.session.remote())
            .field("frame", &self.frame)
            .field("queue", &self.queue)
            .field("exited", &self.exited)
            .finish()
    }
}

/// The codec's encoded format as the transcoder names it.
fn audio_format(kind: CodecKind) -> Option<AudioFormat> {
    match kind {
        CodecKind::Pcmu => Some(AudioFormat::Pcmu),
        CodecKind::Pcma => Some(AudioFormat::Pcma),
        CodecKind::Opus => Some(AudioFormat::Opus48k),
        CodecKind::G722 => Some(AudioFormat::G722),
        _ => None,
    }
}

/// What one stream needs, derived from the negotiated media; `Err` for what cannot be carried.
struct StreamSetup {
    format: AudioFormat,
    samples_per_frame: u32,
    period: Duration,
    jitter: JitterBuffer,
    queue_slot: usize,
}

fn stream_setup(config: &RtpLegConfig, media: &NegotiatedMedia) -> Result<StreamSetup, String> {
    let format = audio_format(media.codec.kind)
        .ok_or_else(|| format!("codec {} is not supported", media.codec.name()))?;
    let clock_rate = media.codec.clock_rate;
    if !(1000..=192_000).contains(&clock_rate) {
        return Err(format!("unusable RTP clock rate {clock_rate}"));
    }
    let ptime = media.ptime.clamp(10, 120);
    // clock_rate <= 192000 and ptime <= 120, so the product fits easily.
    let samples_per_frame = clock_rate * ptime / 1000;
    let (queue_slot, jitter_slot) = match format {
        AudioFormat::Opus48k => (OPUS_QUEUE_SLOT, OPUS_MAX_FRAME),
        // G.711 and G.722: one byte per RTP clock tick; the jitter buffer also takes peers
        // that ignore our ptime (up to 60 ms packets).
        // Its slots grow to the packets that really come, so the bound costs nothing until used.
        _ => {
            let bytes = samples_per_frame as usize;
            (
                bytes.min(MAX_ENCODED_BYTES),
                bytes.clamp(480, MAX_PACKET_PAYLOAD),
            )
        }
    };
    let min_depth = config.jitter_min_ms.div_ceil(ptime).max(1) as usize;
    let max_depth = (config.jitter_max_ms.div_ceil(ptime) as usize).max(min_depth);
    let jitter = JitterBuffer::new(JitterConfig {
        clock_rate,
        frame_ms: ptime,
        min_depth,
        max_depth,
        capacity: max_depth + 16,
        max_payload: jitter_slot,
    })
    .map_err(|e| format!("jitter buffer: {e}"))?;
    Ok(StreamSetup {
        format,
        samples_per_frame,
        period: Duration::from_millis(u64::from(ptime)),
        jitter,
        queue_slot,
    })
}

/// The SRTP contexts `media` asks for (`None`: plain RTP).
fn srtp_for(media: &NegotiatedMedia) -> Result<Option<SrtpTransform>, String> {
    media
        .srtp
        .as_ref()
        .map(SrtpTransform::new)
        .transpose()
        .map_err(|e| format!("SRTP: {e}"))
}

fn inactivity(config: &RtpLegConfig, media: &NegotiatedMedia) -> Option<Duration> {
    (media.direction.receives() && !config.inactivity_timeout.is_zero())
        .then_some(config.inactivity_timeout)
}

fn new_session(config: &RtpLegConfig, media: &NegotiatedMedia, now: Instant) -> RtpSession {
    let mut c = SessionConfig::new(
        media.codec.payload_type,
        media.codec.clock_rate,
        config.cname.clone(),
    );
    c.dtmf_payload_type = media.telephone_event_pt();
    c.remote = media.remote_rtp;
    c.rtcp_mux = media.rtcp_mux;
    // Accept a new source's first packet: probation would drop the first frame of every call.
    c.min_sequential = 1;
    c.rtcp_interval = config.rtcp_interval;
    c.inactivity_timeout = inactivity(config, media);
    RtpSession::with_seed(c, now, SystemTime::now(), rand::random())
}

/// Adds the counters of a replaced stream to the current ones.
fn merge(prior: &SessionStats, current: &SessionStats) -> SessionStats {
    let mut s = current.clone();
    s.packets_sent += prior.packets_sent;
    s.octets_sent += prior.octets_sent;
    s.packets_received += prior.packets_received;
    s.octets_received += prior.octets_received;
    s.packets_lost += prior.packets_lost;
    s.late += prior.late;
    s.duplicates += prior.duplicates;
    s.max_jitter_ms = s.max_jitter_ms.max(prior.max_jitter_ms);
    if s.mean_jitter_ms == 0.0 {
        s.mean_jitter_ms = prior.mean_jitter_ms;
    }
    s.latched = s.latched.or(prior.latched);
    s.rtt = s.rtt.or(prior.rtt);
    s.dropped_payload_type += prior.dropped_payload_type;
    s.dropped_source += prior.dropped_source;
    s.malformed += prior.malformed;
    s
}

/// Receive errors that concern one datagram (ICMP feedback, signals), not the socket.
pub(super) fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// Takes a socket out of the reactor it was bound on (the leg reads it on its tick, see the
/// module documentation), still non-blocking, with kernel receive timestamps on.
fn unregistered(socket: tokio::net::UdpSocket) -> io::Result<UdpSocket> {
    let socket = socket.into_std()?;
    socket.set_nonblocking(true)?;
    enable_timestamps(&socket)?;
    Ok(socket)
}

impl RtpLeg {
    /// A leg over `pair` for `config.media`, reporting to `owner`. Make and start it on the
    /// call's arbiter (its state is shared with that thread's [`clock_hub`]); a stream it
    /// cannot carry makes it exit at once with `Failed`.
    pub fn new(pair: RtpPair, config: RtpLegConfig, owner: RtpLegOwner) -> RtpLeg {
        RtpLeg {
            core: Rc::new(RefCell::new(LegCore::new(pair, config, owner))),
        }
    }

    /// Wires `bot` to this leg directly (see [`DirectBot`]).
    pub fn with_direct_bot(self, bot: DirectBot) -> Self {
        self.core.borrow_mut().direct = Some(bot);
        self
    }

    /// Runs `f` on the leg's state, then stops the actor if the leg has exited.
    fn with_core(&mut self, ctx: &mut Context<Self>, f: impl FnOnce(&mut LegCore)) {
        let mut core = self.core.borrow_mut();
        f(&mut core);
        if core.exited {
            ctx.stop();
        }
    }
}

impl LegCore {
    fn new(pair: RtpPair, config: RtpLegConfig, owner: RtpLegOwner) -> LegCore {
        let now = Instant::now();
        let (setup, setup_error) = match stream_setup(&config, &config.media) {
            Ok(s) => (s, None),
            Err(e) => {
                // A PCMU stand-in keeps the actor well-formed until `started` reports the error.
                let mut fallback = config.clone();
                fallback.media.codec.kind = CodecKind::Pcmu;
                fallback.media.codec.clock_rate = 8000;
                fallback.jitter_min_ms = 20;
                fallback.jitter_max_ms = 20;
                let media = fallback.media.clone();
                // PCMU at 8 kHz with a one-frame buffer is always a valid stream setup.
                let s = stream_setup(&fallback, &media).expect("PCMU setup is valid");
                (s, Some(e))
            }
        };
        let session = new_session(&config, &config.media, now);
        let queue = PlayoutQueue::new(config.queue_frames, setup.queue_slot);
        let (srtp, srtp_error) = match srtp_for(&config.media) {
            Ok(t) => (t, None),
            Err(e) => (None, Some(e)),
        };
        let setup_error = setup_error.or(srtp_error);
        LegCore {
            sending: config.media.direction.sends(),
            owner,
            pair: Some(pair),
            rtp: None,
            rtcp: None,
            receiver: BatchReceiver::default(),
            last_drain: now,
            last_rtcp_drain: now,
            session,
            prior: None,
            format: setup.format,
            samples_per_frame: setup.samples_per_frame,
            period: setup.period,
            jitter: setup.jitter,
            jitter_ssrc: None,
            dtmf_rx: DtmfReceiver::new(),
            open_digit: None,
            dtmf_out: VecDeque::with_capacity(4),
            queue,
            clock_start: now,
            frame: 1,
            concealed: 0,
            dropped_ingress: 0,
            dropped_egress: 0,
            dtmf_received: 0,
            setup_error,
            exited: false,
            srtp,
            direct: None,
            bot_detached: false,
            link: None,
            config,
        }
    }

    /// The `leg` label of frames dropped toward the owner.
    fn label(&self) -> &'static str {
        match self.config.kind {
            LegKind::Bot => "bot",
            _ => "ingress",
        }
    }

    /// The `leg` label of outgoing frames the playout queue refused.
    fn playout_label(&self) -> &'static str {
        match self.config.kind {
            LegKind::Bot => "bot_playout",
            _ => "ingress_playout",
        }
    }

    /// When frame `n` is due.
    fn deadline(&self, n: u64) -> Instant {
        // period <= 120 ms, so period × n overflows u64 nanoseconds only after ~4800 years.
        let nanos = (self.period.as_nanos() as u64).saturating_mul(n);
        self.clock_start + Duration::from_nanos(nanos)
    }

    /// The counters so far.
    fn stats(&self) -> MediaStats {
        let current = self.session.stats();
        let s = match &self.prior {
            Some(prior) => merge(prior, &current),
            None => current,
        };
        MediaStats {
            codec: self.config.media.codec.name(),
            packets_sent: s.packets_sent,
            octets_sent: s.octets_sent,
            packets_received: s.packets_received,
            octets_received: s.octets_received,
            packets_lost: s.packets_lost,
            late: s.late,
            duplicates: s.duplicates,
            jitter_max_ms: s.max_jitter_ms,
            jitter_mean_ms: s.mean_jitter_ms,
            remote: s.latched,
            rtt: s.rtt,
            frames_concealed: self.concealed,
            frames_dropped_ingress: self.dropped_ingress,
            frames_dropped_egress: self.dropped_egress,
            dtmf_received: self.dtmf_received,
        }
    }

    /// Ends the leg once: RTCP BYE, the counters, then [`LegExited`]; the actor stops (its
    /// handlers see `exited`, and the [`ClockLink`] is woken for an exit on the clock).
    fn finish(&mut self, cause: ExitCause) {
        if self.exited {
            return;
        }
        self.exited = true;
        // What arrived since the last tick still counts (the sockets are read on the tick).
        // A socket that failed has nothing more to give: its error is the cause reported.
        let _ = self.drain_sockets(true, None);
        if let Some(d) = &self.direct {
            // Neither end is read any more: the bot's pushes are refused without a count.
            d.to_bot.close();
            d.from_bot.close();
        }
        self.session.close(Instant::now());
        self.drain_transmits();
        self.owner.stats.do_send(self.stats());
        self.owner.exited.do_send(LegExited {
            leg: self.config.kind,
            cause,
        });
        if let Some(link) = self.link.take() {
            link.wake();
        }
    }

    /// Sends the first `t.len` bytes of the thread's output buffer ([`OUT`], where `t` was
    /// built), SRTP-protected when negotiated; failures are counted, never fatal (a full socket
    /// buffer or an ICMP error concerns one packet).
    fn send(&mut self, t: Transmit) {
        OUT.with_borrow(|out| self.send_bytes(&t, out.get(..t.len)));
    }

    fn send_bytes(&mut self, t: &Transmit, bytes: Option<&[u8]>) {
        let socket = match (t.channel, self.config.media.rtcp_mux) {
            (Channel::Rtcp, false) => self.rtcp.as_ref(),
            _ => self.rtp.as_ref(),
        };
        let (Some(socket), Some(bytes)) = (socket, bytes) else {
            return;
        };
        let protected;
        let bytes = match self.srtp.as_mut() {
            None => bytes,
            Some(srtp) => match srtp.protect(t.channel == Channel::Rtcp, bytes) {
                Ok(p) => {
                    protected = p;
                    &protected[..]
                }
                Err(e) => {
                    metrics::counter!(SRTP_REJECTED, "direction" => "sent").increment(1);
                    tracing::debug!(error = %e, "packet not protected; not sent");
                    return;
                }
            },
        };
        if let Err(e) = socket.send_to(bytes, t.destination) {
            metrics::counter!(SEND_ERRORS).increment(1);
            tracing::trace!(error = %e, to = %t.destination, "RTP send failed");
        }
    }

    fn drain_transmits(&mut self) {
        while let Some(t) = OUT.with_borrow_mut(|out| self.session.poll_transmit(out)) {
            self.send(t);
        }
    }

    /// Queues one outgoing frame of `format` for the caller; a frame the queue refuses (full,
    /// oversize, or not in the stream's format) is dropped and counted.
    fn queue_frame(&mut self, format: AudioFormat, bytes: &[u8]) {
        let result = if format == self.format {
            self.queue.push(bytes)
        } else {
            // In flight across a codec change, or a wiring mistake: not ours to play.
            Err(PushError::TooLarge)
        };
        if let Err(e) = result {
            self.count_egress_drop();
            tracing::trace!(?e, "outgoing frame dropped");
        }
    }

    /// An outgoing frame was dropped.
    fn count_egress_drop(&mut self) {
        self.dropped_egress += 1;
        metrics::counter!(FRAMES_DROPPED, "leg" => self.playout_label()).increment(1);
    }

    /// A direct bot's frame the leg cannot play as it is (the codec changed under the bot):
    /// the transcoder converts it.
    fn hand_to_transcoder(&mut self, frame: AudioFrame) {
        if !to_transcoder(self.direct.as_ref(), frame) {
            self.count_egress_drop();
        }
    }

    /// Moves what the direct bot has said since the last call into the playout queue.
    fn drain_bot_ring(&mut self) {
        // Out of the leg while its ring is drained into the leg (a clone of the ring's `Arc`
        // instead cost two atomic operations on cold memory per tick, profiled).
        let Some(direct) = self.direct.take() else {
            return;
        };
        let format = direct.from_bot.format();
        direct.from_bot.drain_entries_with(|entry| match entry {
            RingEntry::Frame(bytes) if format == self.format => self.queue_frame(format, bytes),
            RingEntry::Frame(bytes) => {
                if let Ok(frame) = EncodedFrame::from_bytes(format, bytes) {
                    if !to_transcoder(Some(&direct), AudioFrame(frame)) {
                        self.count_egress_drop();
                    }
                }
            }
            RingEntry::Mark(name) => self.apply_mark(name),
        });
        self.direct = Some(direct);
    }

    /// Queues the bot's mark behind the audio queued so far (answered at once when nothing
    /// is), and answers the marks already played.
    fn apply_mark(&mut self, name: String) {
        if let Some(name) = self.queue.mark(name) {
            self.owner.marks.do_send(MarkPlayed(name));
        }
        self.report_played_marks();
    }

    /// Reads what waits on the RTP socket and, when the stream has no rtcp-mux, on the RTCP
    /// socket every [`RTCP_READ_INTERVAL`] (or now, with `all`), handling each datagram at its
    /// arrival time. With `ticks` (the clock's `now` and the ticks run so far), every tick due
    /// by `now` whose deadline came before a datagram's arrival runs before that datagram is
    /// handled: events are replayed in the order they happened, so a packet that arrived just
    /// after its tick's deadline waits for the next tick, as it did when every datagram was
    /// read on arrival, whenever in the arbiter's round this leg is polled.
    fn drain_sockets(
        &mut self,
        all: bool,
        mut ticks: Option<(Instant, &mut u64)>,
    ) -> io::Result<()> {
        let clock = DrainClock::now(self.last_drain);
        self.last_drain = clock.mono();
        let rtcp = all || clock.mono() >= self.last_rtcp_drain + RTCP_READ_INTERVAL;
        for channel in [Channel::Rtp, Channel::Rtcp] {
            if channel == Channel::Rtcp && (self.config.media.rtcp_mux || !rtcp) {
                continue;
            }
            let clock = match channel {
                Channel::Rtcp => {
                    let floor = std::mem::replace(&mut self.last_rtcp_drain, clock.mono());
                    clock.with_floor(floor)
                }
                _ => clock,
            };
            let socket = match channel {
                Channel::Rtcp => self.rtcp.as_ref(),
                _ => self.rtp.as_ref(),
            };
            // By descriptor: handling a datagram (and a tick, which sends) needs `&mut self`.
            // The sockets live as long as the leg, so the descriptor stays theirs.
            let Some(fd) = socket.map(AsRawFd::as_raw_fd) else {
                continue;
            };
            self.receiver
                .drain(fd, &clock, READ_BUDGET, |from, bytes, at| {
                    if let (Channel::Rtp, Some((now, ran))) = (channel, ticks.as_mut()) {
                        self.run_ticks(at.min(*now), *now, ran);
                    }
                    self.on_datagram(channel, from, bytes, at);
                })?;
        }
        Ok(())
    }

    /// Runs the ticks whose deadline came before `until` (at most [`MAX_CATCH_UP`] in all,
    /// counted in `ran`).
    fn run_ticks(&mut self, until: Instant, now: Instant, ran: &mut u64) {
        while self.deadline(self.frame) < until && *ran < MAX_CATCH_UP {
            self.tick(now);
            self.frame += 1;
            *ran += 1;
        }
    }

    /// One datagram from a socket, handled in place; `now` is when it arrived.
    fn on_datagram(&mut self, channel: Channel, from: SocketAddr, bytes: &[u8], now: Instant) {
        let plain;
        let bytes = match self.srtp.as_mut() {
            None => bytes,
            Some(srtp) => match srtp.unprotect(channel == Channel::Rtcp, bytes) {
                Ok(p) => {
                    plain = p;
                    &plain[..]
                }
                Err(e) => {
                    metrics::counter!(SRTP_REJECTED, "direction" => "received").increment(1);
                    tracing::trace!(error = %e, len = bytes.len(), ?channel, "SRTP packet dropped");
                    return;
                }
            },
        };
        if channel == Channel::Rtcp {
            // Malformed RTCP is counted by the session; the valid part was used.
            let _ = self.session.handle_rtcp(now, from, bytes);
            return;
        }
        let received = match self.session.handle_packet(now, from, bytes) {
            Ok(Some(r)) => r,
            // Filtered, duplicate or RTCP (mux); malformed packets are counted by the session.
            Ok(None) | Err(_) => return,
        };
        match received.kind {
            MediaKind::Audio => {
                if self.jitter_ssrc != Some(received.ssrc) {
                    // A replaced stream (the peer restarted, or the latch moved to the
                    // signalled address) numbers its packets afresh.
                    if self.jitter_ssrc.is_some() {
                        self.jitter.restart();
                    }
                    self.jitter_ssrc = Some(received.ssrc);
                }
                self.jitter
                    .push(received.sequence, received.timestamp, received.payload, now);
            }
            MediaKind::TelephoneEvent => {
                self.on_telephone_event(now, received.timestamp, received.payload)
            }
        }
    }

    fn on_telephone_event(&mut self, now: Instant, timestamp: u32, payload: &[u8]) {
        match self.dtmf_rx.on_packet(timestamp, payload) {
            Ok(Some(DtmfEvent::Began(tone))) => {
                self.close_open_digit();
                self.open_digit = Some((tone, now));
            }
            Ok(Some(DtmfEvent::Ended(tone))) => {
                // Reported already when the end was overdue; otherwise now, with its duration.
                if self.open_digit.take().is_some() {
                    self.report_digit(tone);
                }
            }
            Ok(Some(DtmfEvent::Complete(tone))) => {
                self.close_open_digit();
                self.report_digit(tone);
            }
            Ok(None) => {
                if let Some((_, last)) = self.open_digit.as_mut() {
                    *last = now;
                }
            }
            // A short payload: counted nowhere but harmless.
            Err(_) => {}
        }
    }

    fn close_open_digit(&mut self) {
        if let Some((tone, _)) = self.open_digit.take() {
            self.report_digit(tone);
        }
    }

    fn report_digit(&mut self, tone: Tone) {
        // Only DTMF keys (events 0-15) go to the bot; flash and other tones are dropped.
        let Some(digit) = tone.digit.filter(|_| tone.event <= 15) else {
            return;
        };
        let rate = self
            .config
            .media
            .telephone_event
            .as_ref()
            .map_or(8000, |t| t.clock_rate)
            .max(1);
        let duration_ms = u64::from(tone.duration) * 1000 / u64::from(rate);
        self.dtmf_received += 1;
        self.owner.dtmf.do_send(Dtmf {
            digit,
            duration_ms: u32::try_from(duration_ms).unwrap_or(u32::MAX),
        });
    }

    /// Starts the next queued outgoing digit when none is being sent.
    fn start_next_digit(&mut self) {
        if self.session.sender().dtmf_active() {
            return;
        }
        let Some(d) = self.dtmf_out.pop_front() else {
            return;
        };
        let Some(event) = char_to_event(d.digit) else {
            tracing::debug!(digit = ?d.digit, "not a DTMF key; not sent");
            return;
        };
        let ms = if d.duration_ms == 0 {
            DEFAULT_DIGIT_MS
        } else {
            d.duration_ms.min(5000)
        };
        let rate = self
            .config
            .media
            .telephone_event
            .as_ref()
            .map_or(self.config.media.codec.clock_rate, |t| t.clock_rate);
        let units = u64::from(rate) * u64::from(ms) / 1000;
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        if let Err(e) = self.session.send_dtmf(event, units, DTMF_DEFAULT_VOLUME) {
            tracing::debug!(error = %e, "DTMF not sent");
        }
    }

    /// The frame clock fired: read the sockets with the due ticks in between (see
    /// [`RtpLeg::drain_sockets`]), run the ticks still due, then service the session; a socket
    /// failure ends the leg. Returns the next deadline, or `None` once the leg has exited.
    fn on_clock(&mut self) -> Option<Instant> {
        if self.exited {
            return None;
        }
        let now = Instant::now();
        let mut ran = 0;
        if let Err(e) = self.drain_sockets(false, Some((now, &mut ran))) {
            self.finish(ExitCause::Failed(format!("RTP socket: {e}")));
            return None;
        }
        // `until` just past `now`: every tick due by now.
        self.run_ticks(now + Duration::from_nanos(1), now, &mut ran);
        if self.deadline(self.frame) <= now {
            // The arbiter stalled for several frames: drop the missed ticks rather than burst
            // them out (the peer's jitter buffer would discard them anyway).
            let behind = now.saturating_duration_since(self.clock_start).as_nanos()
                / self.period.as_nanos().max(1);
            let skipped = (behind as u64 + 1).saturating_sub(self.frame);
            tracing::debug!(skipped, "RTP leg clock late; ticks skipped");
            self.frame += skipped;
        }
        self.service_session(now);
        (!self.exited).then(|| self.deadline(self.frame))
    }

    /// One frame of media time.
    fn tick(&mut self, now: Instant) {
        // Caller → owner.
        let label = self.label();
        let format = self.format;
        let direct = self.direct.as_ref().filter(|_| !self.bot_detached);
        let mut send = |bytes: &[u8]| {
            send_frame(
                &self.owner.frames,
                direct,
                format,
                bytes,
                &mut self.dropped_ingress,
                label,
            );
        };
        match self.jitter.pop() {
            Playout::Frame { payload, .. }
                if !payload.is_empty()
                    && (payload.len() <= MAX_ENCODED_BYTES || format != AudioFormat::Opus48k) =>
            {
                // A packet longer than a frame holds (a sample codec at a ptime above 80 ms)
                // is cut into frames that fit; the transcoder re-cuts them into 20 ms.
                for chunk in payload.chunks(MAX_ENCODED_BYTES) {
                    send(chunk);
                }
            }
            Playout::Frame { .. } | Playout::Lost { .. } => {
                // Lost, empty, or an Opus packet above 256 kbit/s that no frame carries:
                // conceal it.
                self.concealed += 1;
                send(&[]);
            }
            Playout::Empty => {}
        }
        // Owner → caller.
        if let Some(clock) = self.direct.as_ref().and_then(|d| d.clock.as_ref()) {
            clock.poll_peer();
        }
        self.drain_bot_ring();
        self.start_next_digit();
        let audio = self.queue.pop().filter(|_| self.sending);
        let built = OUT.with_borrow_mut(|out| {
            self.session
                .send_frame(now, audio, self.samples_per_frame, out)
        });
        match built {
            Ok(Some(t)) => self.send(t),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "RTP frame not built"),
        }
        self.report_played_marks();
    }

    /// Tells the owner about every mark whose frames have all been played or cleared.
    fn report_played_marks(&mut self) {
        while let Some(name) = self.queue.pop_played_mark() {
            self.owner.marks.do_send(MarkPlayed(name));
        }
    }

    /// RTCP reports, the inactivity timeout, session events, an overdue digit end.
    fn service_session(&mut self, now: Instant) {
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
        }
        self.drain_transmits();
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Inactive { silent_for } => {
                    tracing::info!(?silent_for, "no RTP from the peer: media timeout");
                    self.finish(ExitCause::Failed("media timeout".into()));
                    return;
                }
                Event::Latched { remote } => tracing::debug!(%remote, "RTP latched"),
                Event::Relatched { from, to } => tracing::debug!(%from, %to, "RTP re-latched"),
                Event::Bye { ssrc } => tracing::debug!(ssrc, "peer sent RTCP BYE"),
                _ => {}
            }
        }
        if self
            .open_digit
            .is_some_and(|(_, last)| now.saturating_duration_since(last) > DIGIT_END_TIMEOUT)
        {
            self.close_open_digit();
        }
    }

    fn update_media(&mut self, media: NegotiatedMedia) {
        let now = Instant::now();
        let old = &self.config.media;
        let new_stream = media.codec != old.codec
            || media.telephone_event != old.telephone_event
            || media.ptime != old.ptime
            || media.rtcp_mux != old.rtcp_mux;
        if new_stream {
            let setup = match stream_setup(&self.config, &media) {
                Ok(s) => s,
                Err(e) => {
                    self.finish(ExitCause::Failed(e));
                    return;
                }
            };
            let current = self.session.stats();
            self.prior = Some(match &self.prior {
                Some(p) => merge(p, &current),
                None => current,
            });
            // The next tick stays where it was; later ones follow the new ptime.
            let next = self.deadline(self.frame);
            self.clock_start = next.checked_sub(setup.period).unwrap_or(next);
            self.frame = 1;
            self.session = new_session(&self.config, &media, now);
            let resized = setup.queue_slot != self.queue.slot_bytes();
            if setup.format != self.format || resized {
                // Queued frames are in the old format or framing: they count as cleared.
                self.queue.clear();
                self.report_played_marks();
            }
            if resized {
                self.queue = PlayoutQueue::new(self.config.queue_frames, setup.queue_slot);
            }
            self.format = setup.format;
            self.samples_per_frame = setup.samples_per_frame;
            self.period = setup.period;
            self.jitter = setup.jitter;
            self.jitter_ssrc = None;
            self.dtmf_rx = DtmfReceiver::new();
            self.close_open_digit();
        } else {
            if media.remote_rtp != old.remote_rtp {
                self.session.set_remote(media.remote_rtp, None);
            }
            if media.direction != old.direction {
                let timeout = inactivity(&self.config, &media);
                self.session.set_inactivity_timeout(now, timeout);
            }
        }
        if media.srtp != self.config.media.srtp {
            // Re-keyed (RFC 4568 §7.1.4), or SRTP switched on or off by the re-offer.
            match srtp_for(&media) {
                Ok(t) => self.srtp = t,
                Err(e) => {
                    self.finish(ExitCause::Failed(e));
                    return;
                }
            }
        }
        self.sending = media.direction.sends();
        self.config.media = media;
    }
}

impl LegCore {
    /// Takes the sockets out of the reactor and places the clock on the shared grid; returns
    /// the first tick's deadline, or `None` when the leg could not start (it has exited).
    fn start(&mut self) -> Option<Instant> {
        if let Some(e) = self.setup_error.take() {
            self.finish(ExitCause::Failed(e));
            return None;
        }
        let pair = self.pair.take()?;
        let (rtp, rtcp) = match (unregistered(pair.rtp), unregistered(pair.rtcp)) {
            (Ok(rtp), Ok(rtcp)) => (rtp, rtcp),
            (Err(e), _) | (_, Err(e)) => {
                self.finish(ExitCause::Failed(format!("RTP socket: {e}")));
                return None;
            }
        };
        if let Ok(local) = rtp.local_addr() {
            self.receiver = BatchReceiver::for_address(&local);
        }
        self.rtp = Some(rtp);
        self.rtcp = Some(rtcp);
        let now = Instant::now();
        self.last_drain = now;
        self.last_rtcp_drain = now;
        self.clock_start = on_shared_grid(now, self.period);
        self.frame = 1;
        Some(self.deadline(self.frame))
    }
}

impl Clocked for LegCore {
    fn on_clock(&mut self) -> Option<Instant> {
        LegCore::on_clock(self)
    }

    fn clock_panicked(&mut self) {
        self.finish(ExitCause::Failed("RTP leg panicked".into()));
    }
}

impl Actor for RtpLeg {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
        let first = self.core.borrow_mut().start();
        if let Some(first) = first {
            let core: Rc<RefCell<dyn Clocked>> = self.core.clone();
            clock_hub::register(Rc::downgrade(&core), first);
            ctx.spawn(ClockLink);
        }
        self.with_core(ctx, |_| {});
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        let mut core = self.core.borrow_mut();
        if !core.exited {
            // Stopped from outside (system shutdown): still tell the owner.
            core.exited = true;
            core.owner.stats.do_send(core.stats());
            core.owner.exited.do_send(LegExited {
                leg: core.config.kind,
                cause: ExitCause::Failed("stopped without StopLeg".into()),
            });
        }
    }
}

/// The latest instant at or before `now` that lies a whole number of `period`s after a
/// process-wide epoch. Legs whose clocks start there tick together: an arbiter wakes once per
/// period for all its legs instead of once per leg (profiled: with 300 calls on scattered
/// phases, thread wake-ups were the largest single cost of relaying a packet). A leg's first
/// tick comes at most one period after it starts, as before.
fn on_shared_grid(now: Instant, period: Duration) -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let since = now.saturating_duration_since(epoch).as_nanos();
    let period = period.as_nanos().max(1);
    // The remainder is below one period (≤ 120 ms), so it fits u64 nanoseconds.
    now - Duration::from_nanos((since % period) as u64)
}

/// Hands one caller frame (`bytes` of `format`, at most [`MAX_ENCODED_BYTES`]; empty: lost)
/// to the owner, or straight to a [`DirectBot`] that takes it (copied into its ring, no frame
/// built), without waiting; a full mailbox or ring drops it and counts it.
fn send_frame(
    owner: &Recipient<AudioFrame>,
    direct: Option<&DirectBot>,
    format: AudioFormat,
    bytes: &[u8],
    dropped: &mut u64,
    label: &'static str,
) {
    if let Some(d) = direct.filter(|d| d.takes(format, bytes)) {
        if let Some(clock) = &d.clock {
            clock.caller_frame(format, bytes);
            return;
        }
        match d.to_bot.push(bytes) {
            Ok(()) | Err(RingError::Closed) => {}
            Err(RingError::Full | RingError::TooLong) => {
                *dropped += 1;
                metrics::counter!(FRAMES_DROPPED, "leg" => label).increment(1);
            }
        }
        return;
    }
    // The caller cut packets to MAX_ENCODED_BYTES, so this cannot fail.
    let Ok(frame) = EncodedFrame::from_bytes(format, bytes) else {
        return;
    };
    match owner.try_send(AudioFrame(frame)) {
        Ok(()) | Err(SendError::Closed(_)) => {}
        Err(SendError::Full(_)) => {
            *dropped += 1;
            metrics::counter!(FRAMES_DROPPED, "leg" => label).increment(1);
        }
    }
}

/// Hands a direct bot's frame to the transcoder to convert; `false` when it is dropped (no
/// direct bot, or the transcoder's mailbox is full): the caller counts it.
fn to_transcoder(direct: Option<&DirectBot>, frame: AudioFrame) -> bool {
    direct.is_some_and(|d| {
        // A closed transcoder means the call is tearing down: nothing to count.
        !matches!(
            d.via_transcoder.try_send(Downstream(frame)),
            Err(SendError::Full(_))
        )
    })
}

/// Spawned on the leg's actor: ready once the leg has exited, which stops the actor (the
/// [`clock_hub`] runs the clock and wakes this when the leg exits there). Until then it keeps
/// the actor alive as the clock did, addresses or not.
struct ClockLink;

impl ActorFuture<RtpLeg> for ClockLink {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        leg: &mut RtpLeg,
        ctx: &mut Context<RtpLeg>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let mut core = leg.core.borrow_mut();
        if core.exited {
            ctx.stop();
            return Poll::Ready(());
        }
        if !core
            .link
            .as_ref()
            .is_some_and(|w| w.will_wake(task.waker()))
        {
            core.link = Some(task.waker().clone());
        }
        Poll::Pending
    }
}

impl Handler<AudioFrame> for RtpLeg {
    type Result = ();

    fn handle(&mut self, AudioFrame(frame): AudioFrame, ctx: &mut Context<Self>) {
        self.with_core(ctx, |core| {
            if !core.exited {
                core.queue_frame(frame.format(), frame.bytes());
            }
        });
    }
}

/// Bot audio sent here directly by a [`DirectBot`]: played when it is in the leg's format,
/// else handed to the transcoder to convert (the caller's codec changed under the bot).
impl Handler<Downstream> for RtpLeg {
    type Result = ();

    fn handle(&mut self, Downstream(frame): Downstream, ctx: &mut Context<Self>) {
        self.with_core(ctx, |core| {
            if frame.0.format() != core.format {
                core.hand_to_transcoder(frame);
            } else if !core.exited {
                core.queue_frame(frame.0.format(), frame.0.bytes());
            }
        });
    }
}

impl Handler<DetachBot> for RtpLeg {
    type Result = ();

    fn handle(&mut self, _: DetachBot, ctx: &mut Context<Self>) {
        self.with_core(ctx, |core| {
            core.bot_detached = true;
            if let Some(d) = &core.direct {
                d.to_bot.close();
            }
        });
    }
}

impl Handler<Mark> for RtpLeg {
    type Result = ();

    fn handle(&mut self, Mark(name): Mark, ctx: &mut Context<Self>) {
        self.with_core(ctx, |core| {
            // The bot's frames sent before this mark are queued before it.
            core.drain_bot_ring();
            core.apply_mark(name);
        });
    }
}

impl Handler<Clear> for RtpLeg {
    type Result = ();

    fn handle(&mut self, _: Clear, ctx: &mut Context<Self>) {
        self.with_core(ctx, |core| {
            if let Some(d) = &core.direct {
                // Sent by the bot before the Clear: cleared with the rest, marks answered.
                for name in d.from_bot.clear().1 {
                    core.owner.marks.do_send(MarkPlayed(name));
                }
            }
            core.queue.clear();
            // What plays next is a new talkspurt even if it is queued before the next tick.
            core.session.start_talkspurt();
            core.report_played_marks();
        });
    }
}

impl Handler<Dtmf> for RtpLeg {
    type Result = ();

    fn handle(&mut self, digit: Dtmf, ctx: &mut Context<Self>) {
        self.with_core(ctx, |core| {
            if core.dtmf_out.len() >= DTMF_QUEUE {
                tracing::debug!(digit = ?digit.digit, "DTMF queue full; digit dropped");
                return;
            }
            core.dtmf_out.push_back(digit);
            core.start_next_digit();
        });
    }
}

impl Handler<UpdateMedia> for RtpLeg {
    type Result = ();

    fn handle(&mut self, UpdateMedia(media): UpdateMedia, ctx: &mut Context<Self>) {
        self.with_core(ctx, |core| {
            if !core.exited {
                core.update_media(media);
            }
        });
    }
}

impl Handler<StopLeg> for RtpLeg {
    type Result = ();

    fn handle(&mut self, _: StopLeg, ctx: &mut Context<Self>) {
        self.with_core(ctx, |core| {
            core.finish(ExitCause::Normal("stopped".into()));
        });
    }
}
