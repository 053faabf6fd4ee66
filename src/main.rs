//! The `voxgate` command: runs a node, checks configurations, generates call storms, prints
//! Talkdesk stream URLs, manages client credentials.

mod credentials;
mod fd_limit;
mod talkdesk_url;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use voxgate_engine::config::{Config, PortRange, DEFAULT_TOML};

/// voxgate: bridges contact-center calls to voice bots and hands them back.
#[derive(Parser)]
#[command(name = "voxgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (SIP, RTP, HTTP). Without --config it runs on the embedded default config.
    Run(RunArgs),
    /// Validate a configuration file and exit non-zero with the problems found.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Print the embedded default configuration (a starting point for your own).
    DefaultConfig,
    /// Generate a call storm (SIP + RTP, or Talkdesk WebSocket streams) against a node or
    /// proxy and check every call.
    Storm(Box<voxgate_storm::StormArgs>),
    /// Manage the OAuth2 client credentials of Talkdesk Digital Connect (in the configured store).
    Credentials {
        /// Configuration file naming the store; the embedded default when absent.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: credentials::CredentialsCommand,
    },
    /// Print a Talkdesk Voice Stream URL with a freshly signed token (for Studio).
    TalkdeskUrl(TalkdeskUrlArgs),
}

#[derive(Args)]
struct TalkdeskUrlArgs {
    /// The bot id (its client_id/client_secret sign the token).
    #[arg(long)]
    bot: String,
    /// The number routed to the bot (`+` and digits).
    #[arg(long)]
    did: String,
    /// Public `host[:port]` of the node (wss://), or a full ws:// / wss:// base URL.
    /// Default: the configured HTTP listener over ws:// (wss:// with `[http] tls_cert`).
    #[arg(long)]
    host: Option<String>,
    /// Token lifetime in seconds (0: no expiry; Studio keeps the URL for as long as the flow).
    #[arg(long, default_value_t = 0)]
    ttl: u64,
    /// Configuration file (TOML); the embedded default when absent.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    /// Configuration file (TOML); the embedded default when absent.
    #[arg(long)]
    config: Option<PathBuf>,
    /// SIP UDP+TCP listen address (overrides [node] sip_listen).
    #[arg(long)]
    sip_listen: Option<SocketAddr>,
    /// HTTP listen address (overrides [node] http_listen).
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// RTP port range LO-HI (overrides [node] rtp_ports).
    #[arg(long)]
    rtp_ports: Option<PortRange>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            init_logging();
            match load_run_config(&args).and_then(run_node) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("voxgate: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckConfig { file } => match read_config(&file) {
            Ok(config) => {
                println!(
                    "{}: ok ({} trunk(s), {} bot(s))",
                    file.display(),
                    config.trunks.len(),
                    config.bots.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e:#}", file.display());
                ExitCode::from(2)
            }
        },
        Command::DefaultConfig => {
            print!("{DEFAULT_TOML}");
            ExitCode::SUCCESS
        }
        Command::Storm(args) => voxgate_storm::run_cli(&args),
        Command::Credentials { config, command } => {
            let result = match &config {
                Some(file) => read_config(file),
                None => Ok(Config::embedded_default()),
            }
            .and_then(|c| Ok(voxgate_engine::store::open(&c.store)?))
            .and_then(|store| credentials::run(&command, store.as_ref()));
            match result {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("voxgate credentials: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::TalkdeskUrl(args) => match talkdesk_url(&args) {
            Ok(url) => {
                println!("{url}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("voxgate: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

fn read_config(file: &PathBuf) -> anyhow::Result<Config> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(Config::from_toml(&text)?)
}

fn load_run_config(args: &RunArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(file) => read_config(file)?,
        None => Config::embedded_default(),
    };
    if let Some(addr) = args.sip_listen {
        config.node.sip_listen = addr;
    }
    if let Some(addr) = args.http_listen {
        config.node.http_listen = addr;
    }
    if let Some(range) = args.rtp_ports {
        config.node.rtp_ports = range;
    }
    Ok(config)
}

fn talkdesk_url(args: &TalkdeskUrlArgs) -> anyhow::Result<String> {
    let config = match &args.config {
        Some(file) => read_config(file)?,
        None => Config::embedded_default(),
    };
    talkdesk_url::stream_url(
        &config,
        &talkdesk_url::UrlRequest {
            bot: &args.bot,
            did: &args.did,
            host: args.host.as_deref(),
            ttl_secs: args.ttl,
            now: voxgate_engine::auth::jwt::unix_now(),
        },
    )
}

fn run_node(config: Config) -> anyhow::Result<()> {
    fd_limit::raise_and_log(config.node.max_calls);
    voxgate_actors::node::run(config).context("node failed")
}

/// Structured logs on stderr, quiet by default (`RUST_LOG` overrides; `VOXGATE_LOG_JSON=1`
/// switches to JSON lines).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,voxgate=info,voxgate_actors=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var_os("VOXGATE_LOG_JSON").is_some() {
        builder.json().init();
    } else {
        builder.init();
    }
}
