//! The reference WebSocket bot (examples/ws_echo_bot.rs) as a process the tests start, watch
//! and kill.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{free_port, wait_until, DEFAULT_TOML};

/// The reference bot, running.
pub struct Bot {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Bot {
    /// Starts the bot on a free port with `extra` arguments and waits until it listens.
    pub fn start(extra: &[&str]) -> Bot {
        let exe = example_binary();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = Command::new(exe)
            .args(["--listen", &addr.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ws_echo_bot");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        assert!(
            wait_until(Duration::from_secs(20), || TcpStream::connect(addr).is_ok()),
            "ws_echo_bot does not listen"
        );
        Bot { child, addr, log }
    }

    /// Streams the bot has seen start (its `start:` log lines).
    pub fn streams_started(&self) -> usize {
        self.logged("start:")
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Lines of its log that start with `prefix` (`stop:` for streams the node stopped).
    pub fn logged(&self, prefix: &str) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.starts_with(prefix)).count()
    }

    /// Kills the bot (a bot dying mid-call).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.kill();
    }
}

/// target/debug/examples/ws_echo_bot, built by the test run (or now, when it is not).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir.join("examples").join("ws_echo_bot");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "ws_echo_bot"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --example ws_echo_bot");
        assert!(status.success());
    }
    path
}

/// The default config with the demo bot turned into a WebSocket bot at `bot`.
pub fn config(bot: SocketAddr, format: &str) -> String {
    let mut text = DEFAULT_TOML.replace("kind = \"builtin\"", "kind = \"websocket\"");
    text.push_str(&format!(
        "\n[bots.websocket]\nurl = \"ws://{bot}/stream\"\nformat = \"{format}\"\n\
         connect_timeout_ms = 1000\n[bots.restart]\nmax_restarts = 2\nwindow_secs = 10\n\
         backoff_ms = 100\n"
    ));
    text
}
