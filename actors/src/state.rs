//! Node-wide state shared by the transports, the call actors and the HTTP handlers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use voxgate_codecs::wav::Wav;
use voxgate_engine::config::{Config, Ringback};
use voxgate_engine::store::Store;

/// What every part of a node can see: the configuration, whether it drains, how many calls live.
pub struct NodeState {
    /// The configuration the node runs on.
    pub config: Arc<Config>,
    /// Where session records and hand-back data go. Blocking: call it off the event loops.
    pub store: Arc<dyn Store>,
    /// The `invite` trunks' ringback files (`ringback = "file"`) by path, read once at start.
    pub ringback_files: HashMap<String, Arc<Wav>>,
    /// The TLS client configurations of the `invite` trunks that call agents over TLS, by
    /// trunk name, loaded once at start.
    pub agent_tls: HashMap<String, Arc<rustls::ClientConfig>>,
    draining: AtomicBool,
    active_calls: AtomicUsize,
}

/// Reads every `ringback = "file"` WAV of `config` once. Validation has already read each one;
/// a file that has since become unreadable is logged, and its calls ring in silence.
fn read_ringback_files(config: &Config) -> HashMap<String, Arc<Wav>> {
    let mut files = HashMap::new();
    for trunk in &config.trunks {
        let invite = &trunk.invite;
        let path = invite.ringback_file.trim();
        if invite.ringback != Ringback::File || files.contains_key(path) {
            continue;
        }
        match invite.ringback_wav() {
            Ok(wav) => {
                files.insert(path.to_owned(), Arc::new(wav));
            }
            Err(error) => tracing::warn!(trunk = %trunk.name, %error, "ringback file not read"),
        }
    }
    files
}

/// Loads the TLS client configuration of every `invite` trunk with `transport = "tls"`.
/// Validation has checked the files exist; one that does not load is logged, and that trunk's
/// agent calls fail (and fall back) until it is fixed.
fn load_agent_tls(config: &Config) -> HashMap<String, Arc<rustls::ClientConfig>> {
    let mut configs = HashMap::new();
    for trunk in config.trunks.iter().filter(|t| t.invite.uses_tls()) {
        match crate::sip::tls::agent_client_config(&trunk.invite) {
            Ok(c) => {
                configs.insert(trunk.name.clone(), c);
            }
            Err(error) => {
                tracing::error!(trunk = %trunk.name, %error, "agent TLS configuration not loaded")
            }
        }
    }
    configs
}

impl NodeState {
    /// Fresh state for a node starting on `config` with `store`.
    pub fn new(config: Config, store: Arc<dyn Store>) -> Arc<NodeState> {
        let ringback_files = read_ringback_files(&config);
        let agent_tls = load_agent_tls(&config);
        Arc::new(NodeState {
            config: Arc::new(config),
            store,
            ringback_files,
            agent_tls,
            draining: AtomicBool::new(false),
            active_calls: AtomicUsize::new(0),
        })
    }

    /// Whether the node refuses new calls because it is shutting down.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Starts draining: new calls are refused from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Live calls right now.
    pub fn active_calls(&self) -> usize {
        self.active_calls.load(Ordering::Acquire)
    }

    /// Takes a call slot unless the node is at its cap; the guard gives it back when dropped.
    pub fn try_admit_call(self: &Arc<Self>) -> Option<CallSlot> {
        let cap = self.config.node.max_calls;
        let mut current = self.active_calls.load(Ordering::Acquire);
        loop {
            if current >= cap {
                return None;
            }
            match self.active_calls.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    metrics::gauge!(crate::metrics::ACTIVE_CALLS).set((current + 1) as f64);
                    return Some(CallSlot {
                        state: Arc::clone(self),
                    });
                }
                Err(seen) => current = seen,
            }
        }
    }
}

impl std::fmt::Debug for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeState")
            .field("draining", &self.is_draining())
            .field("active_calls", &self.active_calls())
            .finish_non_exhaustive()
    }
}

/// One admitted call; dropping it frees the slot.
#[derive(Debug)]
pub struct CallSlot {
    state: Arc<NodeState>,
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        let before = self.state.active_calls.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!(crate::metrics::ACTIVE_CALLS).set(before.saturating_sub(1) as f64);
    }
}
