//! The errors of the framing pass, with what was salvaged so the transport can still answer.

use super::header::{HeaderName, Headers};
use super::method::Method;
use super::model::{Request, Response, Version};

/// What went wrong while framing a message. Each variant maps to the status a UAS answers
/// with ([`ParseErrorKind::status`]) when a response can be built at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input is larger than [`super::Limits::max_message_bytes`].
    #[error("message of {size} bytes exceeds max_message_bytes ({limit})")]
    MessageTooLarge {
        /// Bytes received (or needed, on a stream).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More header fields than [`super::Limits::max_headers`].
    #[error("more than max_headers ({limit}) header fields")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// A line or unfolded header value longer than [`super::Limits::max_line_len`].
    #[error("a line exceeds max_line_len ({limit} bytes)")]
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// A body larger than [`super::Limits::max_body_bytes`].
    #[error("body of {size} bytes exceeds max_body_bytes ({limit})")]
    BodyTooLarge {
        /// Declared or received body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Nothing but line breaks.
    #[error("empty message")]
    Empty,
    /// The request or status line does not follow RFC 3261 §7.1/§7.2.
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    /// A header line without a colon, with a bad name, or a stray continuation line.
    #[error("malformed header line: {0}")]
    HeaderLine(&'static str),
    /// The start line or a header value is not UTF-8.
    #[error("start line or header section is not valid UTF-8")]
    NotUtf8,
    /// The input ended before the empty line that closes the header section.
    #[error("header section is not terminated by an empty line")]
    Unterminated,
    /// Content-Length is not a number, conflicts with another one, or is missing on a stream.
    #[error("bad Content-Length: {0}")]
    ContentLength(&'static str),
    /// Fewer body bytes than Content-Length declares (RFC 3261 §18.3: a datagram is answered
    /// 400; a stream waits for more).
    #[error("body shorter than Content-Length ({declared} declared, {available} received)")]
    Truncated {
        /// Content-Length.
        declared: usize,
        /// Bytes after the header section.
        available: usize,
    },
}

impl ParseErrorKind {
    /// The status and reason phrase to answer a request that failed this way.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            ParseErrorKind::MessageTooLarge { .. } | ParseErrorKind::BodyTooLarge { .. } => {
                (513, "Message Too Large")
            }
            ParseErrorKind::TooManyHeaders { .. } => (400, "Too Many Header Fields"),
            ParseErrorKind::LineTooLong { .. } => (400, "Header Line Too Long"),
            ParseErrorKind::Empty => (400, "Empty Message"),
            ParseErrorKind::StartLine(_) => (400, "Malformed Request-Line"),
            ParseErrorKind::HeaderLine(_) => (400, "Malformed Header Line"),
            ParseErrorKind::NotUtf8 => (400, "Invalid UTF-8"),
            ParseErrorKind::Unterminated => (400, "Unterminated Header Section"),
            ParseErrorKind::ContentLength(_) => (400, "Bad Content-Length"),
            ParseErrorKind::Truncated { .. } => (400, "Body Shorter Than Content-Length"),
        }
    }
}

/// What the parser had read of a request before it failed: the start line and the headers a
/// response is built from (Via, From, To, Call-ID, CSeq), raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialRequest {
    /// The method of the request line.
    pub method: Method,
    /// The Request-URI as received.
    pub uri: String,
    /// Via, From, To, Call-ID and CSeq fields seen before the failure, in wire order.
    pub headers: Headers,
}

impl PartialRequest {
    /// Keeps only the fields a response copies.
    pub(crate) fn new(method: Method, uri: String, all: &Headers) -> PartialRequest {
        let mut headers = Headers::with_capacity(6);
        for h in all.iter().filter(|h| is_response_copied(&h.name)) {
            headers.push(h.name.clone(), h.value.clone());
        }
        PartialRequest {
            method,
            uri,
            headers,
        }
    }
}

/// The header fields RFC 3261 §8.2.6.2 copies into a response.
pub(crate) fn is_response_copied(name: &HeaderName) -> bool {
    matches!(
        name,
        HeaderName::Via | HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq
    )
}

/// A message that could not be framed: why, and what was salvaged of a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    /// Why framing failed.
    pub kind: ParseErrorKind,
    /// The request line and response-relevant headers read before the failure, when the
    /// message was a request whose start line parsed.
    pub partial: Option<Box<PartialRequest>>,
}

impl ParseError {
    /// An error without salvaged context.
    pub fn new(kind: ParseErrorKind) -> ParseError {
        ParseError {
            kind,
            partial: None,
        }
    }

    /// The best error response the transport can send (see [`super::error_response`]): `Some`
    /// when the failed message was a request other than ACK whose Via and CSeq were read;
    /// `None` means drop it silently. `to_tag` is added to To when it has none.
    pub fn error_response(&self, to_tag: Option<&str>) -> Option<Response> {
        let partial = self.partial.as_deref()?;
        let req = Request {
            method: partial.method.clone(),
            uri: partial.uri.clone(),
            version: Version::default(),
            headers: partial.headers.clone(),
            body: Vec::new(),
        };
        let (status, reason) = self.kind.status();
        super::validate::error_response(&req, status, reason, &self.kind.to_string(), to_tag)
    }
}

impl From<ParseErrorKind> for ParseError {
    fn from(kind: ParseErrorKind) -> Self {
        ParseError::new(kind)
    }
}
