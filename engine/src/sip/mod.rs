//! SIP (RFC 3261) without I/O: the message facade over rsip, transactions and dialogs.
//!
//! - [`message`]: the wire model ([`message::SipMessage`], [`message::Request`],
//!   [`message::Response`], [`message::Headers`]) with the tolerant framing parser and the
//!   typed headers rsip lacks.

pub mod message;
