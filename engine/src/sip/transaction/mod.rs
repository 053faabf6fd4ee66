//! The SIP transaction layer (RFC 3261 §17, with the RFC 6026 Accepted states), sans-IO.
//!
//! [`TransactionLayer`] is fed received messages (`handle_request`, `handle_response`), TU
//! sends (`send_request`, `send_response`) and the clock (`handle_timeout`); it is drained with
//! `poll_transmit` (what to put on the wire, and where), `poll_event` (what the TU must know)
//! and `poll_timeout` (when to call `handle_timeout` next). It never reads a clock or socket.
//!
//! - [`key`]: how messages find their transaction ([`TransactionKey`]).
//! - [`timers`]: RFC 3261 Table 4 ([`TimerConfig`]).
//! - `invite_server`, `invite_client`, `non_invite_server`, `non_invite_client`: the four
//!   state machines (their states are public for inspection: [`InviteServerState`]…).
//! - [`cancel_for`], [`request_terminated`], [`ack_for_non_2xx`]: request/response builders.

use std::net::SocketAddr;

use crate::sip::message::{Request, Response, SipMessage, TypedError};

mod cancel;
mod invite_client;
mod invite_server;
pub mod key;
mod layer;
mod non_invite_client;
mod non_invite_server;
pub mod timers;

pub use cancel::{cancel_for, request_terminated};
pub use invite_client::{ack_for_non_2xx, InviteClientState};
pub use invite_server::InviteServerState;
pub use key::{new_branch, Role, TransactionKey};
pub use layer::TransactionLayer;
pub use non_invite_client::NonInviteClientState;
pub use non_invite_server::NonInviteServerState;
pub use timers::{TimerConfig, TryingPolicy};

/// The transport protocol a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// UDP: unreliable, the transactions retransmit.
    Udp,
    /// TCP: reliable.
    Tcp,
    /// TLS over TCP: reliable.
    Tls,
}

impl TransportKind {
    /// Whether the transport is reliable (RFC 3261 sets several timers to zero then).
    pub fn is_reliable(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }

    /// The transport token of a Via header (`UDP`, `TCP`, `TLS`).
    pub fn via_token(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }
}

/// Where and how a request was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportInfo {
    /// The transport.
    pub kind: TransportKind,
    /// The peer's address (the packet's source).
    pub source: SocketAddr,
    /// Our address it arrived on.
    pub local: SocketAddr,
    /// The connection it arrived on (reliable transports), reused for the responses.
    pub connection: Option<u64>,
}

/// Where a message is to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    /// The transport.
    pub kind: TransportKind,
    /// The peer address.
    pub addr: SocketAddr,
    /// An existing connection to use (reliable transports); `None` lets the transport pick or
    /// open one.
    pub connection: Option<u64>,
}

/// A message for the transport actor to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The message (print it with [`SipMessage::to_bytes`]).
    pub message: SipMessage,
    /// Where to send it.
    pub destination: Destination,
}

/// What the transaction user (the UA core, dialogs) has to know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TuEvent {
    /// A new request (never a retransmission) created a server transaction; answer it with
    /// [`TransactionLayer::send_response`].
    NewRequest {
        /// The server transaction.
        key: TransactionKey,
        /// The request, its top Via stamped with `received`/`rport` (RFC 3581).
        request: Request,
        /// Where it came from.
        source: TransportInfo,
    },
    /// A response for one of our client transactions.
    Response {
        /// The client transaction.
        key: TransactionKey,
        /// The response.
        response: Response,
    },
    /// An ACK to a 2xx (it has no transaction; RFC 3261 §17.2.3 and RFC 6026).
    Ack {
        /// The ACK.
        request: Request,
        /// Where it came from.
        source: TransportInfo,
    },
    /// A 2xx to an INVITE whose client transaction is gone (a forked or late 2xx): the TU
    /// should ACK it and, if it does not want the dialog, send BYE.
    StrayInvite2xx {
        /// The response.
        response: Response,
    },
    /// A CANCEL matched a pending INVITE server transaction; the CANCEL was answered 200. The
    /// TU should end the INVITE with [`TransactionLayer::send_request_terminated`].
    CancelReceived {
        /// The INVITE server transaction.
        invite_key: TransactionKey,
        /// The CANCEL request.
        cancel: Request,
    },
    /// Timer B, F or H fired: the transaction failed for lack of an answer or an ACK.
    Timeout {
        /// The transaction.
        key: TransactionKey,
    },
    /// The transport reported a failure for this transaction (RFC 3261 §17.1.4, §17.2.4).
    TransportError {
        /// The transaction.
        key: TransactionKey,
    },
}

/// Errors of the transaction layer: a message it cannot key, or a TU call out of place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// A header the transaction layer depends on is missing or malformed (answer 400).
    #[error(transparent)]
    Header(#[from] TypedError),
    /// The CSeq method differs from the request method (answer 400).
    #[error("CSeq method {cseq} does not match the request method {method}")]
    CSeqMismatch {
        /// The request method.
        method: String,
        /// The CSeq method.
        cseq: String,
    },
    /// Our own request's top Via branch lacks the `z9hG4bK` magic cookie.
    #[error("branch {0:?} does not start with z9hG4bK")]
    BadBranch(String),
    /// ACKs are sent without a transaction: use [`TransactionLayer::send_stateless`].
    #[error("an ACK has no client transaction; send it statelessly")]
    AckIsStateless,
    /// No transaction with that key (it may have terminated).
    #[error("no transaction {0}")]
    NoTransaction(TransactionKey),
    /// A client transaction with that key already exists.
    #[error("transaction {0} already exists")]
    Exists(TransactionKey),
    /// The response is not allowed in the transaction's state (a second final response…).
    #[error("response {status} not allowed by transaction {key}")]
    ResponseNotAllowed {
        /// The transaction.
        key: TransactionKey,
        /// The refused status.
        status: u16,
    },
    /// The INVITE already has a final response: it can no longer be cancelled.
    #[error("INVITE {0} is no longer pending")]
    NotPending(TransactionKey),
}

/// What a state machine asks its layer to do.
#[derive(Debug)]
pub(crate) enum Action {
    /// Put this on the wire toward the transaction's peer.
    Send(SipMessage),
    /// Hand a response to the TU.
    Response(Response),
    /// Hand an ACK to the TU (RFC 6026 Accepted state).
    Ack(Request),
    /// Timer B, F or H fired.
    Timeout,
    /// The transport failed.
    TransportError,
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use super::timers::TimerConfig;
    use super::Action;
    use crate::sip::message::{HeaderName, Method, Request, SipMessage};

    pub(crate) const TIMERS: TimerConfig = TimerConfig {
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        t4: Duration::from_secs(5),
        trying: super::TryingPolicy::Immediate,
    };

    /// The virtual epoch of a test; only ever advanced by hand.
    pub(crate) fn t0() -> Instant {
        static T0: OnceLock<Instant> = OnceLock::new();
        *T0.get_or_init(Instant::now)
    }

    pub(crate) fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    pub(crate) fn request(method: Method, branch: &str, cseq: u32) -> Request {
        let cseq = format!("{cseq} {method}");
        let mut r = Request::new(method, "sip:+15551234@gw.example");
        r.headers.push(
            HeaderName::Via,
            format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport"),
        );
        r.headers.push(HeaderName::MaxForwards, "70");
        r.headers.push(HeaderName::Route, "<sip:proxy.example;lr>");
        r.headers
            .push(HeaderName::From, "\"Alice\" <sip:alice@a.example>;tag=a1");
        r.headers.push(HeaderName::To, "<sip:+15551234@gw.example>");
        r.headers.push(HeaderName::CallId, "call-1@a.example");
        r.headers.push(HeaderName::CSeq, cseq);
        r.headers
            .push(HeaderName::Contact, "<sip:alice@192.0.2.10:5060>");
        r
    }

    pub(crate) fn invite() -> Request {
        request(Method::Invite, "z9hG4bKclient1", 1)
    }

    pub(crate) fn bye() -> Request {
        request(Method::Bye, "z9hG4bKbye1", 2)
    }

    pub(crate) fn sent_requests(out: &[Action]) -> usize {
        out.iter()
            .filter(|a| matches!(a, Action::Send(SipMessage::Request(_))))
            .count()
    }

    pub(crate) fn sent_responses(out: &[Action]) -> Vec<u16> {
        out.iter()
            .filter_map(|a| match a {
                Action::Send(SipMessage::Response(r)) => Some(r.status),
                _ => None,
            })
            .collect()
    }
}
