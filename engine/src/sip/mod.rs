//! SIP (RFC 3261) without I/O: the message facade over rsip, transactions and dialogs.
//!
//! - [`message`]: the wire model ([`message::SipMessage`], [`message::Request`],
//!   [`message::Response`], [`message::Headers`]) with the tolerant framing parser and the
//!   typed headers rsip lacks.
//! - [`transaction`]: the RFC 3261 §17 / RFC 6026 transaction layer
//!   ([`transaction::TransactionLayer`]), sans-IO on virtual time.
//! - [`dialog`]: RFC 3261 §12 dialogs ([`dialog::DialogLayer`]), in-dialog request building and
//!   the UAS 2xx retransmission.
//! - [`session_timer`]: RFC 4028 session timers for our UAS dialogs.
//! - [`refer_notify`]: the NOTIFYs of a REFER's implicit subscription (`message/sipfrag`).

pub mod dialog;
pub mod message;
pub mod refer_notify;
pub mod session_timer;
pub mod transaction;
