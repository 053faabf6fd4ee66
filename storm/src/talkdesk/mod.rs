//! `voxgate storm --mode talkdesk`: each call is a Talkdesk voice stream, a WebSocket to the
//! node's `/audiosocket/talkdesk/` endpoint, played as Talkdesk plays it: `connected`,
//! `start`, a µ-law `media` event every 20 ms (signed frames, as in the SIP mode), `dtmf` `0`
//! for the escalating share, and Talkdesk's own `stop` for the others.
//!
//! What is checked: the upgrade is admitted (HTTP 101, the token signed with the bot's secret
//! as Talkdesk signs it); the stream's own frames come back as `media` (content, not counts);
//! an escalating stream gets exactly the node's final `stop` with `command: escalate` (and the
//! expected `ringGroup`) and is closed; any other stream is closed by the node after our
//! `stop`, with nothing sent back.
//!
//! The cost model is the SIP mode's ([`crate::driver`]): one thread, one timer wheel, one
//! reused buffer for every event sent ([`events::EventWriter`]), one decode buffer for what
//! comes back. The sockets are registered edge-triggered, but the loop sleeps to the next
//! 2 ms tick before it asks which are readable, so one wake-up serves every stream that
//! received something in between (RTT and setup times are measured to that 2 ms grid).

pub mod events;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tungstenite::client::IntoClientRequest as _;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::call::{media_verdict, Failure};
use crate::driver::{drive, Load, Serial, Slots, HANDBACK_WAIT, HANGUP_TIMEOUT};
use crate::frames::{Received, SignedFrames};
use crate::generator::{Codec, Options};
use crate::report::{Report, Stats};
use crate::signature::{FrameTemplate, Law, FRAME_SAMPLES};
use crate::StormError;
use events::{EventWriter, NodeEvent, Numbering};

/// The digit the builtin bot escalates on.
const ESCALATE_DIGIT: char = '0';
/// The node's Talkdesk endpoint (ARCHITECTURE §3).
const PATH: &str = "/audiosocket/talkdesk/";
/// Events taken from the poller at once.
const EVENTS: usize = 1024;
/// Largest `media` payload decoded (the node sends 20 ms, 160 bytes; this allows batches).
const DECODE_BUFFER: usize = 16 * 1024;
/// Token lifetime: long enough for any bounded storm.
const TOKEN_TTL_SECS: u64 = 24 * 3600;

/// Where and as whom the streams connect.
#[derive(Debug, Clone)]
pub struct TalkdeskOptions {
    /// `botId` of the stream URL.
    pub bot: String,
    /// The bot's Talkdesk client id (the token's `appId`).
    pub client_id: String,
    /// The bot's client secret (signs the token, HS256).
    pub client_secret: String,
    /// `accountId` of the stream URL and `accountSid` of `start`.
    pub account_id: String,
    /// The `ringGroup` an escalating stream expects on the node's `stop` (empty: any).
    pub ring_group: String,
}

/// A stream's socket: connecting, open, or given up.
enum Conn {
    Handshaking(MidHandshake<ClientHandshake<TcpStream>>),
    Open(WebSocket<TcpStream>),
    Gone,
}

/// Where a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// TCP connect and WebSocket upgrade in progress.
    Connecting,
    /// Admitted: media flows until the hold time is over.
    Up,
    /// Escalating: `dtmf` sent, media goes on, the node's `stop` is awaited.
    AwaitingStop,
    /// Our `stop` was sent; the node's close is awaited.
    Stopping,
}

/// One stream of the storm.
struct Stream {
    serial: u64,
    escalate: bool,
    phase: Phase,
    conn: Conn,
    sid: String,
    started_at: Instant,
    answered_at: Option<Instant>,
    deadline: Instant,
    hold_until: Instant,
    sequence: u64,
    chunk: u64,
    frames: SignedFrames,
    /// `media` events sent.
    sent: u64,
    /// `media` frames received.
    received: u64,
    /// The node's final `stop`: whether it was the expected one.
    node_stop: Option<bool>,
    bad_events: u64,
}

impl Stream {
    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// The verdict when the node closed the stream (or dropped it).
    fn verdict_on_close(&self) -> Result<(), Failure> {
        let signalling = match (self.phase, self.node_stop) {
            (_, _) if self.bad_events > 0 => Err(Failure::BadEvent),
            (Phase::Stopping, None) => Ok(()),
            (Phase::AwaitingStop, Some(true)) => Ok(()),
            (Phase::AwaitingStop, Some(false)) => Err(Failure::WrongStop),
            (Phase::AwaitingStop, None) => Err(Failure::NoStop),
            (_, Some(_)) => Err(Failure::UnexpectedStop),
            (_, None) => Err(Failure::ClosedEarly),
        };
        signalling.and_then(|()| media_verdict(Some(&self.frames)))
    }
}

/// The running Talkdesk storm.
struct Storm {
    opts: Options,
    td: TalkdeskOptions,
    url: String,
    template: FrameTemplate,
    poll: Poll,
    events: Events,
    ready: Vec<u32>,
    writer: EventWriter,
    decoded: Vec<u8>,
    frame: [u8; FRAME_SAMPLES],
    ws_config: WebSocketConfig,
    run_id: u32,
    calls: Slots<Stream>,
    stats: Stats,
}

/// Runs a Talkdesk storm against the node's HTTP address `opts.target`.
pub(crate) fn run(opts: Options, td: TalkdeskOptions) -> Result<Report, StormError> {
    if opts.codec != Codec::G711(Law::Ulaw) {
        return Err(StormError::Options(
            "Talkdesk streams are µ-law: use --codec PCMU",
        ));
    }
    if !opts.echo_target.is_empty() {
        return Err(StormError::Options(
            "--echo-target mirrors RTP: SIP mode only",
        ));
    }
    let now = voxgate_engine::auth::jwt::unix_now();
    let token =
        voxgate_engine::auth::jwt::sign(&td.client_secret, &td.client_id, now, TOKEN_TTL_SECS)
            .map_err(|_| {
                StormError::Options("cannot sign a token with this client id and secret")
            })?;
    let url = format!(
        "ws://{}{PATH}?sipuri={}&token={token}&botId={}&accountId={}&agentassist=false",
        opts.target,
        query_escape(&opts.did),
        query_escape(&td.bot),
        query_escape(&td.account_id),
    );
    let ws_config = WebSocketConfig::default()
        // A stream receives 20 ms frames of ~300 bytes: a small read buffer per stream keeps
        // the storm's memory at thousands of streams (the default is 128 KiB).
        .read_buffer_size(4096)
        // Write each event through at once (the wheel paces them).
        .write_buffer_size(0)
        // A node that stops reading fails the stream instead of growing the buffer.
        .max_write_buffer_size(64 * 1024);
    let mut storm = Storm {
        template: FrameTemplate::new(Law::Ulaw),
        url,
        td,
        poll: Poll::new()?,
        events: Events::with_capacity(EVENTS),
        ready: Vec::with_capacity(EVENTS),
        writer: EventWriter::default(),
        decoded: vec![0; DECODE_BUFFER],
        frame: [0; FRAME_SAMPLES],
        ws_config,
        run_id: std::process::id(),
        calls: Slots::new(),
        stats: Stats::default(),
        opts,
    };
    let opts = storm.opts.clone();
    let mut report = drive(&mut storm, &opts)?;
    report.mode = "talkdesk";
    report.transport = "websocket";
    Ok(report)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a WebSocket error only means "not now" on a non-blocking socket.
fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == ErrorKind::WouldBlock)
}

impl Load for Storm {
    type Call = Stream;

    fn wait(&mut self, until: Instant) -> Result<(), StormError> {
        // Sleep to the tick, then take every readiness at once (see the module docs).
        let left = until.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            std::thread::sleep(left);
        }
        loop {
            self.poll.poll(&mut self.events, Some(Duration::ZERO))?;
            // Tokens are call slots; collected first, since handling needs `&mut self`.
            let mut ready = std::mem::take(&mut self.ready);
            ready.clear();
            // Slots fit in u32: they are bounded by the concurrency.
            ready.extend(self.events.iter().map(|e| e.token().0 as u32));
            let now = Instant::now();
            for &slot in &ready {
                self.on_ready(slot, now);
            }
            let more = ready.len() == EVENTS;
            self.ready = ready;
            if !more {
                return Ok(());
            }
        }
    }

    fn start_call(&mut self, now: Instant) -> Result<(u32, u64), StormError> {
        self.open_stream(now)
    }

    fn visit(&mut self, slot: u32, now: Instant) -> Result<(), StormError> {
        self.visit_stream(slot, now)
    }

    fn slots(&self) -> &Slots<Stream> {
        &self.calls
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn abandon(&mut self, slot: u32, now: Instant) {
        self.finish(slot, Err(Failure::Unfinished), now);
    }
}

impl Serial for Stream {
    fn serial(&self) -> u64 {
        self.serial
    }
}

impl Storm {
    fn open_stream(&mut self, now: Instant) -> Result<(u32, u64), StormError> {
        let n = self.stats.attempted;
        self.stats.attempted += 1;
        let (slot, serial) = self.calls.reserve();
        let stream = Stream {
            serial,
            escalate: self.opts.escalates(n),
            phase: Phase::Connecting,
            conn: Conn::Gone,
            sid: format!("MZ{}-{serial}", self.run_id),
            started_at: now,
            answered_at: None,
            deadline: now + self.opts.setup_timeout,
            hold_until: now,
            sequence: 1,
            chunk: 0,
            frames: SignedFrames::new((serial & 0xFFFF) as u16),
            sent: 0,
            received: 0,
            node_stop: None,
            bad_events: 0,
        };
        self.calls.put(slot, stream, &mut self.stats);
        let connected = TcpStream::connect(self.opts.target).and_then(|mut tcp| {
            tcp.set_nodelay(true)?;
            self.poll.registry().register(
                &mut tcp,
                Token(slot as usize),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(tcp)
        });
        match connected {
            Ok(tcp) => {
                let request = self.url.as_str().into_client_request();
                match request {
                    Ok(request) => {
                        let result = tungstenite::client::client_with_config(
                            request,
                            tcp,
                            Some(self.ws_config),
                        );
                        self.on_handshake(slot, result, now);
                    }
                    Err(_) => return Err(StormError::Options("not a valid stream URL")),
                }
            }
            Err(_) => self.finish(slot, Err(Failure::ConnectFailed), now),
        }
        Ok((slot, serial))
    }

    fn on_handshake(
        &mut self,
        slot: u32,
        result: Result<
            (
                WebSocket<TcpStream>,
                tungstenite::handshake::client::Response,
            ),
            HandshakeError<ClientHandshake<TcpStream>>,
        >,
        now: Instant,
    ) {
        let Some(stream) = self.calls.calls[slot as usize].as_mut() else {
            return;
        };
        match result {
            Ok((ws, _)) => {
                stream.conn = Conn::Open(ws);
                stream.phase = Phase::Up;
                stream.answered_at = Some(now);
                stream.hold_until = now + self.opts.hold;
                self.stats
                    .setup(now.saturating_duration_since(stream.started_at));
                let connected = self.writer.connected();
                let start = self.writer.start(&stream.sid, &self.td.account_id);
                if send(stream, connected)
                    .and_then(|()| send(stream, start))
                    .is_err()
                {
                    self.finish(slot, Err(Failure::ClosedEarly), now);
                }
            }
            Err(HandshakeError::Interrupted(mid)) => stream.conn = Conn::Handshaking(mid),
            Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                let status = response.status().as_u16();
                self.finish(slot, Err(Failure::Status(status)), now);
            }
            Err(HandshakeError::Failure(_)) => self.finish(slot, Err(Failure::ConnectFailed), now),
        }
    }

    /// The socket of `slot` is readable or writable.
    fn on_ready(&mut self, slot: u32, now: Instant) {
        let Some(stream) = self
            .calls
            .calls
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
        else {
            return;
        };
        match std::mem::replace(&mut stream.conn, Conn::Gone) {
            Conn::Handshaking(mid) => {
                let result = mid.handshake();
                self.on_handshake(slot, result, now);
            }
            Conn::Open(ws) => {
                stream.conn = Conn::Open(ws);
                self.read_stream(slot, now);
            }
            Conn::Gone => {}
        }
    }

    /// Reads everything the node sent on `slot` and flushes what is pending.
    fn read_stream(&mut self, slot: u32, now: Instant) {
        loop {
            let Some(stream) = self.calls.calls[slot as usize].as_mut() else {
                return;
            };
            let Conn::Open(ws) = &mut stream.conn else {
                return;
            };
            match ws.read() {
                Ok(Message::Text(text)) => self.on_text(slot, text.as_str(), now),
                Ok(Message::Close(_)) => {
                    // The close reply goes out with this flush, if the socket still takes it.
                    let _ = ws.flush();
                    let verdict = stream.verdict_on_close();
                    self.finish(slot, verdict, now);
                    return;
                }
                Ok(Message::Binary(_)) => stream.bad_events += 1,
                // Pings are answered by the library on the next flush.
                Ok(_) => {}
                Err(e) if would_block(&e) => {
                    // Pending writes (a pong, a frame the socket did not take) go out now.
                    match ws.flush() {
                        Ok(()) => return,
                        Err(e) if would_block(&e) => return,
                        Err(_) => {}
                    }
                    let verdict = stream.verdict_on_close();
                    self.finish(slot, verdict, now);
                    return;
                }
                Err(_) => {
                    let verdict = stream.verdict_on_close();
                    self.finish(slot, verdict, now);
                    return;
                }
            }
        }
    }

    fn on_text(&mut self, slot: u32, text: &str, now: Instant) {
        let Some(stream) = self.calls.calls[slot as usize].as_mut() else {
            return;
        };
        let Some(event) = NodeEvent::parse(text) else {
            stream.bad_events += 1;
            return;
        };
        match event.event.as_ref() {
            "media" => {
                let decoded = event.media.and_then(|m| {
                    base64::engine::general_purpose::STANDARD
                        .decode_slice(m.payload.as_bytes(), &mut self.decoded)
                        .ok()
                });
                let Some(len) = decoded else {
                    stream.bad_events += 1;
                    return;
                };
                for frame in self.decoded[..len].chunks(FRAME_SAMPLES) {
                    stream.received += 1;
                    if let Received::Echo { rtt: Some(rtt) } =
                        stream.frames.check(&self.template, frame, now)
                    {
                        self.stats.rtt(rtt);
                    }
                }
            }
            "stop" => {
                let expected = event.stop.is_some_and(|s| {
                    s.command.as_deref() == Some("escalate")
                        && (self.td.ring_group.is_empty()
                            || s.ring_group.as_deref() == Some(self.td.ring_group.as_str()))
                });
                // A second stop is as wrong as a wrong one.
                stream.node_stop = Some(expected && stream.node_stop.is_none());
            }
            "mark" | "clear" => {}
            _ => stream.bad_events += 1,
        }
    }

    /// The stream's 20 ms visit: its next `media` event and its timers.
    fn visit_stream(&mut self, slot: u32, now: Instant) -> Result<(), StormError> {
        let Some(stream) = self.calls.calls[slot as usize].as_mut() else {
            return Ok(());
        };
        let failure = match stream.phase {
            Phase::Connecting if now >= stream.deadline => Some(Failure::SetupTimeout),
            Phase::Connecting => None,
            Phase::AwaitingStop if now >= stream.deadline => Some(if stream.node_stop.is_some() {
                Failure::ClosedEarly
            } else {
                Failure::NoStop
            }),
            Phase::Stopping if now >= stream.deadline => Some(Failure::CloseTimeout),
            Phase::Stopping => None,
            Phase::Up if now >= stream.hold_until => {
                let sequence = stream.next_sequence();
                if stream.escalate {
                    let dtmf = self.writer.dtmf(&stream.sid, sequence, ESCALATE_DIGIT);
                    stream.phase = Phase::AwaitingStop;
                    stream.deadline = now + HANDBACK_WAIT;
                    send(stream, dtmf).err()
                } else {
                    let stop = self.writer.stop(&stream.sid, sequence, &self.td.account_id);
                    stream.phase = Phase::Stopping;
                    stream.deadline = now + HANGUP_TIMEOUT;
                    send(stream, stop).err()
                }
            }
            Phase::Up | Phase::AwaitingStop => None,
        };
        if let Some(failure) = failure {
            self.finish(slot, Err(failure), now);
            return Ok(());
        }
        if matches!(stream.phase, Phase::Up | Phase::AwaitingStop) {
            stream.chunk += 1;
            let n = Numbering {
                sequence: stream.next_sequence(),
                chunk: stream.chunk,
            };
            stream.frames.next(&self.template, now, &mut self.frame);
            let media = self.writer.media(&stream.sid, n, &self.frame);
            stream.sent += 1;
            self.stats.frames_sent_now += 1;
            if send(stream, media).is_err() {
                let verdict = stream.verdict_on_close().and(Err(Failure::ClosedEarly));
                self.finish(slot, verdict, now);
            }
        }
        Ok(())
    }

    /// Ends a stream: counts it and frees its slot (dropping the socket closes it).
    fn finish(&mut self, slot: u32, verdict: Result<(), Failure>, now: Instant) {
        let Some(mut stream) = self.calls.take(slot) else {
            return;
        };
        if let Conn::Open(ws) = &mut stream.conn {
            let _ = self.poll.registry().deregister(ws.get_mut());
        }
        if let Some(answered) = stream.answered_at {
            self.stats.call_seconds += now.saturating_duration_since(answered).as_secs_f64();
            self.stats
                .add_frames(stream.sent, stream.received, &stream.frames);
        }
        self.stats.count(verdict, stream.escalate);
    }
}

/// Sends one event; a full socket keeps it buffered (flushed when writable), anything else
/// means the stream is gone.
fn send(stream: &mut Stream, message: Message) -> Result<(), Failure> {
    let Conn::Open(ws) = &mut stream.conn else {
        return Err(Failure::ClosedEarly);
    };
    match ws.send(message) {
        Ok(()) => Ok(()),
        Err(e) if would_block(&e) => Ok(()),
        Err(_) => Err(Failure::ClosedEarly),
    }
}
