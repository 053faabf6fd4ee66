//! Wiring of a node: binds the SIP sockets and the HTTP listener, starts the endpoint and the
//! call arbiters, prints the listening line, and drains on SIGTERM / Ctrl-C.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Arbiter, System};
use tokio::net::{TcpListener, UdpSocket};

use crate::calls::CallRegistry;
use crate::sip::endpoint::SipEndpoint;
use crate::sip::transport::Outbound;
use crate::state::NodeState;

/// Runs a node on `config` until it is told to stop; returns once it has drained.
pub fn run(config: voxgate_engine::config::Config) -> std::io::Result<()> {
    let store = voxgate_engine::store::open(&config.store).map_err(|e| {
        std::io::Error::other(format!(
            "cannot open the {:?} store: {e}",
            config.store.kind
        ))
    })?;
    let system = System::new();
    let state = NodeState::new(config, store);
    let result: std::io::Result<()> = system.block_on(async move {
        let prometheus = crate::metrics::install();
        let (udp, tcp) = bind_sip(state.config.node.sip_listen).await?;
        let sip_addr = udp.local_addr()?;
        let arbiters: Vec<Arbiter> = (0..worker_count()).map(|_| Arbiter::new()).collect();
        let registry = CallRegistry::new(arbiters.iter().map(|a| a.handle()).collect());
        let (http, http_addr) =
            crate::http::server(Arc::clone(&state), registry.clone(), prometheus)?;
        let http_handle = http.handle();
        actix::spawn(http);
        let udp = Arc::new(udp);
        let outbound = Outbound::new(Arc::clone(&udp));
        let endpoint = SipEndpoint::new(
            Arc::clone(&state),
            outbound.clone(),
            registry.clone(),
            sip_addr,
        )
        .start();
        actix::spawn(crate::sip::udp::receive_loop(udp, endpoint.clone()));
        actix::spawn(crate::sip::tcp::accept_loop(
            tcp,
            endpoint.clone(),
            outbound.clone(),
            state.config.sip.max_tcp_connections,
            state.config.sip.max_message_bytes,
        ));
        let tls_addr = match state.config.tls.listen {
            Some(addr) => {
                let setup = crate::sip::tls::server_config(&state.config)?;
                let listener = TcpListener::bind(addr).await?;
                let bound = listener.local_addr()?;
                actix::spawn(crate::sip::tls::accept_loop(
                    listener,
                    setup,
                    endpoint.clone(),
                    outbound,
                    state.config.sip.max_tcp_connections,
                    state.config.sip.max_message_bytes,
                ));
                Some(bound)
            }
            None => None,
        };

        announce(sip_addr, http_addr, tls_addr);
        if is_demo_secret_exposed(&state) {
            tracing::warn!(
                "the demo bot's Talkdesk secret is served on a non-loopback address; \
                 change [[bots]] client_secret before exposing this node"
            );
        }

        wait_for_shutdown_signal().await;
        drain(&state, &registry).await;
        http_handle.stop(true).await;
        for a in &arbiters {
            a.stop();
        }
        Ok(())
    });
    System::current().stop();
    result
}

/// One arbiter per core for the calls; the endpoint stays on the main one.
fn worker_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Binds UDP and TCP on the same port. With port 0 the kernel picks the UDP port and TCP
/// follows it, retrying when that port is taken for TCP.
async fn bind_sip(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last_err = None;
    for _ in 0..32 {
        let udp = UdpSocket::bind(addr).await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no port free for UDP and TCP")))
}

/// The one line scripts and tests read to learn the ports (also with port 0); `sips=` is
/// there when the TLS listener runs.
fn announce(sip: SocketAddr, http: SocketAddr, tls: Option<SocketAddr>) {
    tracing::info!(%sip, %http, ?tls, "voxgate listening");
    let mut out = std::io::stdout().lock();
    let tls = tls.map(|a| format!(" sips={a}")).unwrap_or_default();
    let _ = writeln!(out, "voxgate listening sip={sip} http={http}{tls}");
    let _ = out.flush();
}

fn is_demo_secret_exposed(state: &NodeState) -> bool {
    let public = !state.config.node.http_listen.ip().is_loopback();
    public
        && state
            .config
            .bots
            .iter()
            .any(|b| b.client_secret.as_deref() == Some("demo-secret"))
}

async fn wait_for_shutdown_signal() {
    use actix_rt::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let ctrl_c = actix_rt::signal::ctrl_c();
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = ctrl_c => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

/// Draining: new calls get 503 from now on, live calls run to their end until the deadline,
/// then the rest are ended with BYE.
async fn drain(state: &Arc<NodeState>, registry: &CallRegistry) {
    state.start_draining();
    let deadline = Duration::from_secs(state.config.node.drain_deadline_secs);
    tracing::info!(active_calls = state.active_calls(), ?deadline, "draining");
    let started = Instant::now();
    while state.active_calls() > 0 && started.elapsed() < deadline {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    if state.active_calls() > 0 {
        tracing::warn!(
            active_calls = state.active_calls(),
            "drain deadline reached; ending calls"
        );
        registry.hang_up_all();
        let grace = Instant::now();
        while state.active_calls() > 0 && grace.elapsed() < Duration::from_secs(5) {
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tracing::info!("drained");
}
