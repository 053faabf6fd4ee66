//! The WebSocket bot leg's own client connection (RFC 6455 over plain TCP, `ws://`), built for
//! a stream that carries a frame of audio each way every 20 ms.
//!
//! A generic client (awc's) costs per message: a sink item and its future, a lock shared by
//! the split halves, a codec pass into a fresh buffer, a stream item through the actor's
//! stream handler. Here a frame toward the bot is encoded into one reused buffer and written
//! with one non-blocking `write` at once; what the socket does not take waits in that buffer
//! for the connection's one I/O task ([`WireIo`]), which also reads: it fills one reused read
//! buffer and hands each complete frame's payload to the bot in place. Nothing is allocated per
//! frame either way (a fragmented message is assembled in a reused buffer too).
//!
//! What it does, as RFC 6455 asks of a client: the opening handshake checks the status (101),
//! `Upgrade`, `Connection` and `Sec-WebSocket-Accept`; every frame sent is masked with a fresh
//! key; server frames that are masked, use reserved bits or opcodes, or are control frames
//! fragmented or longer than 125 bytes end the connection (close code 1002), as does a message
//! longer than the leg accepts (1009). Pings are answered by the leg (it sees them as
//! [`WireEvent::Ping`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use actix::fut::ActorFuture;
use actix::{Actor, Context};
use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::io::Read as _;

use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

/// Opcodes (RFC 6455 §5.2).
pub(crate) const CONTINUATION: u8 = 0x0;
pub(crate) const TEXT: u8 = 0x1;
pub(crate) const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;
pub(crate) const PING: u8 = 0x9;
pub(crate) const PONG: u8 = 0xA;

/// Close codes (RFC 6455 §7.4.1).
pub(crate) const NORMAL_CLOSURE: u16 = 1000;
const PROTOCOL_ERROR: u16 = 1002;
const TOO_BIG: u16 = 1009;

/// Most bytes of the handshake's answer read before giving up on it.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// Bytes waiting for a bot that does not read beyond which the connection fails (about 25 s
/// of L16/16k audio).
const MAX_UNSENT: usize = 1 << 20;
/// Reads per wake before the I/O task yields to the other tasks of the arbiter.
const READS_PER_POLL: usize = 16;
/// The read buffer's starting size: a few frames of any format.
const READ_CHUNK: usize = 4 * 1024;

/// The GUID of RFC 6455 §1.3.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for the request's `key`.
pub(crate) fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Where a `ws://` URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Host name or address (IPv6 without brackets), for the connection.
    host: String,
    port: u16,
    /// `host[:port]` as written, for the `Host` header.
    authority: String,
    /// Path and query, at least `/`.
    path: String,
}

impl Target {
    /// Parses a `ws://host[:port][/path][?query]` URL.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let uri: awc::http::Uri = url
            .trim()
            .parse()
            .map_err(|e| format!("bad bot URL {url:?}: {e}"))?;
        if uri.scheme_str() != Some("ws") {
            return Err(format!("bot URL {url:?} is not ws://"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("bot URL {url:?} has no host"))?;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(format!("bot URL {url:?} has no host"));
        }
        Ok(Target {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(80),
            authority: authority.as_str().to_owned(),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        })
    }
}

/// An open connection after a successful handshake: the socket and what the bot sent after
/// its answer (the start of its first frames).
pub(crate) struct Opened {
    pub(crate) stream: Arc<TcpStream>,
    pub(crate) early: Vec<u8>,
}

/// Connects to `target` and performs the opening handshake (RFC 6455 §4.1).
pub(crate) async fn connect(target: &Target) -> Result<Opened, String> {
    let mut stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // Frames are written whole, one per 20 ms: nothing to gain from Nagle but delay.
    let _ = stream.set_nodelay(true);
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        target.path, target.authority
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let mut head = Vec::with_capacity(1024);
    let end = loop {
        if let Some(at) = find_head_end(&head) {
            break at;
        }
        if head.len() >= MAX_RESPONSE_HEAD {
            return Err("handshake: the answer's head is too long".into());
        }
        let mut chunk = [0u8; 1024];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        if n == 0 {
            return Err("handshake: the bot closed the connection".into());
        }
        head.extend_from_slice(&chunk[..n]);
    };
    check_answer(&head[..end], &key)?;
    Ok(Opened {
        stream: Arc::new(stream),
        early: head.split_off(end),
    })
}

/// The length of the head (through the blank line) at the start of `bytes`, once complete.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// Checks the bot's answer to the upgrade request sent with `key`.
fn check_answer(head: &[u8], key: &str) -> Result<(), String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("handshake: incomplete answer".into()),
        Err(e) => return Err(format!("handshake: bad answer: {e}")),
    }
    if response.code != Some(101) {
        return Err(format!(
            "handshake: the bot answered {} {}",
            response.code.unwrap_or(0),
            response.reason.unwrap_or("")
        ));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    if !header("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err("handshake: no `Upgrade: websocket` in the answer".into());
    }
    let upgrade_token = |v: &str| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    };
    if !header("Connection").is_some_and(upgrade_token) {
        return Err("handshake: no `Connection: Upgrade` in the answer".into());
    }
    if header("Sec-WebSocket-Accept") != Some(accept_key(key).as_str()) {
        return Err("handshake: wrong Sec-WebSocket-Accept".into());
    }
    Ok(())
}

/// Appends one unfragmented frame of `opcode` with `payload`, masked with `mask`, to `out`.
pub(crate) fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        // len < 126 fits the 7-bit field.
        out.push(0x80 | len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// XORs `bytes` with the repeating `mask` (RFC 6455 §5.3), four bytes at a time.
fn apply_mask(bytes: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = bytes.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let mut w = [0u8; 4];
        w.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u32::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (b, m) in chunks.into_remainder().iter_mut().zip(mask) {
        *b ^= m;
    }
}

/// A frame header from the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: u8,
    /// Bytes before the payload.
    head: usize,
    payload: usize,
}

/// Why the connection is being given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    /// The close code to send the bot, if any is still worth sending.
    pub(crate) code: Option<u16>,
    pub(crate) why: String,
}

impl WireError {
    fn protocol(why: impl Into<String>) -> WireError {
        WireError {
            code: Some(PROTOCOL_ERROR),
            why: why.into(),
        }
    }

    pub(crate) fn io(what: &str, e: &io::Error) -> WireError {
        WireError {
            code: None,
            why: format!("{what}: {e}"),
        }
    }
}

/// The header at the start of `bytes`, once all of it is there; frames longer than
/// `max_payload` are refused.
fn parse_header(bytes: &[u8], max_payload: usize) -> Result<Option<Header>, WireError> {
    let [b0, b1, ..] = *bytes else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(WireError::protocol(
            "reserved bits set (no extension agreed)",
        ));
    }
    if b1 & 0x80 != 0 {
        return Err(WireError::protocol("a masked frame from the server"));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    let (head, len) = match b1 & 0x7F {
        126 => match bytes.get(2..4) {
            Some(b) => (4, u64::from(u16::from_be_bytes([b[0], b[1]]))),
            None => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(b) => {
                let mut n = [0u8; 8];
                n.copy_from_slice(b);
                (10, u64::from_be_bytes(n))
            }
            None => return Ok(None),
        },
        n => (2, u64::from(n)),
    };
    match opcode {
        CONTINUATION | TEXT | BINARY => {}
        CLOSE | PING | PONG if !fin || len > 125 => {
            return Err(WireError::protocol(
                "a control frame fragmented or over 125 bytes",
            ))
        }
        CLOSE | PING | PONG => {}
        other => return Err(WireError::protocol(format!("reserved opcode {other:#x}"))),
    }
    let payload = usize::try_from(len)
        .ok()
        .filter(|&n| n <= max_payload)
        .ok_or_else(|| WireError {
            code: Some(TOO_BIG),
            why: format!("a frame of {len} bytes (at most {max_payload} taken)"),
        })?;
    Ok(Some(Header {
        fin,
        opcode,
        head,
        payload,
    }))
}

/// A whole message or control frame from the bot, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WireEvent<'a> {
    /// A text message (not checked as UTF-8 here: the leg decides what a bad one costs).
    Text(&'a [u8]),
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong,
    /// The bot's close frame, with its status code if it gave one.
    Close(Option<u16>),
}

/// The read side: frames cut from a reused buffer, fragments assembled in another.
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Vec<u8>,
    /// Bytes of `buf` read and not yet handed over start at `start` and end at `end`.
    start: usize,
    end: usize,
    /// The opcode of a fragmented message being assembled in `message`.
    fragmented: Option<u8>,
    message: Vec<u8>,
    max_message: usize,
}

impl Reader {
    /// A reader of messages up to `max_message` bytes, starting with `early` (bytes that came
    /// with the handshake's answer).
    pub(crate) fn new(early: Vec<u8>, max_message: usize) -> Reader {
        let end = early.len();
        let mut buf = early;
        buf.resize(end.max(READ_CHUNK), 0);
        Reader {
            buf,
            start: 0,
            end,
            fragmented: None,
            message: Vec::new(),
            max_message,
        }
    }

    /// The free space to read into, made room for first (unread bytes moved to the front, the
    /// buffer grown for a frame longer than it).
    fn space(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // A frame longer than the buffer: parse_header bounds it, so this is bounded.
            let grown = (self.buf.len() * 2)
                .min(self.max_message + 14)
                .max(self.end + 1);
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Hands every complete message or control frame read so far to `on`, in order, while
    /// it returns true (false: the connection is going away, stop reading).
    pub(crate) fn deliver(
        &mut self,
        mut on: impl FnMut(WireEvent<'_>) -> bool,
    ) -> Result<bool, WireError> {
        loop {
            let bytes = &self.buf[self.start..self.end];
            let Some(h) = parse_header(bytes, self.max_message)? else {
                return Ok(true);
            };
            if bytes.len() < h.head + h.payload {
                return Ok(true);
            }
            let from = self.start + h.head;
            let to = from + h.payload;
            self.start = to;
            let payload = &self.buf[from..to];
            let event = match (h.opcode, h.fin, self.fragmented) {
                (PING, _, _) => WireEvent::Ping(payload),
                (PONG, _, _) => WireEvent::Pong,
                (CLOSE, _, _) => {
                    WireEvent::Close(payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])))
                }
                (TEXT | BINARY, true, None) => data_event(h.opcode, payload),
                (TEXT | BINARY, false, None) => {
                    self.fragmented = Some(h.opcode);
                    self.message.clear();
                    self.message.extend_from_slice(payload);
                    continue;
                }
                (CONTINUATION, fin, Some(opcode)) => {
                    if self.message.len() + payload.len() > self.max_message {
                        return Err(WireError {
                            code: Some(TOO_BIG),
                            why: format!("a message over {} bytes", self.max_message),
                        });
                    }
                    self.message.extend_from_slice(payload);
                    if !fin {
                        continue;
                    }
                    self.fragmented = None;
                    if !on(data_event(opcode, &self.message)) {
                        return Ok(false);
                    }
                    continue;
                }
                (CONTINUATION, _, None) => {
                    return Err(WireError::protocol("a continuation frame with no message"))
                }
                _ => return Err(WireError::protocol("a new message inside a fragmented one")),
            };
            if !on(event) {
                return Ok(false);
            }
        }
    }
}

/// The next frame in a [`Reader`], looked at without taking it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Peek<'a> {
    /// A whole, unfragmented text or binary message, `size` bytes with its header.
    Data {
        opcode: u8,
        payload: &'a [u8],
        size: usize,
    },
    /// Not all of the next frame has been read.
    Incomplete,
    /// Anything else (a control frame, a fragment, a protocol error): for [`Reader::deliver`].
    Other,
}

impl Reader {
    /// The next frame, left in place: the fast path of a reader driven by a clock takes the
    /// whole data frames it handles ([`Reader::consume`]) and leaves the rest, in order, to
    /// [`Reader::deliver`].
    pub(crate) fn peek(&self) -> Peek<'_> {
        if self.fragmented.is_some() {
            return Peek::Other;
        }
        let bytes = &self.buf[self.start..self.end];
        match parse_header(bytes, self.max_message) {
            Ok(None) => Peek::Incomplete,
            Ok(Some(h)) if bytes.len() < h.head + h.payload => Peek::Incomplete,
            Ok(Some(h)) if h.fin && matches!(h.opcode, TEXT | BINARY) => Peek::Data {
                opcode: h.opcode,
                payload: &bytes[h.head..h.head + h.payload],
                size: h.head + h.payload,
            },
            _ => Peek::Other,
        }
    }

    /// Takes the `size` bytes of the frame [`Reader::peek`] showed.
    pub(crate) fn consume(&mut self, size: usize) {
        self.start = (self.start + size).min(self.end);
    }

    /// Whether no unread byte waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

fn data_event(opcode: u8, payload: &[u8]) -> WireEvent<'_> {
    if opcode == TEXT {
        WireEvent::Text(payload)
    } else {
        WireEvent::Binary(payload)
    }
}

/// The connection's socket: registered with the arbiter's reactor (its I/O task waits for
/// readiness), or plain (non-blocking, unregistered: the RTP leg's clock reads and writes it,
/// so the bot's packets wake no thread; see `websocket.rs`, "tick mode").
#[derive(Debug)]
enum Socket {
    Reactor(Arc<TcpStream>),
    Plain(std::net::TcpStream),
    /// Between the two, or after a failed registration.
    Gone,
}

/// The write side: frames encoded into one reused buffer and written at once; what the socket
/// did not take waits there for the I/O task (or the next tick).
#[derive(Debug)]
pub(crate) struct Writer {
    socket: Socket,
    out: Vec<u8>,
    /// The I/O task, woken when bytes are left waiting or the connection failed.
    io: Option<Waker>,
    /// Why a write failed, for the I/O task to end the connection with.
    failed: Option<WireError>,
}

impl Writer {
    /// A writer on a socket of the reactor's.
    pub(crate) fn new(stream: Arc<TcpStream>) -> Writer {
        Writer::on(Socket::Reactor(stream))
    }

    /// A writer on a plain socket, taken off the reactor: `stream`'s only handle must be
    /// given (else the reactor keeps it and goes on waking the thread for it).
    pub(crate) fn plain(stream: Arc<TcpStream>) -> Result<Writer, Arc<TcpStream>> {
        let stream = Arc::try_unwrap(stream)?;
        Ok(Writer::on(match stream.into_std() {
            Ok(s) => Socket::Plain(s),
            Err(_) => Socket::Gone,
        }))
    }

    fn on(socket: Socket) -> Writer {
        Writer {
            socket,
            out: Vec::with_capacity(1024),
            io: None,
            failed: None,
        }
    }

    /// Registers a plain socket with the reactor (from now on an I/O task drives it) and
    /// returns the registered handle; `None` when it is not plain or cannot be registered
    /// (then the connection has failed).
    pub(crate) fn back_to_reactor(&mut self) -> Option<Arc<TcpStream>> {
        if !matches!(self.socket, Socket::Plain(_)) {
            return None;
        }
        let Socket::Plain(plain) = std::mem::replace(&mut self.socket, Socket::Gone) else {
            return None;
        };
        match TcpStream::from_std(plain) {
            Ok(s) => {
                let s = Arc::new(s);
                self.socket = Socket::Reactor(Arc::clone(&s));
                Some(s)
            }
            Err(e) => {
                self.failed = Some(WireError::io("register", &e));
                None
            }
        }
    }

    /// Sends one frame: written now if nothing waits and the socket takes it, else queued. A
    /// connection that fails here is failed by the I/O task (woken for it), so the caller,
    /// which may not be in a position to end it, need not look.
    pub(crate) fn send(&mut self, opcode: u8, payload: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let waiting = !self.out.is_empty();
        encode_frame(&mut self.out, opcode, payload, rand::random());
        if self.out.len() > MAX_UNSENT {
            self.failed = Some(WireError {
                code: None,
                why: format!("the bot does not read ({} bytes unsent)", self.out.len()),
            });
        } else if !waiting {
            // Else the I/O task (or the next tick) already waits to write the older bytes.
            if let Err(e) = self.flush() {
                self.failed = Some(e);
            }
        }
        if self.failed.is_some() || !self.out.is_empty() {
            self.wake_io();
        }
    }

    fn wake_io(&self) {
        if let Some(io) = &self.io {
            io.wake_by_ref();
        }
    }

    /// Writes what waits until done or the socket is full.
    fn flush(&mut self) -> Result<(), WireError> {
        let mut written = 0;
        while written < self.out.len() {
            let result = match &self.socket {
                Socket::Reactor(s) => s.try_write(&self.out[written..]),
                Socket::Plain(s) => io::Write::write(&mut &*s, &self.out[written..]),
                Socket::Gone => Err(io::ErrorKind::NotConnected.into()),
            };
            match result {
                Ok(0) => return Err(WireError::io("write", &io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(WireError::io("write", &e)),
            }
        }
        if written == self.out.len() {
            self.out.clear();
        } else {
            self.out.drain(..written);
        }
        Ok(())
    }

    /// Tick mode: writes what the socket did not take before, if it takes it now.
    pub(crate) fn retry(&mut self) {
        if self.out.is_empty() || self.failed.is_some() {
            return;
        }
        if let Err(e) = self.flush() {
            self.failed = Some(e);
            self.wake_io();
        }
    }

    /// Tick mode: one `read` of a plain socket into `reader`: how many bytes (0: the bot
    /// closed it), and whether they filled the free space. A read that does not fill it
    /// emptied the socket (the next read would find nothing).
    pub(crate) fn read_into(&self, reader: &mut Reader) -> io::Result<(usize, bool)> {
        let Socket::Plain(s) = &self.socket else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let space = reader.space();
        let len = space.len();
        let n = (&*s).read(space)?;
        reader.end += n;
        Ok((n, n == len))
    }

    /// Whether bytes wait for the socket.
    pub(crate) fn is_flushed(&self) -> bool {
        self.out.is_empty()
    }

    /// Registers the task to wake when bytes are left waiting or a write failed.
    pub(crate) fn set_io(&mut self, waker: &Waker) {
        if !self.io.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.io = Some(waker.clone());
        }
    }

    /// Why a write failed, once.
    pub(crate) fn take_failure(&mut self) -> Option<WireError> {
        self.failed.take()
    }
}

/// An actor that owns a [`Writer`] per connection generation and takes what [`WireIo`]
/// reads.
pub(crate) trait WireOwner: Actor<Context = Context<Self>> {
    /// Runs `f` on the writer of connection `gen`, while it is the current one.
    fn with_writer<R>(&mut self, gen: u64, f: impl FnOnce(&mut Writer) -> R) -> Option<R>;
    /// One event of connection `gen`; false when the connection is going away.
    fn on_wire(&mut self, gen: u64, event: WireEvent<'_>, ctx: &mut Context<Self>) -> bool;
    /// Connection `gen` ended: the bot closed it (`None`) or it failed.
    fn wire_ended(&mut self, gen: u64, error: Option<WireError>, ctx: &mut Context<Self>);
}

/// The connection's one I/O task, spawned on its owner: reads and delivers frames as they
/// come, and writes what the writer left waiting when the socket takes it again. It ends when
/// the connection does (the owner cancels it when it closes the connection itself).
///
/// It reads as soon as the reactor says the socket is readable: a bot's answer reaches the
/// caller's playout queue at once. (Reading only on the wakes the caller's frames bring was
/// tried, to save the task's second wake per frame: the node spent more CPU, not less, since
/// the bot's packets still woke the thread through the reactor, and every answer waited up to
/// a frame, 20 ms, longer; docs/performance.md.)
pub(crate) struct WireIo {
    gen: u64,
    stream: Arc<TcpStream>,
    reader: Reader,
}

impl WireIo {
    /// The I/O task of connection `gen` over `stream`, reading with `reader`.
    pub(crate) fn new(gen: u64, stream: Arc<TcpStream>, reader: Reader) -> WireIo {
        WireIo {
            gen,
            stream,
            reader,
        }
    }
}

/// One `read` of what the reactor last saw arrive: `WouldBlock` at once (no system call) when
/// it saw nothing. A read that does not fill `buf` emptied the socket, so the reactor is told
/// (as tokio's own `poll_read` does): the next read waits for new data instead of costing a
/// system call that finds none.
fn read_once(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let len = buf.len();
    let mut drained = None;
    let result = stream.try_io(Interest::READABLE, || {
        let n = (&*SockRef::from(stream)).read(buf)?;
        if n > 0 && n < len {
            drained = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match drained {
        Some(n) => Ok(n),
        None => result,
    }
}

impl<A: WireOwner> ActorFuture<A> for WireIo {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        owner: &mut A,
        ctx: &mut Context<A>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let this = self.get_mut();
        let gen = this.gen;
        // The write side first: bytes left waiting, written once the socket takes them.
        let stream = &this.stream;
        let written = owner.with_writer(gen, |writer| {
            writer.set_io(task.waker());
            if let Some(e) = writer.failed.take() {
                return Err(e);
            }
            while !writer.is_flushed() {
                match stream.poll_write_ready(task) {
                    Poll::Pending => break,
                    Poll::Ready(Err(e)) => return Err(WireError::io("write", &e)),
                    Poll::Ready(Ok(())) => writer.flush()?,
                }
            }
            Ok(())
        });
        match written {
            None => return Poll::Ready(()),
            Some(Err(e)) => {
                owner.wire_ended(gen, Some(e), ctx);
                return Poll::Ready(());
            }
            Some(Ok(())) => {}
        }
        // Then the read side.
        for _ in 0..READS_PER_POLL {
            let delivered = this.reader.deliver(|event| owner.on_wire(gen, event, ctx));
            match delivered {
                Ok(true) => {}
                Ok(false) => return Poll::Ready(()),
                Err(e) => {
                    owner.wire_ended(gen, Some(e), ctx);
                    return Poll::Ready(());
                }
            }
            match this.stream.poll_read_ready(task) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    owner.wire_ended(gen, Some(WireError::io("read", &e)), ctx);
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(())) => {}
            }
            match read_once(&this.stream, this.reader.space()) {
                Ok(0) => {
                    owner.wire_ended(gen, None, ctx);
                    return Poll::Ready(());
                }
                Ok(n) => this.reader.end += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    owner.wire_ended(gen, Some(WireError::io("read", &e)), ctx);
                    return Poll::Ready(());
                }
            }
        }
        // Still readable after a full round: let the arbiter's other tasks run first.
        task.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame (unmasked) of `opcode`, `fin` or not.
    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// Everything `reader` delivers now, as owned values.
    fn drain(reader: &mut Reader) -> Result<Vec<String>, WireError> {
        let mut seen = Vec::new();
        reader.deliver(|e| {
            seen.push(match e {
                WireEvent::Text(t) => format!("text {}", String::from_utf8_lossy(t)),
                WireEvent::Binary(b) => format!("binary {}", b.len()),
                WireEvent::Ping(p) => format!("ping {p:?}"),
                WireEvent::Pong => "pong".into(),
                WireEvent::Close(code) => format!("close {code:?}"),
            });
            true
        })?;
        Ok(seen)
    }

    /// Feeds `bytes` to `reader` in reads of at most `step` bytes, as the socket would.
    fn feed(reader: &mut Reader, bytes: &[u8], step: usize) -> Result<Vec<String>, WireError> {
        let mut seen = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let space = reader.space();
            assert!(!space.is_empty(), "the buffer grows for what is read");
            let n = rest.len().min(space.len()).min(step);
            space[..n].copy_from_slice(&rest[..n]);
            reader.end += n;
            rest = &rest[n..];
            seen.extend(drain(reader)?);
        }
        Ok(seen)
    }

    /// The RFC's own example (§1.3).
    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn targets_parse_with_default_port_path_and_ipv6() {
        let t = Target::parse("ws://127.0.0.1:9000/stream?x=1").unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.authority.as_str(),
                t.path.as_str()
            ),
            ("127.0.0.1", 9000, "127.0.0.1:9000", "/stream?x=1")
        );
        let t = Target::parse("ws://bot.example").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("bot.example", 80, "/")
        );
        let t = Target::parse("ws://[::1]:81/b").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("::1", 81, "[::1]:81")
        );
        assert!(Target::parse("wss://bot.example/").is_err());
        assert!(Target::parse("http://bot.example/").is_err());
        assert!(Target::parse("not a url").is_err());
    }

    #[test]
    fn frames_are_masked_and_sized_as_the_rfc_says() {
        for len in [0usize, 1, 5, 125, 126, 640, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mask = [0x37, 0xfa, 0x21, 0x3d];
            let mut out = vec![0xEE];
            encode_frame(&mut out, BINARY, &payload, mask);
            let frame = &out[1..];
            assert_eq!(frame[0], 0x82, "FIN and binary");
            assert_eq!(frame[1] & 0x80, 0x80, "masked");
            let (head, n) = match frame[1] & 0x7F {
                126 => (4, usize::from(u16::from_be_bytes([frame[2], frame[3]]))),
                127 => (
                    10,
                    u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize,
                ),
                n => (2, usize::from(n)),
            };
            assert_eq!(n, len);
            assert_eq!(
                head,
                if len < 126 {
                    2
                } else if len < 65_536 {
                    4
                } else {
                    10
                }
            );
            assert_eq!(frame[head..head + 4], mask);
            let unmasked: Vec<u8> = frame[head + 4..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(unmasked, payload);
        }
        // The RFC's example (§5.7): a masked "Hello".
        let mut out = Vec::new();
        encode_frame(&mut out, TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn messages_are_cut_from_any_split_of_the_stream() {
        let mut stream = Vec::new();
        stream.extend(server_frame(true, TEXT, b"{\"event\":\"mark\"}"));
        stream.extend(server_frame(true, BINARY, &[7; 640]));
        stream.extend(server_frame(false, BINARY, &[1; 100]));
        // A ping between fragments is answered in the middle of the message (§5.4).
        stream.extend(server_frame(true, PING, b"hi"));
        stream.extend(server_frame(false, CONTINUATION, &[2; 100]));
        stream.extend(server_frame(true, CONTINUATION, &[3; 70_000]));
        stream.extend(server_frame(true, PONG, b""));
        stream.extend(server_frame(true, CLOSE, &1000u16.to_be_bytes()));
        let want = vec![
            "text {\"event\":\"mark\"}".to_owned(),
            "binary 640".into(),
            "ping [104, 105]".into(),
            "binary 70200".into(),
            "pong".into(),
            "close Some(1000)".into(),
        ];
        for step in [1, 3, 7, 640, 4096, stream.len()] {
            let mut reader = Reader::new(Vec::new(), 1 << 20);
            assert_eq!(
                feed(&mut reader, &stream, step).unwrap(),
                want,
                "step {step}"
            );
        }
        // Bytes that came with the handshake's answer are read first.
        let mut reader = Reader::new(server_frame(true, TEXT, b"early"), 1 << 20);
        assert_eq!(drain(&mut reader).unwrap(), ["text early"]);
    }

    #[test]
    fn peek_shows_whole_data_frames_and_leaves_the_rest_in_order_for_deliver() {
        let mut stream = Vec::new();
        stream.extend(server_frame(true, BINARY, &[7; 640]));
        stream.extend(server_frame(true, TEXT, b"media"));
        stream.extend(server_frame(true, PING, b"hi"));
        stream.extend(server_frame(true, BINARY, &[8; 10]));
        stream.extend(server_frame(false, BINARY, &[1; 4]));
        stream.extend(server_frame(true, CONTINUATION, &[2; 4]));
        let mut reader = Reader::new(Vec::new(), 1 << 20);
        // Not all of the first frame yet.
        reader.buf[..100].copy_from_slice(&stream[..100]);
        reader.end = 100;
        assert_eq!(reader.peek(), Peek::Incomplete);
        let mut reader = Reader::new(stream, 1 << 20);
        let mut taken = Vec::new();
        while let Peek::Data {
            opcode,
            payload,
            size,
        } = reader.peek()
        {
            taken.push((opcode, payload.len()));
            reader.consume(size);
        }
        assert_eq!(taken, [(BINARY, 640), (TEXT, 5)]);
        // The ping stops the fast path; deliver goes on from it, in order.
        assert_eq!(reader.peek(), Peek::Other);
        assert_eq!(
            drain(&mut reader).unwrap(),
            ["ping [104, 105]", "binary 10", "binary 8"]
        );
        assert!(reader.is_empty());
        assert_eq!(reader.peek(), Peek::Incomplete);
    }

    #[test]
    fn protocol_violations_end_the_connection_with_the_right_code() {
        let masked = {
            let mut f = server_frame(true, TEXT, b"x");
            f[1] |= 0x80;
            f.extend_from_slice(&[0; 4]);
            f
        };
        let mut reserved_bit = server_frame(true, TEXT, b"x");
        reserved_bit[0] |= 0x40;
        let long_ping = server_frame(true, PING, &[0; 126]);
        let fragmented_ping = server_frame(false, PING, b"");
        let lone_continuation = server_frame(true, CONTINUATION, b"x");
        let mut interleaved = server_frame(false, TEXT, b"a");
        interleaved.extend(server_frame(true, TEXT, b"b"));
        let reserved_opcode = server_frame(true, 0x3, b"");
        for (name, bytes) in [
            ("masked", masked),
            ("reserved bit", reserved_bit),
            ("long ping", long_ping),
            ("fragmented ping", fragmented_ping),
            ("lone continuation", lone_continuation),
            ("interleaved", interleaved),
            ("reserved opcode", reserved_opcode),
        ] {
            let mut reader = Reader::new(Vec::new(), 1 << 20);
            let err = feed(&mut reader, &bytes, bytes.len()).unwrap_err();
            assert_eq!(err.code, Some(PROTOCOL_ERROR), "{name}: {}", err.why);
        }
        // Too long: refused from the header, before its payload is read.
        let mut reader = Reader::new(Vec::new(), 1000);
        let header = &server_frame(true, BINARY, &[0; 1001])[..4];
        assert_eq!(
            feed(&mut reader, header, 4).unwrap_err().code,
            Some(TOO_BIG)
        );
        let mut reader = Reader::new(Vec::new(), 1000);
        let mut parts = server_frame(false, BINARY, &[0; 600]);
        parts.extend(server_frame(true, CONTINUATION, &[0; 600]));
        assert_eq!(
            feed(&mut reader, &parts, 64).unwrap_err().code,
            Some(TOO_BIG)
        );
    }

    #[test]
    fn the_answer_must_accept_the_key() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: keep-alive, Upgrade\r\n\
                    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(check_answer(good.as_bytes(), key), Ok(()));
        assert_eq!(
            find_head_end(format!("{good}\u{81}").as_bytes()),
            Some(good.len())
        );
        for (bad, why) in [
            (
                good.replace("101 Switching Protocols", "404 Not Found"),
                "404",
            ),
            (
                good.replace("Upgrade: websocket", "Upgrade: h2c"),
                "Upgrade",
            ),
            (
                good.replace("keep-alive, Upgrade", "keep-alive"),
                "Connection",
            ),
            (good.replace("s3pP", "AAAA"), "Accept"),
        ] {
            let err = check_answer(bad.as_bytes(), key).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }
}
