//! `voxgate storm`: a call-storm generator that checks every call (ARCHITECTURE §3).
//!
//! It places SIP calls over UDP against a node or a proxy at a given rate up to a given
//! concurrency, streams real G.711 RTP at 20 ms pacing on each, and checks that:
//! the call is answered; our own audio comes back (every frame carries a signature with the
//! call and frame number, so content is checked, not counted — see [`signature`]); an
//! escalating call (it presses `0` with RFC 4733) gets a BYE with the expected reason header,
//! any other call hangs up after its hold time with a BYE that gets its 200. Failures are
//! counted by kind; setup latency and media round trip go into histograms.
//!
//! With `--mode talkdesk` each call is a Talkdesk voice stream instead ([`talkdesk`]): a
//! WebSocket to the node's `/audiosocket/talkdesk/` with a token signed as Talkdesk signs it,
//! the same signed frames as base64 `media` events, `dtmf` `0` for the escalating share (the
//! node's `stop` must say `escalate`) and Talkdesk's `stop` for the others.
//!
//! The generator must cost much less than the node it loads, or a storm measures itself:
//! one thread, one SIP and one RTP socket (or one WebSocket per stream), one timer wheel paces
//! every call (the driver loop shared by both modes), and no allocation per packet ([`media`],
//! [`talkdesk::events`]).
//!
//! With `--echo-target` every RTP packet is also sent to a bare UDP echo (the `udp_echo`
//! binary of this crate), so the node's CPU per packet is reported next to the least a program
//! can spend per packet, measured on the same storm.
//!
//! - [`StormArgs`]: the command line (`voxgate storm --help`); [`run_cli`] runs it and prints.
//! - [`run`] with [`Options`]: the library entry; returns a [`Report`].

pub mod call;
mod driver;
pub mod frames;
pub mod generator;
pub mod media;
pub mod proc_stat;
pub mod report;
pub mod signature;
pub mod sip;
pub mod sip_link;
pub mod talkdesk;
pub mod tones;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

pub use generator::{run, Codec, Mode, Options};
pub use report::Report;
pub use signature::Law;
pub use sip_link::Transport;
pub use talkdesk::TalkdeskOptions;

/// Why a storm could not run (call failures are not errors: they are in the report).
#[derive(Debug, thiserror::Error)]
pub enum StormError {
    /// A socket could not be set up or failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// Contradictory or out-of-range options.
    #[error("options: {0}")]
    Options(&'static str),
    /// Our own SDP offer could not be built.
    #[error("SDP offer: {0}")]
    Offer(String),
    /// The storm's own audio could not be encoded or decoded.
    #[error("codec: {0}")]
    Codec(String),
}

/// The codec a storm offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodecArg {
    /// G.711 µ-law.
    #[value(name = "PCMU", alias = "pcmu")]
    Pcmu,
    /// G.711 A-law.
    #[value(name = "PCMA", alias = "pcma")]
    Pcma,
    /// Opus (48 kHz RTP clock; each call plays its own pair of tones, see `tones`).
    #[value(name = "OPUS", alias = "opus")]
    Opus,
}

/// The SIP transport of a storm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportArg {
    /// One UDP socket; INVITE and BYE retransmitted on RFC 3261's timers.
    Udp,
    /// One TCP connection carrying every call, as a trunk does.
    Tcp,
}

/// What each call of a storm is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// SIP (UDP or TCP, `--transport`) with RTP media (`--target` is the SIP address).
    Sip,
    /// Talkdesk voice streams over WebSocket (`--target` is the node's HTTP address).
    Talkdesk,
}

/// `voxgate storm`: generate a call storm against a node or a proxy and check every call.
#[derive(Debug, Clone, clap::Args)]
pub struct StormArgs {
    /// SIP address of the node or proxy; with `--mode talkdesk`, the node's HTTP address.
    #[arg(long)]
    pub target: SocketAddr,
    /// SIP transport (SIP mode): `udp`, or `tcp` (one connection for all calls).
    #[arg(long, value_enum, default_value = "udp")]
    pub transport: TransportArg,
    /// What each call is: a SIP call with RTP, or a Talkdesk WebSocket stream.
    #[arg(long, value_enum, default_value = "sip")]
    pub mode: ModeArg,
    /// Most calls in progress at once.
    #[arg(long, default_value_t = 100)]
    pub calls: usize,
    /// New calls per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// How long new calls are started (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Stop starting calls after this many, even before --duration is over.
    #[arg(long)]
    pub total: Option<u64>,
    /// How long each answered call lasts before it hangs up (or presses the digit).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub hold: Duration,
    /// Share of calls (0..1) that press `0` (RFC 4733) and expect the node's escalation BYE.
    #[arg(long, default_value_t = 0.0)]
    pub dtmf_escalate: f64,
    /// Codec offered.
    #[arg(long, value_enum, default_value = "PCMU")]
    pub codec: CodecArg,
    /// Dialled number (Request-URI user part).
    #[arg(long, default_value = "+15550100")]
    pub did: String,
    /// Local IP to bind SIP and RTP to (used in Via, Contact and SDP).
    #[arg(long, default_value = "127.0.0.1")]
    pub local_ip: IpAddr,
    /// How long a call may wait for its final response.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub setup_timeout: Duration,
    /// Header carrying the node's BYE reason.
    #[arg(long, default_value = "kore-reason")]
    pub reason_header: String,
    /// The reason an escalating call expects on the node's BYE.
    #[arg(long, default_value = "TransferToAgent")]
    pub escalate_reason: String,
    /// Talkdesk mode: the `botId` of the stream URL.
    #[arg(long, default_value = "demo")]
    pub bot: String,
    /// Talkdesk mode: the bot's client id (the token's `appId`).
    #[arg(long, default_value = "demo-client")]
    pub client_id: String,
    /// Talkdesk mode: the bot's client secret, which signs the stream token (HS256).
    #[arg(long, default_value = "demo-secret")]
    pub client_secret: String,
    /// Talkdesk mode: the `accountId` of the stream URL.
    #[arg(long, default_value = "storm")]
    pub account_id: String,
    /// Talkdesk mode: the `ringGroup` an escalating stream expects on the node's `stop`
    /// (empty: any).
    #[arg(long, default_value = "agents")]
    pub ring_group: String,
    /// The node's pid: report its CPU per call and memory next to the storm's.
    #[arg(long)]
    pub node_pid: Option<u32>,
    /// A bare UDP echo (`udp_echo`) to mirror every RTP packet to, so that its CPU per packet
    /// is measured on the same storm as the node's. Repeated: call n mirrors to the
    /// (n mod count)-th address, e.g. one relay per call (benches/rtpengine.sh).
    #[arg(long)]
    pub echo_target: Vec<SocketAddr>,
    /// The echo's pid: report its CPU per packet next to the node's.
    #[arg(long)]
    pub echo_pid: Option<u32>,
    /// Print the report as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl StormArgs {
    /// The options these arguments ask for.
    pub fn options(&self) -> Options {
        Options {
            mode: match self.mode {
                ModeArg::Sip => Mode::Sip,
                ModeArg::Talkdesk => Mode::Talkdesk(TalkdeskOptions {
                    bot: self.bot.clone(),
                    client_id: self.client_id.clone(),
                    client_secret: self.client_secret.clone(),
                    account_id: self.account_id.clone(),
                    ring_group: self.ring_group.clone(),
                }),
            },
            target: self.target,
            transport: match self.transport {
                TransportArg::Udp => Transport::Udp,
                TransportArg::Tcp => Transport::Tcp,
            },
            max_concurrent: self.calls,
            rate: self.rate,
            duration: self.duration,
            total: self.total,
            hold: self.hold,
            escalate_share: self.dtmf_escalate,
            codec: match self.codec {
                CodecArg::Pcmu => Codec::G711(Law::Ulaw),
                CodecArg::Pcma => Codec::G711(Law::Alaw),
                CodecArg::Opus => Codec::Opus,
            },
            did: self.did.clone(),
            local_ip: self.local_ip,
            setup_timeout: self.setup_timeout,
            reason_header: self.reason_header.clone(),
            escalate_reason: self.escalate_reason.clone(),
            node_pid: self.node_pid,
            echo_target: self.echo_target.clone(),
            echo_pid: self.echo_pid,
            progress: !self.quiet,
        }
    }
}

/// Runs `voxgate storm` and prints its report; the exit code is non-zero when any call
/// failed (2) or the storm could not run (1).
pub fn run_cli(args: &StormArgs) -> ExitCode {
    match run(args.options()) {
        Ok(report) => {
            let text = if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => text + "\n",
                    Err(e) => {
                        eprintln!("voxgate storm: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                report.to_string()
            };
            // A reader that went away (a closed pipe) loses the report, not the exit code.
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            if report.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("voxgate storm: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses `1.5s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (e.g. 30s, 500ms, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("not a duration: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
