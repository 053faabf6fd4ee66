//! The call registry: Call-ID → the call's actor, shared by the transports (dispatch), the
//! node (drain) and the call-control API (which also finds calls by session id). Calls are placed
//! round-robin on the per-core arbiters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::{Actor, Addr, ArbiterHandle};
use dashmap::DashMap;

use super::call::{Call, Shutdown};

/// Live calls by Call-ID.
#[derive(Clone)]
pub struct CallRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    calls: DashMap<Box<str>, Addr<Call>>,
    /// Session id → Call-ID, and back (to forget both at once).
    sessions: DashMap<Box<str>, Box<str>>,
    session_of: DashMap<Box<str>, Box<str>>,
    arbiters: Vec<ArbiterHandle>,
    next: AtomicUsize,
}

impl CallRegistry {
    /// A registry that starts calls on `arbiters` in turn (on the current one if empty).
    pub fn new(arbiters: Vec<ArbiterHandle>) -> CallRegistry {
        CallRegistry {
            inner: Arc::new(Inner {
                calls: DashMap::new(),
                sessions: DashMap::new(),
                session_of: DashMap::new(),
                arbiters,
                next: AtomicUsize::new(0),
            }),
        }
    }

    /// The call with this Call-ID.
    pub fn get(&self, call_id: &str) -> Option<Addr<Call>> {
        self.inner.calls.get(call_id).map(|c| c.clone())
    }

    /// The call with this session id or, failing that, this Call-ID.
    pub fn find(&self, id: &str) -> Option<Addr<Call>> {
        let call_id = self.inner.sessions.get(id).map(|c| c.clone());
        call_id.and_then(|c| self.get(&c)).or_else(|| self.get(id))
    }

    /// Every registered call (a snapshot).
    pub fn all(&self) -> Vec<Addr<Call>> {
        self.inner.calls.iter().map(|e| e.value().clone()).collect()
    }

    /// Starts `call` on the next arbiter and registers it under `call_id`.
    pub fn spawn(&self, call_id: &str, call: Call) -> Addr<Call> {
        let session_id: Box<str> = call.session_id().into();
        self.inner
            .sessions
            .insert(session_id.clone(), call_id.into());
        self.inner.session_of.insert(call_id.into(), session_id);
        let n = self.inner.arbiters.len();
        let addr = if n == 0 {
            call.start()
        } else {
            let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % n;
            Call::start_in_arbiter(&self.inner.arbiters[i], move |_| call)
        };
        self.inner.calls.insert(call_id.into(), addr.clone());
        addr
    }

    /// Forgets a call (it has ended).
    pub fn remove(&self, call_id: &str) {
        self.inner.calls.remove(call_id);
        if let Some((_, session_id)) = self.inner.session_of.remove(call_id) {
            self.inner.sessions.remove(&session_id);
        }
    }

    /// Number of registered calls.
    pub fn len(&self) -> usize {
        self.inner.calls.len()
    }

    /// Whether no call is registered.
    pub fn is_empty(&self) -> bool {
        self.inner.calls.is_empty()
    }

    /// Tells every call to end now (drain deadline).
    pub fn hang_up_all(&self) {
        for entry in self.inner.calls.iter() {
            entry.value().do_send(Shutdown);
        }
    }
}
