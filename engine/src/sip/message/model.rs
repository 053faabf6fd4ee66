//! The owned message model and its printer.

use std::fmt::{self, Write as _};

use super::header::{HeaderName, Headers};
use super::method::Method;
use super::typed::{CSeq, NameAddr, TypedError, Via};

/// The protocol version of a start line. Only `SIP/2.0` is accepted by the parser; the value is
/// kept so a 505 can be answered for anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub Box<str>);

impl Default for Version {
    fn default() -> Self {
        Version("SIP/2.0".into())
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method token.
    pub method: Method,
    /// The Request-URI exactly as received (any scheme); see [`Request::uri_user`] for routing.
    pub uri: String,
    /// The version on the start line.
    pub version: Version,
    /// Header fields in wire order.
    pub headers: Headers,
    /// The body, exactly Content-Length bytes.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code (100..=699).
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The version on the status line.
    pub version: Version,
    /// Header fields in wire order.
    pub headers: Headers,
    /// The body, exactly Content-Length bytes.
    pub body: Vec<u8>,
}

/// A parsed SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipMessage {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// Accessors shared by requests and responses for the headers transactions and dialogs use.
macro_rules! common_accessors {
    ($ty:ty) => {
        impl $ty {
            /// The topmost Via, typed.
            pub fn top_via(&self) -> Result<Via, TypedError> {
                let raw = self
                    .headers
                    .get(&HeaderName::Via)
                    .ok_or(TypedError::Missing("Via"))?;
                Via::parse_first(raw)
            }

            /// The CSeq header, typed.
            pub fn cseq(&self) -> Result<CSeq, TypedError> {
                let raw = self
                    .headers
                    .get(&HeaderName::CSeq)
                    .ok_or(TypedError::Missing("CSeq"))?;
                CSeq::parse(raw)
            }

            /// The Call-ID value.
            pub fn call_id(&self) -> Result<&str, TypedError> {
                self.headers
                    .get(&HeaderName::CallId)
                    .ok_or(TypedError::Missing("Call-ID"))
            }

            /// The From header, typed.
            pub fn from(&self) -> Result<NameAddr, TypedError> {
                let raw = self
                    .headers
                    .get(&HeaderName::From)
                    .ok_or(TypedError::Missing("From"))?;
                NameAddr::parse(raw)
            }

            /// The To header, typed.
            pub fn to(&self) -> Result<NameAddr, TypedError> {
                let raw = self
                    .headers
                    .get(&HeaderName::To)
                    .ok_or(TypedError::Missing("To"))?;
                NameAddr::parse(raw)
            }

            /// Prints the message for the wire. Content-Length is always written from the body
            /// (any Content-Length field in `headers` is ignored).
            pub fn to_bytes(&self) -> Vec<u8> {
                let mut out = String::with_capacity(512 + self.body.len());
                // Writing into a String cannot fail.
                let _ = self.write_head(&mut out);
                for h in self.headers.iter() {
                    if h.name == HeaderName::ContentLength {
                        continue;
                    }
                    out.push_str(h.name.as_str());
                    out.push_str(": ");
                    out.push_str(&h.value);
                    out.push_str("\r\n");
                }
                let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
                let mut bytes = out.into_bytes();
                bytes.extend_from_slice(&self.body);
                bytes
            }
        }
    };
}

common_accessors!(Request);
common_accessors!(Response);

impl Request {
    fn write_head(&self, out: &mut String) -> fmt::Result {
        write!(out, "{} {} {}\r\n", self.method, self.uri, self.version.0)
    }

    /// A new request with no headers and no body.
    pub fn new(method: Method, uri: impl Into<String>) -> Request {
        Request {
            method,
            uri: uri.into(),
            version: Version::default(),
            headers: Headers::with_capacity(12),
            body: Vec::new(),
        }
    }

    /// The user part of a `sip:`/`sips:`/`tel:` Request-URI (the DID for routing), with
    /// escapes left as received.
    pub fn uri_user(&self) -> Option<&str> {
        let rest = self
            .uri
            .strip_prefix("sip:")
            .or_else(|| self.uri.strip_prefix("sips:"))
            .or_else(|| self.uri.strip_prefix("tel:"))?;
        if self.uri.starts_with("tel:") {
            return rest.split(';').next();
        }
        let at = rest.find('@')?;
        rest[..at].split([':', ';']).next()
    }

    /// Builds a response to this request as RFC 3261 §8.2.6.2 says: Via (all), From, To,
    /// Call-ID and CSeq copied; `to_tag` is added to To when given and To has none.
    /// Record-Route is copied into 101-299 responses, which may establish a dialog (§12.1.1):
    /// a proxy in front (Kamailio, ARCHITECTURE §4) stays on the path of ACK and BYE.
    pub fn response(&self, status: u16, reason: &str, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::with_capacity(8);
        for h in self.headers.iter() {
            match h.name {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                    headers.push(h.name.clone(), h.value.clone())
                }
                HeaderName::RecordRoute if (101..300).contains(&status) => {
                    headers.push(h.name.clone(), h.value.clone())
                }
                HeaderName::To => {
                    let value = match to_tag {
                        Some(tag) if !has_tag_param(&h.value) => format!("{};tag={tag}", h.value),
                        _ => h.value.clone(),
                    };
                    headers.push(HeaderName::To, value)
                }
                _ => {}
            }
        }
        Response {
            status,
            reason: reason.to_owned(),
            version: Version::default(),
            headers,
            body: Vec::new(),
        }
    }
}

/// Whether a From/To value carries a `tag` parameter outside its URI.
fn has_tag_param(value: &str) -> bool {
    NameAddr::parse(value)
        .map(|na| na.tag().is_some())
        .unwrap_or(false)
}

impl Response {
    fn write_head(&self, out: &mut String) -> fmt::Result {
        write!(
            out,
            "{} {} {}\r\n",
            self.version.0, self.status, self.reason
        )
    }

    /// Whether this is a provisional (1xx) response.
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }
}

impl SipMessage {
    /// Prints the message for the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            SipMessage::Request(r) => r.to_bytes(),
            SipMessage::Response(r) => r.to_bytes(),
        }
    }

    /// The header list.
    pub fn headers(&self) -> &Headers {
        match self {
            SipMessage::Request(r) => &r.headers,
            SipMessage::Response(r) => &r.headers,
        }
    }

    /// The Call-ID value.
    pub fn call_id(&self) -> Result<&str, TypedError> {
        match self {
            SipMessage::Request(r) => r.call_id(),
            SipMessage::Response(r) => r.call_id(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Request {
        let mut r = Request::new(Method::Invite, "sip:+15551234@voxgate.example;user=phone");
        r.headers.push(
            HeaderName::Via,
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport",
        );
        r.headers
            .push(HeaderName::From, "\"Alice\" <sip:alice@a.example>;tag=1928");
        r.headers
            .push(HeaderName::To, "<sip:+15551234@voxgate.example>");
        r.headers.push(HeaderName::CallId, "a84b4c76e66710");
        r.headers.push(HeaderName::CSeq, "314159 INVITE");
        r.headers.push(HeaderName::MaxForwards, "70");
        r.body = b"v=0\r\n".to_vec();
        r
    }

    #[test]
    fn response_copies_the_rfc_headers_and_adds_the_tag() {
        let resp = invite().response(180, "Ringing", Some("xyz"));
        let text = String::from_utf8(resp.to_bytes()).unwrap();
        assert!(text.starts_with("SIP/2.0 180 Ringing\r\n"));
        assert!(text.contains("To: <sip:+15551234@voxgate.example>;tag=xyz\r\n"));
        assert!(text.contains("Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\r\n"));
        assert!(!text.contains("Max-Forwards"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn dialog_creating_responses_carry_the_record_route() {
        let mut req = invite();
        req.headers
            .push(HeaderName::RecordRoute, "<sip:proxy.example;lr>");
        let ok = req.response(200, "OK", Some("xyz"));
        assert_eq!(
            ok.headers.get(&HeaderName::RecordRoute),
            Some("<sip:proxy.example;lr>")
        );
        let busy = req.response(486, "Busy Here", Some("xyz"));
        assert!(!busy.headers.contains(&HeaderName::RecordRoute));
    }

    #[test]
    fn request_prints_content_length_from_the_body() {
        let text = String::from_utf8(invite().to_bytes()).unwrap();
        assert!(text.starts_with("INVITE sip:+15551234@voxgate.example;user=phone SIP/2.0\r\n"));
        assert!(text.ends_with("Content-Length: 5\r\n\r\nv=0\r\n"));
    }

    #[test]
    fn uri_user_is_the_did() {
        assert_eq!(invite().uri_user(), Some("+15551234"));
        let tel = Request::new(Method::Invite, "tel:+4930123;phone-context=x");
        assert_eq!(tel.uri_user(), Some("+4930123"));
    }
}
