//! The SIP message facade: one owned model of a request or response, parsed by a tolerant
//! framing pass (start line, header unfolding, compact names, Content-Length) and typed on
//! demand, with rsip doing the URI grammar.
//!
//! Why our own model and not `rsip::SipMessage` directly: rsip has no extension methods, no
//! compact header names and rejects several messages RFC 4475 calls valid, while accepting
//! many invalid ones because it types headers lazily. The transaction and dialog layers need a
//! message that always exists once framing succeeded (so a 400/501 can still be answered) and
//! strict checks only on the headers they depend on.
//!
//! - [`parse`] frames a datagram; [`Framer`] cuts messages out of a TCP stream.
//! - [`Limits`] bounds what the network can make the parser do.
//! - [`validate_request`] decides whether a request is answerable and how to refuse it.

mod error;
mod framer;
mod header;
mod limits;
mod method;
mod model;
mod parse;
#[cfg(test)]
mod proptests;
pub mod typed;
mod uri;
mod validate;

pub use error::{ParseError, ParseErrorKind, PartialRequest};
pub use framer::{frame_stream, FrameResult, Framer};
pub use header::{Header, HeaderName, Headers};
pub use limits::Limits;
pub use method::Method;
pub use model::{Request, Response, SipMessage, Version};
pub use parse::parse;
pub use typed::{
    CSeq, Contact, Event, MinSe, NameAddr, Param, RAck, RSeq, Reason, ReferTo, ReferredBy,
    Refresher, Replaces, RetryAfter, SessionExpires, SubState, SubscriptionState, TypedError,
    TypedHeader, UserToUser, Via, ViaTransport,
};
pub use uri::{check_uri, uri_scheme, SipUri, UriScheme};
pub use validate::{
    error_response, validate_request, validate_request_with, validate_response, Policy, Rejection,
    DEFAULT_SUPPORTED,
};
