//! What the SIP endpoint needs to know about where a message came from and how to answer it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Transport kinds the node speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// UDP.
    Udp,
    /// TCP (Content-Length framed stream).
    Tcp,
    /// TLS over TCP (the same framing inside the TLS stream).
    Tls,
}

impl Kind {
    /// The metrics label of the transport.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Udp => "udp",
            Kind::Tcp => "tcp",
            Kind::Tls => "tls",
        }
    }
}

/// Where an inbound message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// Transport.
    pub kind: Kind,
    /// The peer's address as the socket saw it.
    pub source: SocketAddr,
    /// Our address it arrived on.
    pub local: SocketAddr,
    /// The TCP or TLS connection it arrived on.
    pub connection: Option<u64>,
}

/// The node's sockets, for sending: the UDP socket and the live TCP connections.
#[derive(Debug, Clone)]
pub struct Outbound {
    udp: Arc<UdpSocket>,
    tcp: Arc<Mutex<HashMap<u64, TcpConn>>>,
    next_conn: Arc<AtomicU64>,
}

#[derive(Debug)]
struct TcpConn {
    peer: SocketAddr,
    /// TCP or TLS.
    kind: Kind,
    tx: mpsc::Sender<Vec<u8>>,
    certified: Certified,
}

/// The trunks whose client-certificate demands (`[trunks.tls]`) a connection's certificate
/// met, one bit per such trunk in configuration order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Certified(pub u64);

impl Certified {
    /// Whether the trunk with bit `bit` accepted the certificate.
    pub fn contains(self, bit: usize) -> bool {
        bit < 64 && self.0 & (1 << bit) != 0
    }
}

impl Outbound {
    /// Wraps the bound UDP socket; TCP connections register themselves.
    pub fn new(udp: Arc<UdpSocket>) -> Outbound {
        Outbound {
            udp,
            tcp: Arc::new(Mutex::new(HashMap::new())),
            next_conn: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Registers a TCP or TLS connection's writer and the trunks its client certificate
    /// satisfied, and returns its id.
    pub(crate) fn add_tcp(
        &self,
        peer: SocketAddr,
        kind: Kind,
        tx: mpsc::Sender<Vec<u8>>,
        certified: Certified,
    ) -> u64 {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.lock_tcp().insert(
            id,
            TcpConn {
                peer,
                kind,
                tx,
                certified,
            },
        );
        id
    }

    /// The trunks connection `id`'s client certificate satisfied (none for UDP, TCP, a TLS
    /// client without a certificate, or a closed connection).
    pub fn certified(&self, id: Option<u64>) -> Certified {
        id.and_then(|id| self.lock_tcp().get(&id).map(|c| c.certified))
            .unwrap_or_default()
    }

    /// Whether a live connection of `kind` (TCP or TLS) to `peer` is registered.
    pub(crate) fn has_stream(&self, peer: SocketAddr, kind: Kind) -> bool {
        self.lock_tcp()
            .values()
            .any(|c| c.peer == peer && c.kind == kind)
    }

    /// Forgets a closed TCP connection.
    pub(crate) fn remove_tcp(&self, id: u64) {
        self.lock_tcp().remove(&id);
    }

    fn lock_tcp(&self) -> std::sync::MutexGuard<'_, HashMap<u64, TcpConn>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts
        // and removes), so a poisoned lock is still usable.
        self.tcp.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends bytes: on the given connection (or any live one of that transport to `dest`),
    /// else by UDP.
    /// Never blocks; a full socket or queue drops the message and counts it, as UDP would.
    pub fn send(&self, kind: Kind, dest: SocketAddr, connection: Option<u64>, bytes: Vec<u8>) {
        match kind {
            Kind::Udp => {
                if self.udp.try_send_to(&bytes, dest).is_err() {
                    metrics::counter!(crate::metrics::SEND_ERRORS).increment(1);
                }
            }
            Kind::Tcp | Kind::Tls => {
                let conns = self.lock_tcp();
                let conn = connection
                    .and_then(|id| conns.get(&id))
                    .or_else(|| conns.values().find(|c| c.peer == dest && c.kind == kind));
                match conn {
                    Some(c) if c.tx.try_send(bytes).is_ok() => {}
                    _ => metrics::counter!(crate::metrics::SEND_ERRORS).increment(1),
                }
            }
        }
    }
}
