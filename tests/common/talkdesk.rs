//! A Talkdesk voice stream played by the tests: a blocking WebSocket client (`tungstenite`) that
//! opens `/audiosocket/talkdesk/`, sends what Talkdesk sends (`connected`, `start`, paced µ-law
//! `media`, `dtmf`, `stop`) and collects what the node sends back. Waits poll with deadlines.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

use super::Node;

/// A token for the default config's `demo` bot, valid `ttl` seconds (0: no expiry).
pub fn demo_token(ttl: u64) -> String {
    let now = voxgate_engine::auth::jwt::unix_now();
    voxgate_engine::auth::jwt::sign("demo-secret", "demo-client", now, ttl).unwrap()
}

/// The stream path for `did` (encoded here) and `bot`, with `token` and extra query text.
pub fn stream_path(did: &str, bot: &str, token: &str, extra: &str) -> String {
    format!(
        "/audiosocket/talkdesk/?sipuri={}&token={token}&botId={bot}&accountId=acct-test{extra}",
        did.replace('+', "%2B")
    )
}

/// What the node sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A JSON text frame.
    Json(Value),
    /// A close frame: code and reason.
    Close(u16, String),
}

/// The connection under a stream: plain TCP (`ws://`) or TLS (`wss://`).
pub enum Conn {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// One stream, as Talkdesk.
pub struct Stream {
    ws: WebSocket<Conn>,
    /// The stream sid sent in `start`.
    pub sid: String,
    chunk: u64,
    /// Everything received so far, in order.
    pub received: Vec<Event>,
    closed: bool,
}

impl Stream {
    /// Opens the stream at `path`; on a refused upgrade, the HTTP status and body.
    pub fn open(node: &Node, path: &str) -> Result<Stream, (u16, String)> {
        let tcp = TcpStream::connect(node.http).expect("connect http");
        Stream::open_over(node, path, Conn::Plain(tcp))
    }

    /// Opens the stream at `path` over `wss://`, trusting the test CA of `pki`.
    pub fn open_tls(
        node: &Node,
        path: &str,
        pki: &super::pki::Pki,
    ) -> Result<Stream, (u16, String)> {
        let tls = pki.connect(node.http);
        Stream::open_over(node, path, Conn::Tls(Box::new(tls)))
    }

    fn open_over(node: &Node, path: &str, conn: Conn) -> Result<Stream, (u16, String)> {
        let scheme = match conn {
            Conn::Plain(_) => "ws",
            Conn::Tls(_) => "wss",
        };
        let url = format!("{scheme}://{}{path}", node.http);
        match tungstenite::client::client(url.as_str(), conn) {
            Ok((ws, _)) => Ok(Stream {
                ws,
                sid: String::new(),
                chunk: 0,
                received: Vec::new(),
                closed: false,
            }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                let body = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Err((resp.status().as_u16(), body))
            }
            Err(e) => panic!("WebSocket handshake failed: {e}"),
        }
    }

    /// Opens the default `demo` stream for `did` with a fresh token.
    pub fn open_demo(node: &Node, did: &str, extra: &str) -> Stream {
        Stream::open(node, &stream_path(did, "demo", &demo_token(600), extra))
            .expect("stream admitted")
    }

    /// Sends a text frame.
    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }

    /// Sends a binary frame.
    pub fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).expect("send");
    }

    fn send_json(&mut self, v: &Value) {
        self.send_text(&v.to_string());
    }

    /// `connected` then `start` for stream `sid`.
    pub fn start(&mut self, sid: &str) {
        self.sid = sid.to_owned();
        self.send_json(&json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}));
        self.send_json(&json!({
            "event": "start", "sequenceNumber": "1", "streamSid": sid,
            "start": {
                "streamSid": sid, "callSid": format!("CA-{sid}"), "accountSid": "AC-test",
                "tracks": ["inbound"],
                "customParameters": {"interaction_id": format!("int-{sid}")},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
            }
        }));
    }

    /// One inbound `media` chunk.
    pub fn send_media(&mut self, payload: &[u8]) {
        self.chunk += 1;
        let v = json!({
            "event": "media", "sequenceNumber": (self.chunk + 1).to_string(), "streamSid": self.sid,
            "media": {
                "track": "inbound", "chunk": self.chunk.to_string(),
                "timestamp": ((self.chunk - 1) * 20).to_string(),
                "payload": base64::engine::general_purpose::STANDARD.encode(payload)
            }
        });
        self.send_json(&v);
    }

    /// A `dtmf` event.
    pub fn send_dtmf(&mut self, digit: &str) {
        let v = json!({"event": "dtmf", "streamSid": self.sid,
                       "dtmf": {"track": "inbound_track", "digit": digit}});
        self.send_json(&v);
    }

    /// Talkdesk's own `stop` (the caller hung up).
    pub fn send_stop(&mut self) {
        let v = json!({"event": "stop", "streamSid": self.sid,
                       "stop": {"accountSid": "AC-test", "callSid": format!("CA-{}", self.sid)}});
        self.send_json(&v);
    }

    /// Reads what arrives within `timeout` (at most until the stream closes).
    pub fn pump(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            self.ws
                .get_ref()
                .tcp()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("node sent JSON");
                    self.received.push(Event::Json(v));
                }
                Ok(Message::Close(frame)) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((u16::from(CloseCode::Status), String::new()));
                    self.received.push(Event::Close(code, reason));
                    self.closed = true;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => self.closed = true,
            }
        }
    }

    /// Sends `frames(n)` for n in 0..count paced at 20 ms, reading meanwhile.
    pub fn play(&mut self, count: usize, frame: impl Fn(usize) -> Vec<u8>) {
        let t0 = Instant::now();
        for n in 0..count {
            if self.closed {
                return;
            }
            self.send_media(&frame(n));
            let next = t0 + Duration::from_millis(20 * (n as u64 + 1));
            self.pump(next.saturating_duration_since(Instant::now()));
        }
    }

    /// Reads until the stream is closed or `timeout` passes; true when closed.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        self.pump(timeout);
        self.closed
    }

    /// The decoded payloads of the `media` events received so far.
    pub fn media_payloads(&self) -> Vec<Vec<u8>> {
        self.events("media")
            .iter()
            .map(|v| {
                let p = v["media"]["payload"].as_str().expect("payload");
                base64::engine::general_purpose::STANDARD
                    .decode(p)
                    .expect("base64")
            })
            .collect()
    }

    /// The JSON events named `event` received so far.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.received
            .iter()
            .filter_map(|e| match e {
                Event::Json(v) if v["event"] == event => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    /// The close frame received, if any.
    pub fn close_frame(&self) -> Option<(u16, String)> {
        self.received.iter().find_map(|e| match e {
            Event::Close(c, r) => Some((*c, r.clone())),
            _ => None,
        })
    }
}

impl Stream {
    /// The one final `stop` the node sent (asserts there is exactly one) and its body.
    pub fn final_stop(&self) -> Value {
        let stops = self.events("stop");
        assert_eq!(stops.len(), 1, "exactly one stop; got {:?}", self.received);
        stops[0]["stop"].clone()
    }
}

/// The latest session record of the `demo` bot, once the node has written one.
pub fn latest_record(node: &Node) -> voxgate_engine::store::SessionRecord {
    let mut records = Vec::new();
    assert!(
        super::wait_until(Duration::from_secs(5), || {
            records = super::session_records(node);
            !records.is_empty()
        }),
        "no session record"
    );
    records.pop().expect("checked non-empty")
}

/// Checks that a stream whose bot failed past its budget (two restarts) was escalated once
/// with `BotFailure`, on the wire and in the record; returns the final `stop` body.
pub fn assert_bot_failure_escalation(s: &Stream, node: &Node) -> Value {
    let stop = s.final_stop();
    assert_eq!(stop["command"], "escalate");
    assert_eq!(stop["reason"], "BotFailure");
    assert_eq!(node.metric("voxgate_bot_restarts_total"), 2.0);
    let r = latest_record(node);
    assert_eq!(r.ingress, voxgate_engine::store::IngressKind::Talkdesk);
    assert_eq!(r.end_reason, "BotFailure");
    let esc = r.escalation.expect("escalation recorded");
    assert_eq!(esc.reason, "BotFailure");
    assert_eq!(
        esc.outcome,
        voxgate_engine::store::EscalationOutcome::Completed
    );
    stop
}
