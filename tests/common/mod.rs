//! Shared harness of the integration tests: a real `voxgate` process on ephemeral loopback
//! ports, SIPp runs against it, and small HTTP/metrics probes. Nothing here sleeps to be
//! correct: every wait polls its condition until a deadline.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod pki;
pub mod storm;
pub mod talkdesk;
pub mod tone_peer;
pub mod ws_bot;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The embedded default configuration, as a starting point for test configs.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port free on loopback for both UDP and TCP right now, the three after it free for UDP
/// too (SIPp needs fixed local ports, and binds its media port's RTCP and video neighbours).
/// Picked at random in 10000-19899: below the nodes' RTP ranges (20000 up) and the kernel's
/// ephemeral ports (32768 up), which a socket bound to port 0, in this test or a parallel
/// one, could take between this probe and the peer's own bind (it did: SIPp's "Unable to
/// bind audio RTP socket").
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    for _ in 0..500 {
        // Each RandomState has fresh keys: a random number without a crate.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let port = 10000 + (h.finish() % 9900) as u16;
        let free = (0..4).all(|i| UdpSocket::bind(("127.0.0.1", port + i)).is_ok())
            && TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// A running node.
pub struct Node {
    child: Child,
    /// SIP address (UDP and TCP).
    pub sip: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    /// SIP over TLS address, when `[tls] listen` is set.
    pub sips: Option<SocketAddr>,
    /// The node's working directory (its SQLite file lives here).
    pub dir: tempfile::TempDir,
    stderr_log: PathBuf,
}

impl Node {
    /// Starts a node on `config` (TOML text) with ephemeral SIP/HTTP ports on loopback and
    /// waits until it says it listens.
    pub fn start(config: &str) -> Node {
        Node::start_with_env(config, &[])
    }

    /// Same as [`Node::start`] with extra environment variables (test hooks).
    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("voxgate.toml");
        std::fs::write(&config_path, config).expect("write config");
        let stderr_log = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_log).expect("stderr log");
        let rtp_lo = 20000 + (std::process::id() % 400) as u16 * 100;
        // VOXGATE_TEST_BIN runs another build (e.g. target/release/voxgate for measurements).
        let exe = std::env::var_os("VOXGATE_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_voxgate").into());
        let mut child = Command::new(exe)
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .args([
                "--sip-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .args(["--rtp-ports", &format!("{}-{}", rtp_lo, rtp_lo + 999)])
            .current_dir(dir.path())
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn,voxgate=info,voxgate_actors=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn voxgate");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut sip, mut http, mut sips) = (None, None, None);
        while sip.is_none() || http.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(&stderr_log).unwrap_or_default();
                    panic!("voxgate did not report its listeners in time; stderr:\n{log}");
                }
            };
            // "voxgate listening sip=127.0.0.1:PORT http=127.0.0.1:PORT"
            for word in line.split_whitespace() {
                if let Some(a) = word.strip_prefix("sip=") {
                    sip = a.parse().ok();
                } else if let Some(a) = word.strip_prefix("http=") {
                    http = a.parse().ok();
                } else if let Some(a) = word.strip_prefix("sips=") {
                    sips = a.parse().ok();
                }
            }
        }
        Node {
            child,
            sip: sip.unwrap(),
            http: http.unwrap(),
            sips,
            dir,
            stderr_log,
        }
    }

    /// Starts a node on the default configuration.
    pub fn start_default() -> Node {
        Node::start(DEFAULT_TOML)
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "kill -TERM failed"
        );
    }

    /// The node's process id (for /proc measurements).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET on the node's HTTP listener: (status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path)
    }

    /// The value of a Prometheus sample line that starts with `selector` (name plus labels),
    /// or 0 when absent.
    pub fn metric(&self, selector: &str) -> f64 {
        let (_, body) = self.http_get("/metrics");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| l.starts_with(selector) && l[selector.len()..].starts_with([' ', '{']))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny HTTP/1.0 GET, enough for health and metrics probes.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, &[], None)
}

/// One HTTP/1.0 exchange with extra header lines and an optional JSON body: (status, body).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (u16, String) {
    let mut all = headers.to_vec();
    if body.is_some() {
        all.push(("Content-Type", "application/json"));
    }
    let reply = http_exchange(addr, method, path, &all, body);
    (reply.status, reply.body)
}

/// An HTTP answer: status, headers (names lowercased) and body.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Header (lowercase name, value) pairs in order.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl HttpReply {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// One HTTP/1.0 exchange with any method, extra headers (the caller sets `Content-Type`) and
/// an optional body; the reply keeps its headers.
pub fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HttpReply {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect http");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    http_exchange_over(stream, addr, method, path, headers, body)
}

/// [`http_exchange`] over a connected `stream` (plain TCP, or TLS for HTTPS) to `addr`.
pub fn http_exchange_over(
    mut stream: impl Read + Write,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HttpReply {
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    if let Some(b) = body {
        let _ = stream.write_all(b);
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpReply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// POSTs JSON with extra headers.
pub fn http_post_json(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> HttpReply {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    http_exchange(addr, "POST", path, &all, Some(body.to_string().as_bytes()))
}

/// Runs `voxgate ARGS` in `dir` to completion.
pub fn voxgate_cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voxgate"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run voxgate")
}

/// Creates a Digital Connect client credential with the CLI in the node's directory (where its
/// SQLite store is) and returns (client id, secret).
pub fn add_credential(node: &Node, name: &str) -> (String, String) {
    let out = voxgate_cli(
        node.dir.path(),
        &["credentials", "add", name, "--config", "voxgate.toml"],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "credentials add failed: {text} {:?}",
        out
    );
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .trim()
            .to_owned()
    };
    (field("client_id:"), field("client_secret:"))
}

/// POSTs a Digital Connect event (`action`, JSON `body`) with an OAuth2 access token.
pub fn post_event(node: &Node, token: &str, action: &str, body: &serde_json::Value) -> HttpReply {
    let auth = format!("Bearer {token}");
    http_post_json(
        node.http,
        &format!("/api/digital-connect/talkdesk/conversations/events/{action}"),
        &[("Authorization", &auth)],
        body,
    )
}

/// Gets an access token from the node's OAuth2 endpoint with form credentials.
pub fn access_token(node: &Node, client_id: &str, secret: &str) -> String {
    let form =
        format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}");
    let reply = http_exchange(
        node.http,
        "POST",
        "/security/oauth/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(form.as_bytes()),
    );
    assert_eq!(reply.status, 200, "token request: {}", reply.body);
    reply.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Where the SIPp scenarios live.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// A SIPp run against a node.
pub struct Sipp {
    args: Vec<String>,
    dir: tempfile::TempDir,
}

impl Sipp {
    /// SIPp with scenario file `name` against `target`, one call, from free local ports.
    pub fn new(name: &str, target: SocketAddr) -> Sipp {
        Sipp::with_scenario_file(&scenario(name), target)
    }

    /// Same as [`Sipp::new`] with a scenario the test wrote itself.
    pub fn with_scenario_file(path: &Path, target: SocketAddr) -> Sipp {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = vec![
            target.to_string(),
            "-sf".into(),
            path.display().to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            free_port().to_string(),
            "-mp".into(),
            free_port().to_string(),
            "-m".into(),
            "1".into(),
            "-s".into(),
            "+15550100".into(),
            "-timeout".into(),
            "30s".into(),
            "-timeout_error".into(),
            "-max_recv_loops".into(),
            "1000".into(),
            "-trace_err".into(),
            "-error_file".into(),
            dir.path().join("errors.log").display().to_string(),
            "-nostdin".into(),
        ];
        Sipp { args, dir }
    }

    /// Adds raw SIPp arguments.
    pub fn arg(mut self, a: impl Into<String>) -> Sipp {
        self.args.push(a.into());
        self
    }

    /// Uses TCP (one connection).
    pub fn tcp(self) -> Sipp {
        self.arg("-t").arg("t1")
    }

    /// Runs to completion and returns SIPp's output; panics with its error log if it failed.
    pub fn run_ok(self) -> Output {
        let out = self.run();
        assert!(
            out.status.success(),
            "sipp failed: {}",
            describe(&out, &self.dir)
        );
        out
    }

    /// Runs to completion; the caller judges the exit status.
    pub fn run(&self) -> Output {
        Command::new("sipp")
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run sipp (Debian package sip-tester)")
    }

    /// Starts SIPp in the background.
    pub fn spawn(&self) -> Child {
        Command::new("sipp")
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sipp (Debian package sip-tester)")
    }
}

fn describe(out: &Output, dir: &tempfile::TempDir) -> String {
    let errors = std::fs::read_to_string(dir.path().join("errors.log")).unwrap_or_default();
    format!(
        "status {:?}\nstderr:\n{}\nerror log:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        errors
    )
}

/// SIPp as a peer the node calls (a SIP bot, an agent): a UAS on a port of its own, for
/// `calls` calls.
pub struct SippBot {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl SippBot {
    /// Runs `scenario` for `calls` calls with `extra` SIPp arguments.
    pub fn start(scenario: &Path, calls: u32, extra: &[&str]) -> SippBot {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new("sipp")
            .args(["-sf", &scenario.display().to_string()])
            .args(["-i", "127.0.0.1", "-p", &addr.port().to_string()])
            .args(["-mp", &free_port().to_string()])
            .args([
                "-m",
                &calls.to_string(),
                "-timeout",
                "40s",
                "-timeout_error",
            ])
            .args(["-trace_err", "-nostdin"])
            .args(extra)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sipp (Debian package sip-tester)");
        SippBot {
            child: Some(child),
            addr,
            _dir: dir,
        }
    }

    /// Waits for SIPp to finish its calls; its exit status says whether every call went as the
    /// scenario says.
    pub fn finish(mut self, timeout: Duration) -> Output {
        let mut child = self.child.take().expect("running");
        let done = wait_until(timeout, || child.try_wait().unwrap().is_some());
        if !done {
            let _ = child.kill();
        }
        child.wait_with_output().expect("sipp output")
    }
}

impl Drop for SippBot {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A media socket of the test that collects the RFC 4733 event codes (payload type 101) sent
/// to it, on a thread of its own, until [`EventSink::finish`].
pub struct EventSink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    events: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    reader: std::thread::JoinHandle<()>,
}

impl EventSink {
    /// Binds the socket and starts reading.
    pub fn start() -> EventSink {
        use std::sync::atomic::Ordering;
        let media = UdpSocket::bind("127.0.0.1:0").unwrap();
        media
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let port = media.local_addr().unwrap().port();
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (events, done) = (events.clone(), done.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !done.load(Ordering::Relaxed) {
                    if let Ok(n) = media.recv(&mut buf) {
                        // RTP, payload type 101 (our telephone-event): the event code.
                        if n >= 16 && buf[1] & 0x7f == 101 {
                            events.lock().unwrap().push(buf[12]);
                        }
                    }
                }
            })
        };
        EventSink {
            port,
            events,
            done,
            reader,
        }
    }

    /// Stops reading; the event codes received, one per packet.
    pub fn finish(self) -> Vec<u8> {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        self.reader.join().unwrap();
        let events = self.events.lock().unwrap();
        events.clone()
    }
}

/// SIPp's `200 OK` to the request it has just received.
pub const UAS_ANSWERS_200: &str = r#"  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
"#;

/// What a called peer (UAS) does after the ACK: wait for the node's BYE and answer it.
pub fn uas_awaits_bye() -> String {
    format!("\n  <recv request=\"BYE\"/>\n{UAS_ANSWERS_200}")
}

/// SIPp scenario text of a request a called peer (UAS: a SIP bot, an agent) sends in its
/// dialog: `method` with CSeq `cseq`, `headers` (lines ending in `\n`) and `body` (empty, or
/// ending in a blank line).
pub fn uas_request(method: &str, cseq: u32, headers: &str, body: &str) -> String {
    format!(
        r#"  <send>
    <![CDATA[
{method} [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$to];tag=[pid]SIPpTag01[call_number]
To:[$from]
Call-ID: [call_id]
CSeq: {cseq} {method}
Max-Forwards: 70
{headers}Content-Length: [len]

{body}    ]]>
  </send>
"#
    )
}

/// SIPp scenario text for a called peer (UAS) that waits `pause_ms`, hangs up with a BYE
/// carrying `extra_headers` (lines ending in `\n`) and takes the node's 200.
pub fn uas_bye_after(pause_ms: u32, extra_headers: &str) -> String {
    format!(
        "\n  <pause milliseconds=\"{pause_ms}\"/>\n{}  <recv response=\"200\"/>\n",
        uas_request("BYE", 2, extra_headers, "")
    )
}

/// Writes scenario `name` with `@KEY@` placeholders replaced into a temp dir; keep the dir
/// alive while the scenario runs.
pub fn scenario_with(name: &str, replacements: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = std::fs::read_to_string(scenario(name)).expect("scenario");
    for (key, value) in replacements {
        text = text.replace(&format!("@{key}@"), value);
    }
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write scenario");
    (dir, path)
}

/// `uac_expect_bye.xml` for a PCMU caller whose call the node must end with
/// `kore-reason: <reason>` (a regular expression), playing `play` (see [`play_pcap`]) after the
/// ACK.
pub fn expect_bye_scenario(reason: &str, play: &str) -> (tempfile::TempDir, PathBuf) {
    scenario_with(
        "uac_expect_bye.xml",
        &[
            ("HEADER", "kore-reason"),
            ("REASON", reason),
            ("CODEC_PT", "0"),
            ("PLAY", play),
        ],
    )
}

/// The session records the node stored (its SQLite file), newest first.
pub fn session_records(node: &Node) -> Vec<voxgate_engine::store::SessionRecord> {
    use voxgate_engine::store::Store as _;
    let store = voxgate_engine::store::SqliteStore::open(node.dir.path().join("voxgate.db"))
        .expect("open the node's store");
    store.list_sessions("demo", 0, 100).expect("list sessions")
}

/// Places a SIPp call (PCMU) that plays `pcap` (e.g. a DTMF key) and expects the node's BYE
/// with `kore-reason: reason`; returns the session record the call left.
pub fn call_expecting_bye(
    node: &Node,
    pcap: &str,
    reason: &str,
) -> voxgate_engine::store::SessionRecord {
    let play = play_pcap(pcap);
    let (_dir, path) = expect_bye_scenario(reason, &play);
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    first_session_record(node)
}

/// The node's first session record, once it is written (waits up to 10 s).
pub fn first_session_record(node: &Node) -> voxgate_engine::store::SessionRecord {
    assert!(
        wait_until(Duration::from_secs(10), || !session_records(node)
            .is_empty()),
        "no session record:\n{}",
        node.log()
    );
    session_records(node).remove(0)
}

/// Sends one datagram to `target` and returns the first reply, if any arrives in 5 s.
pub fn udp_exchange(target: SocketAddr, datagram: &[u8]) -> Option<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(datagram, target).unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// SIPp scenario text that plays one of SIPp's shipped pcaps (e.g. `dtmf_2833_0.pcap`) as the
/// caller's media; for the `PLAY` placeholder of `uac_expect_bye.xml`.
pub fn play_pcap(pcap: &str) -> String {
    format!(
        "  <nop>\n    <action>\n      <exec play_pcap_audio=\"/usr/share/sip-tester/{pcap}\"/>\n    </action>\n  </nop>\n"
    )
}

/// Frame `n` of a 440 Hz tone in µ-law, 20 ms.
pub fn tone_frame(n: usize) -> Vec<u8> {
    (0..160)
        .map(|i| {
            let t = (n * 160 + i) as f64 / 8000.0;
            let s = (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
            voxgate_codecs::g711::ulaw_encode_sample(s)
        })
        .collect()
}

/// RMS of a µ-law payload.
pub fn ulaw_rms(payload: &[u8]) -> f64 {
    let sum: f64 = payload
        .iter()
        .map(|&b| f64::from(voxgate_codecs::g711::ulaw_decode_sample(b)).powi(2))
        .sum();
    (sum / payload.len().max(1) as f64).sqrt()
}

/// How many of the packets that came back carry, byte for byte, a payload we sent.
pub fn echoed(sent: &HashSet<Vec<u8>>, received: &[Received]) -> usize {
    received
        .iter()
        .filter(|p| sent.contains(&p.payload))
        .count()
}

/// One PCMU packet that came back: sequence, timestamp, SSRC, payload.
pub struct Received {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// RTP SSRC.
    pub ssrc: u32,
    /// The µ-law payload.
    pub payload: Vec<u8>,
    /// When it arrived, in ms since the call's media started.
    pub at_ms: u64,
}

/// Calls the node as a PCMU caller written here (INVITE, 200, ACK over UDP), sends `frames`
/// frames of a 440 Hz tone paced at 20 ms and collects what comes back. Returns the payloads
/// sent and the packets received. The pacing is the socket read timeout, not a sleep.
pub fn call_with_tone(
    node: &Node,
    call_id: &str,
    frames: usize,
) -> (HashSet<Vec<u8>>, Vec<Received>) {
    let out = scripted_call(
        node,
        &CallScript {
            call_id,
            frames,
            ..CallScript::default()
        },
    );
    (out.sent, out.received)
}

/// What a [`scripted_call`] does once its call is up.
#[derive(Default)]
pub struct CallScript<'a> {
    /// The Call-ID.
    pub call_id: &'a str,
    /// 20 ms frames paced out (silence before `tone_from`, the 440 Hz tone from there on).
    pub frames: usize,
    /// The first frame that carries the tone.
    pub tone_from: usize,
    /// Press these RFC 4733 events (0-15), each at its frame, instead of sending audio.
    pub dtmf: &'a [(usize, u8)],
    /// Keep listening (media and SIP) this long after the last frame for the node's BYE.
    pub linger: Duration,
}

/// What a [`scripted_call`] saw.
pub struct CallOutcome {
    /// The tone payloads sent.
    pub sent: HashSet<Vec<u8>>,
    /// The PCMU packets received.
    pub received: Vec<Received>,
    /// The node's BYE (answered 200), and when it came (ms since media start).
    pub bye: Option<(String, u64)>,
}

/// Frames of one RFC 4733 key press: event, then duration in 8 kHz units, the last three with
/// the end bit.
const DTMF_PACKETS: usize = 7;

/// [`call_with_tone`] with a script: silence, a key press, the tone, and the node's BYE
/// answered (with `linger` to wait for it; the call's media is then over).
pub fn scripted_call(node: &Node, script: &CallScript<'_>) -> CallOutcome {
    let call_id = script.call_id;
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (sip_port, media_port) = (
        sip.local_addr().unwrap().port(),
        media.local_addr().unwrap().port(),
    );
    let (formats, dtmf_map) = if !script.dtmf.is_empty() {
        (
            "0 101",
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
        )
    } else {
        ("0", "")
    };
    let invite = format!(
        "INVITE sip:+15550100@{n} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK{call_id};rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=c1\r\nTo: <sip:+15550100@{n}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:{sip_port}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\
         c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {media_port} RTP/AVP {formats}\r\n{dtmf_map}a=ptime:20\r\n",
        n = node.sip
    );
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sip.send_to(invite.as_bytes(), node.sip).unwrap();
    let mut buf = [0u8; 4096];
    let ok = loop {
        let (n, _) = sip.recv_from(&mut buf).expect("200 OK");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
    };
    let to = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .unwrap()
        .to_owned();
    let ack = format!(
        "ACK sip:voxgate@{n} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKack{call_id};rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=c1\r\n{to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        n = node.sip
    );
    sip.send_to(ack.as_bytes(), node.sip).unwrap();
    sip.set_nonblocking(true).unwrap();
    let port: u16 = ok
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("answer port");

    let mut sent = HashSet::new();
    let mut received = Vec::new();
    let mut bye = None;
    let start = Instant::now();
    let mut next = 0usize;
    let mut seq = 0u16;
    let frames = script.frames;
    let send_until = Duration::from_millis(frames as u64 * 20);
    let listen_until = send_until + Duration::from_secs(1).max(script.linger);
    while start.elapsed() < listen_until {
        let due = start + Duration::from_millis(next as u64 * 20);
        if next < frames && Instant::now() >= due {
            let press = script
                .dtmf
                .iter()
                .copied()
                .find(|(at, _)| (*at..*at + DTMF_PACKETS).contains(&next));
            let mut pkt = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d];
            seq = seq.wrapping_add(1);
            pkt[2..4].copy_from_slice(&seq.to_be_bytes());
            if let Some((at, event)) = press {
                let i = next - at;
                let end = if i + 3 >= DTMF_PACKETS { 0x80 } else { 0 };
                let duration = (i.min(DTMF_PACKETS - 3) as u16 + 1) * 160;
                pkt[1] = 101 | if i == 0 { 0x80 } else { 0 };
                pkt[4..8].copy_from_slice(&(at as u32 * 160).to_be_bytes());
                pkt.extend_from_slice(&[event, end | 10]);
                pkt.extend_from_slice(&duration.to_be_bytes());
            } else {
                let payload = if next >= script.tone_from {
                    tone_frame(next)
                } else {
                    vec![0xff; 160]
                };
                pkt[4..8].copy_from_slice(&(next as u32 * 160).to_be_bytes());
                pkt.extend_from_slice(&payload);
                if next >= script.tone_from {
                    sent.insert(payload);
                }
            }
            media.send_to(&pkt, ("127.0.0.1", port)).unwrap();
            next += 1;
            continue;
        }
        if let Ok((n, from)) = sip.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("BYE ") {
                sip.send_to(ok_to(&text).as_bytes(), from).unwrap();
                bye = Some((text, start.elapsed().as_millis() as u64));
                if next >= frames {
                    break;
                }
            }
        }
        let wait = if next < frames {
            due.saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), Duration::from_millis(20))
        } else {
            Duration::from_millis(20)
        };
        media.set_read_timeout(Some(wait)).unwrap();
        if let Ok((n, _)) = media.recv_from(&mut buf) {
            if n > 12 && buf[1] & 0x7f == 0 {
                received.push(Received {
                    seq: u16::from_be_bytes([buf[2], buf[3]]),
                    ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
                    ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
                    payload: buf[12..n].to_vec(),
                    at_ms: start.elapsed().as_millis() as u64,
                });
            }
        }
    }
    CallOutcome {
        sent,
        received,
        bye,
    }
}

/// The 200 OK to a request: its Via, From, To, Call-ID and CSeq copied.
fn ok_to(request: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for line in request.lines() {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"].contains(&name.as_str()) {
            out.push_str(line.trim_end());
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// Runs baresip (Debian `baresip-core`) once: it dials `target` with a 440 Hz sine as its
/// microphone, hangs up after 4 s and quits. `extra_config` adds config lines (e.g.
/// `sip_cafile`), `account` is its accounts line. Returns what it printed.
pub fn baresip_dial(target: &str, account: &str, extra_config: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let rtp = free_port() & !1;
    let config = format!(
        "poll_method epoll\n\
         sip_listen 127.0.0.1:{}\n\
         {extra_config}\
         module_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule ausine.so\nmodule aufile.so\n\
         module_app account.so\nmodule_app menu.so\n\
         audio_source ausine,440\nausrc_srate 48000\nausrc_channels 2\n\
         audio_alert aufile,/dev/null\n\
         rtp_ports {rtp}-{}\n",
        free_port(),
        rtp + 40
    );
    std::fs::write(dir.path().join("config"), config).expect("baresip config");
    std::fs::write(dir.path().join("accounts"), format!("{account}\n")).expect("accounts");
    std::fs::write(dir.path().join("contacts"), "").expect("contacts");
    let out = Command::new("baresip")
        .arg("-f")
        .arg(dir.path())
        .arg("-e")
        .arg(format!("/dial {target}"))
        .args(["-t", "4"])
        .stdin(Stdio::null())
        .output()
        .expect("run baresip (Debian package baresip-core)");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// baresip calls `target` ([`baresip_dial`]): asserts that the call was established and that
/// the node's RTP reached baresip ("incoming rtp for 'audio' established"), then waits for the
/// call's session record and returns it.
pub fn baresip_call_ok(
    node: &Node,
    target: &str,
    account: &str,
    extra_config: &str,
) -> voxgate_engine::store::SessionRecord {
    let text = baresip_dial(target, account, extra_config);
    assert!(text.contains("Call established"), "baresip output:\n{text}");
    assert!(
        text.contains("incoming rtp for 'audio' established"),
        "no audio came back:\n{text}\nnode:\n{}",
        node.log()
    );
    first_session_record(node)
}

/// Each agent leg of an `invite` hand-back as `(cause, final status)`, in dialling order.
pub fn agent_causes(esc: &voxgate_engine::store::Escalation) -> Vec<(&str, Option<u16>)> {
    esc.agent_legs
        .iter()
        .map(|l| (l.cause.as_str(), l.status))
        .collect()
}
