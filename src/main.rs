//! The `voxgate` command: runs a node, checks configurations, generates call storms, manages
//! client credentials.

mod credentials;

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
    /// Generate a call storm (SIP + RTP) against a node or proxy and check every call.
    Storm(voxgate_storm::StormArgs),
    /// Manage the OAuth2 client credentials of Talkdesk Digital Connect (in the configured store).
    Credentials {
        /// Configuration file naming the store; the embedded default when absent.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: credentials::CredentialsCommand,
    },
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

fn run_node(config: Config) -> anyhow::Result<()> {
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
