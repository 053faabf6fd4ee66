//! RFC 3261 §12 dialogs, sans-IO.
//!
//! - [`Dialog`]: one dialog (UAS or UAC side): route set, remote target, CSeq numbers; builds
//!   in-dialog requests ([`Dialog::request`], [`Dialog::ack`]) and checks received ones.
//! - [`DialogLayer`]: the dialogs of an endpoint by [`DialogId`], request/response matching
//!   (481 for unknown dialogs) and the UAS 2xx retransmission ([`Uas2xx`], RFC 3261
//!   §13.3.1.4) with its `AckTimeout`.
//!
//! # Driving both layers
//!
//! How a transport actor runs an incoming INVITE → 200 → ACK → BYE. It owns the socket and
//! the clock; the cores only see `now`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rand::SeedableRng;
//! use voxgate_engine::sip::dialog::{new_tag, DialogLayer, LocalEndpoint};
//! use voxgate_engine::sip::message::{HeaderName, Method, Request, SipMessage};
//! use voxgate_engine::sip::transaction::{
//!     TimerConfig, TransactionLayer, TransportInfo, TransportKind, TuEvent,
//! };
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! let mut txs = TransactionLayer::new(TimerConfig::default());
//! let mut dialogs = DialogLayer::new(TimerConfig::default());
//! let me = LocalEndpoint {
//!     transport: TransportKind::Udp,
//!     sent_by: "198.51.100.1:5060".into(),
//!     contact: "<sip:gw@198.51.100.1:5060>".into(),
//! };
//! let caller = TransportInfo {
//!     kind: TransportKind::Udp,
//!     source: "192.0.2.10:5060".parse().unwrap(),
//!     local: "198.51.100.1:5060".parse().unwrap(),
//!     connection: None,
//! };
//! // What the parser would hand over for the caller's INVITE, ACK and BYE.
//! let from_caller = |method: Method, branch: &str, cseq: u32, to_tag: Option<&str>| {
//!     let mut r = Request::new(method.clone(), "sip:+15551234@198.51.100.1");
//!     r.headers.push(HeaderName::Via, format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport"));
//!     r.headers.push(HeaderName::From, "<sip:alice@a.example>;tag=a1");
//!     let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
//!     r.headers.push(HeaderName::To, format!("<sip:+15551234@gw.example>{tag}"));
//!     r.headers.push(HeaderName::CallId, "call-1");
//!     r.headers.push(HeaderName::CSeq, format!("{cseq} {method}"));
//!     r.headers.push(HeaderName::Contact, "<sip:alice@192.0.2.10:5060>");
//!     r
//! };
//! let mut wire = Vec::new(); // stands in for `socket.send_to(&t.message.to_bytes(), addr)`
//! let mut now = Instant::now();
//!
//! // 1. INVITE in: the transaction answers 100 Trying, the TU gets the request once.
//! txs.handle_request(now, from_caller(Method::Invite, "z9hG4bKinv", 1, None), caller).unwrap();
//! let Some(TuEvent::NewRequest { key, request, .. }) = txs.poll_event() else { panic!() };
//! // 2. The TU answers 200 with its tag: that creates the UAS dialog, and the UAS core
//! //    retransmits the 2xx until the ACK.
//! let tag = new_tag(&mut rng);
//! let mut ok = request.response(200, "OK", Some(&tag));
//! ok.headers.push(HeaderName::Contact, me.contact.clone());
//! let id = dialogs.create_uas(&request, &ok, me.clone()).unwrap().id().clone();
//! txs.send_response(now, &key, ok.clone()).unwrap();
//! dialogs.start_2xx_retransmission(now, id.clone(), key, ok, false);
//! wire.extend(std::iter::from_fn(|| txs.poll_transmit())); // 100 Trying, 200 OK
//!
//! // 3. The ACK to the 2xx has no transaction: it surfaces as TuEvent::Ack.
//! now += Duration::from_millis(80);
//! txs.handle_request(now, from_caller(Method::Ack, "z9hG4bKack", 1, Some(&tag)), caller).unwrap();
//! let Some(TuEvent::Ack { request: ack, .. }) = txs.poll_event() else { panic!() };
//! dialogs.handle_ack(&ack);
//! assert!(!dialogs.awaiting_ack(&id));
//!
//! // 4. BYE in: match the dialog (481 / 500 come back as `Err(rejection)`), answer 200.
//! now += Duration::from_secs(5);
//! txs.handle_request(now, from_caller(Method::Bye, "z9hG4bKbye", 2, Some(&tag)), caller).unwrap();
//! let Some(TuEvent::NewRequest { key, request: bye, .. }) = txs.poll_event() else { panic!() };
//! let answer = match dialogs.match_request(&bye) {
//!     Ok(_dialog) => bye.response(200, "OK", None),
//!     Err(rejection) => rejection.response(&bye),
//! };
//! txs.send_response(now, &key, answer).unwrap();
//! dialogs.reap_terminated();
//! wire.extend(std::iter::from_fn(|| txs.poll_transmit()));
//! assert_eq!(wire.len(), 3);
//! assert!(matches!(&wire[2].message, SipMessage::Response(r) if r.status == 200));
//!
//! // 5. The timer loop: sleep until the earliest deadline, then fire both layers (a
//! //    DialogEvent::Retransmit2xx goes back through `txs.send_response`).
//! while let Some(at) = [txs.poll_timeout(), dialogs.poll_timeout()].into_iter().flatten().min() {
//!     now = at;
//!     txs.handle_timeout(now);
//!     dialogs.handle_timeout(now);
//! }
//! assert!(txs.is_empty() && dialogs.is_empty());
//! ```

use crate::sip::message::{HeaderName, Request, Response, TypedError};

#[allow(clippy::module_inception)]
mod dialog;
mod id;
mod layer;
mod uas_2xx;

pub use dialog::{Dialog, DialogRole, DialogState, LocalEndpoint};
pub use id::{new_tag, DialogId};
pub use layer::{DialogEvent, DialogLayer};
pub use uas_2xx::{Uas2xx, Uas2xxAction};

/// Errors of the dialog layer: messages that cannot create or refresh a dialog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog depends on is missing or malformed.
    #[error(transparent)]
    Header(#[from] TypedError),
    /// Only 101–299 responses create dialogs.
    #[error("a {0} response does not create a dialog")]
    NotDialogCreating(u16),
    /// The response has no To tag.
    #[error("the response has no To tag")]
    NoToTag,
    /// The INVITE or 2xx has no usable Contact (RFC 3261 §12.1: required).
    #[error("no Contact to use as remote target")]
    MissingContact,
    /// No dialog with that id.
    #[error("no dialog {0}")]
    NoDialog(DialogId),
}

/// Why an in-dialog request is refused; [`Rejection::response`] builds the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No such dialog: 481 Call/Transaction Does Not Exist (RFC 3261 §12.2.2).
    DoesNotExist,
    /// CSeq lower than the last one seen: 500 Server Internal Error (§12.2.2).
    OutOfOrder {
        /// The last remote CSeq.
        last: u32,
        /// The request's CSeq.
        got: u32,
    },
    /// The request's dialog headers (To, From, Call-ID, CSeq) do not parse: 400.
    BadRequest,
    /// A re-INVITE while the previous one from the peer is unanswered: 500 with Retry-After
    /// (RFC 3261 §14.2).
    InviteInProgress {
        /// Seconds for the Retry-After header (0–10).
        retry_after: u8,
    },
    /// A re-INVITE while ours is unanswered: 491 Request Pending (RFC 3261 §14.2).
    Glare,
}

impl Rejection {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::DoesNotExist => 481,
            Rejection::OutOfOrder { .. } | Rejection::InviteInProgress { .. } => 500,
            Rejection::BadRequest => 400,
            Rejection::Glare => 491,
        }
    }

    /// The reason phrase.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::DoesNotExist => "Call/Transaction Does Not Exist",
            Rejection::OutOfOrder { .. } | Rejection::InviteInProgress { .. } => {
                "Server Internal Error"
            }
            Rejection::BadRequest => "Bad Request",
            Rejection::Glare => "Request Pending",
        }
    }

    /// The response to `req` (its To tag is kept: it is an in-dialog request).
    pub fn response(&self, req: &Request) -> Response {
        let mut resp = req.response(self.status(), self.reason(), None);
        if let Rejection::InviteInProgress { retry_after } = self {
            resp.headers
                .push(HeaderName::RetryAfter, retry_after.to_string());
        }
        resp
    }
}
