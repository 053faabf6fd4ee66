//! Strict checks of what the transaction and dialog layers depend on, run after framing: a
//! request that fails them is answered (never processed), a response that fails them is
//! dropped. The order follows RFC 3261 §8.2: version, then the mandatory headers (400), then
//! the Request-URI (400/416), Max-Forwards (483) and Require (420).

use std::fmt;
use std::sync::OnceLock;

use super::error::is_response_copied;
use super::header::{HeaderName, Headers};
use super::method::Method;
use super::model::{Request, Response, Version};
use super::typed::{split_top_level_commas, CSeq, NameAddr, Via};
use super::uri::{check_uri, uri_scheme, SipUri, UriScheme};

/// How to refuse a message: the status and reason phrase of the answer, and a human text for
/// its Warning header (RFC 3261 §20.43, code 399).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Status code of the answer.
    pub status: u16,
    /// Reason phrase saying what is wrong.
    pub reason: &'static str,
    /// Details for the Warning header and the logs.
    pub warning: String,
    /// Option tags for the Unsupported header of a 420.
    pub unsupported: Vec<String>,
}

impl Rejection {
    fn new(status: u16, reason: &'static str, warning: impl Into<String>) -> Rejection {
        Rejection {
            status,
            reason,
            warning: warning.into(),
            unsupported: Vec::new(),
        }
    }

    fn bad(reason: &'static str, warning: impl Into<String>) -> Rejection {
        Rejection::new(400, reason, warning)
    }

    /// The answer to `req`, or `None` when there must be none (ACK) or none can be routed.
    /// `to_tag` is added to To when it has no tag (RFC 3261 §8.2.6.2).
    pub fn response(&self, req: &Request, to_tag: Option<&str>) -> Option<Response> {
        let mut resp = error_response(req, self.status, self.reason, &self.warning, to_tag)?;
        if !self.unsupported.is_empty() {
            resp.headers
                .push(HeaderName::Unsupported, self.unsupported.join(", "));
        }
        Some(resp)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.reason, self.warning)
    }
}

/// Builds an error response from whatever a request carries: a Via must be present and CSeq
/// must parse (client transactions match on branch and CSeq method, RFC 3261 §17.1.3); From,
/// To and Call-ID are copied when present, once each. Never answers ACK. The top Via need not
/// parse (a 505 answers a `SIP/7.0/UDP` Via): when it does not, the transport sends the answer
/// back to the source address.
pub fn error_response(
    req: &Request,
    status: u16,
    reason: &str,
    warning: &str,
    to_tag: Option<&str>,
) -> Option<Response> {
    if req.method == Method::Ack {
        return None;
    }
    if !req.headers.contains(&HeaderName::Via) {
        return None;
    }
    req.cseq().ok()?;
    let mut copy = Request {
        method: req.method.clone(),
        uri: String::new(),
        version: Version::default(),
        headers: Default::default(),
        body: Vec::new(),
    };
    for h in req.headers.iter().filter(|h| is_response_copied(&h.name)) {
        if h.name == HeaderName::Via || !copy.headers.contains(&h.name) {
            copy.headers.push(h.name.clone(), h.value.clone());
        }
    }
    let mut resp = copy.response(status, reason, to_tag);
    if !warning.is_empty() {
        let text: String = warning
            .chars()
            .map(|c| {
                if c == '"' || c == '\\' || c.is_control() {
                    '\''
                } else {
                    c
                }
            })
            .collect();
        resp.headers
            .push(HeaderName::Warning, format!("399 voxgate \"{text}\""));
    }
    Some(resp)
}

/// What a UAS accepts beyond RFC 3261.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Option tags this node implements; a `Require` naming any other is answered 420.
    pub supported: Vec<String>,
    /// Request-URI schemes answered normally (others get 416).
    pub schemes: Vec<UriScheme>,
}

/// Option tags the engine's dialog layer implements: reliable provisionals (RFC 3262),
/// session timers (RFC 4028), Replaces (RFC 3891) and REFER without subscription (RFC 4488).
pub const DEFAULT_SUPPORTED: &[&str] = &["100rel", "timer", "replaces", "norefersub"];

impl Default for Policy {
    fn default() -> Self {
        Policy {
            supported: DEFAULT_SUPPORTED.iter().map(|s| (*s).to_owned()).collect(),
            schemes: vec![UriScheme::Sip, UriScheme::Sips, UriScheme::Tel],
        }
    }
}

/// Validates a request with [`Policy::default`].
pub fn validate_request(req: &Request) -> Result<(), Rejection> {
    static DEFAULT: OnceLock<Policy> = OnceLock::new();
    validate_request_with(req, DEFAULT.get_or_init(Policy::default))
}

/// Decides whether `req` can be handed to the transaction layer, and if not how to answer.
pub fn validate_request_with(req: &Request, policy: &Policy) -> Result<(), Rejection> {
    check_version(&req.version)?;
    let cseq = check_common(req, req.cseq())?;
    if cseq.method != req.method {
        return Err(Rejection::bad(
            "CSeq Method Mismatch",
            format!("CSeq method {} is not {}", cseq.method, req.method),
        ));
    }
    let max_forwards = at_most_one(req, &HeaderName::MaxForwards, "Max-Forwards")?
        .map(|v| {
            parse_max_forwards(v).ok_or_else(|| {
                Rejection::bad(
                    "Bad Max-Forwards",
                    "Max-Forwards is not a number in 0..=255",
                )
            })
        })
        .transpose()?;
    let scheme = check_request_uri(&req.uri)?;
    for raw in req.headers.get_all(&HeaderName::Contact) {
        check_contact(raw, req.method == Method::Register)?;
    }
    if !req.body.is_empty() && !req.headers.contains(&HeaderName::ContentType) {
        return Err(Rejection::bad(
            "Missing Content-Type",
            "a body needs a Content-Type",
        ));
    }
    // A B2BUA forwards the call onwards, so a request that has used up its hops is refused as a
    // proxy would (RFC 3261 §16.3 item 2); OPTIONS may still be answered by the final recipient
    // (RFC 4475 §3.3.11).
    if max_forwards == Some(0) && req.method != Method::Options {
        return Err(Rejection::new(483, "Too Many Hops", "Max-Forwards is 0"));
    }
    if !policy.schemes.contains(&scheme) {
        return Err(Rejection::new(
            416,
            "Unsupported URI Scheme",
            "the Request-URI scheme is not supported",
        ));
    }
    // RFC 3261 §8.2.2.3: Require is not checked on ACK and CANCEL.
    if !matches!(req.method, Method::Ack | Method::Cancel) {
        let unsupported: Vec<String> = req
            .headers
            .get_all(&HeaderName::Require)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .filter(|tag| !policy.supported.iter().any(|s| s.eq_ignore_ascii_case(tag)))
            .map(str::to_owned)
            .collect();
        if !unsupported.is_empty() {
            let mut r = Rejection::new(
                420,
                "Bad Extension",
                format!("unsupported: {}", unsupported.join(", ")),
            );
            r.unsupported = unsupported;
            return Err(r);
        }
    }
    Ok(())
}

/// Checks a received response before it is matched to a client transaction; on `Err` the
/// response is discarded (responses are never answered).
pub fn validate_response(resp: &Response) -> Result<(), Rejection> {
    check_version(&resp.version)?;
    check_common(resp, resp.cseq()).map(|_| ())
}

fn check_version(version: &Version) -> Result<(), Rejection> {
    if version.0.eq_ignore_ascii_case("SIP/2.0") {
        Ok(())
    } else {
        Err(Rejection::new(
            505,
            "Version Not Supported",
            format!("{} is not SIP/2.0", version.0),
        ))
    }
}

/// Access to the header list of a request or response.
trait HasHeaders {
    fn headers(&self) -> &Headers;
}

impl HasHeaders for Request {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl HasHeaders for Response {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

/// Via, Call-ID, CSeq, From and To: present, single where RFC 3261 says so, well formed.
/// Returns the CSeq.
fn check_common(
    msg: &impl HasHeaders,
    cseq: Result<CSeq, super::typed::TypedError>,
) -> Result<CSeq, Rejection> {
    let headers = msg.headers();
    let mut vias = 0;
    // Every Via value, the top one included, must parse.
    for raw in headers.get_all(&HeaderName::Via) {
        for value in split_top_level_commas(raw) {
            Via::parse(value).map_err(|e| Rejection::bad("Bad Via", e.to_string()))?;
            vias += 1;
        }
    }
    if vias == 0 {
        return Err(Rejection::bad("Missing Via", "no Via header"));
    }

    let mut call_ids = headers.get_all(&HeaderName::CallId);
    match (call_ids.next(), call_ids.next()) {
        (None, _) => return Err(Rejection::bad("Missing Call-ID", "no Call-ID header")),
        (Some(_), Some(_)) => {
            return Err(Rejection::bad("Duplicate Call-ID", "more than one Call-ID"))
        }
        (Some(id), None) if id.is_empty() || id.contains(char::is_whitespace) => {
            return Err(Rejection::bad("Bad Call-ID", "Call-ID is not a word"))
        }
        (Some(_), None) => {}
    }
    match headers.get_all(&HeaderName::CSeq).count() {
        0 => return Err(Rejection::bad("Missing CSeq", "no CSeq header")),
        1 => {}
        _ => return Err(Rejection::bad("Duplicate CSeq", "more than one CSeq")),
    }
    let cseq = cseq.map_err(|e| Rejection::bad("Bad CSeq", e.to_string()))?;
    let from = ["Missing From", "Duplicate From", "Bad From"];
    let to = ["Missing To", "Duplicate To", "Bad To"];
    for (name, label, [missing, duplicate, bad]) in
        [(HeaderName::From, "From", from), (HeaderName::To, "To", to)]
    {
        let mut values = headers.get_all(&name);
        let value = match (values.next(), values.next()) {
            (None, _) => return Err(Rejection::bad(missing, format!("no {label} header"))),
            (Some(_), Some(_)) => {
                return Err(Rejection::bad(duplicate, format!("more than one {label}")))
            }
            (Some(v), None) => v,
        };
        let addr =
            NameAddr::parse(value).map_err(|e| Rejection::bad(bad, format!("{label}: {e}")))?;
        check_uri(&addr.uri).map_err(|why| Rejection::bad(bad, format!("{label}: {why}")))?;
    }
    Ok(cseq)
}

/// The value of a header that may occur at most once.
fn at_most_one<'a>(
    req: &'a Request,
    name: &'a HeaderName,
    label: &'static str,
) -> Result<Option<&'a str>, Rejection> {
    let mut it = req.headers.get_all(name);
    let first = it.next();
    if it.next().is_some() {
        return Err(Rejection::bad(
            "Duplicate Header",
            format!("more than one {label}"),
        ));
    }
    Ok(first)
}

/// `Max-Forwards = 1*DIGIT`, 0..=255 (leading zeros allowed).
fn parse_max_forwards(v: &str) -> Option<u8> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = v.trim_start_matches('0');
    if digits.len() > 3 {
        return None;
    }
    digits.parse::<u8>().ok().or(digits.is_empty().then_some(0))
}

/// Request-URI syntax (400) and its scheme class (for 416). SIP URIs in a Request-URI may not
/// carry headers (RFC 3261 §19.1.1 table 1).
fn check_request_uri(uri: &str) -> Result<UriScheme, Rejection> {
    let bad = |why: &str| Rejection::bad("Bad Request-URI", why.to_owned());
    let (scheme, _) = uri_scheme(uri).map_err(bad)?;
    if matches!(scheme, UriScheme::Sip | UriScheme::Sips) {
        let parsed = SipUri::parse(uri).map_err(bad)?;
        if parsed.headers.is_some() {
            return Err(bad("headers are not allowed in a Request-URI"));
        }
    }
    Ok(scheme)
}

/// Contact: `*` (REGISTER only) or a list of name-addr/addr-spec values with known-good URIs.
fn check_contact(raw: &str, register: bool) -> Result<(), Rejection> {
    let bad = |why: String| Rejection::bad("Bad Contact", why);
    if raw.trim() == "*" {
        return if register {
            Ok(())
        } else {
            Err(bad("Contact '*' outside REGISTER".into()))
        };
    }
    for value in split_top_level_commas(raw) {
        let addr = NameAddr::parse(value).map_err(|e| bad(e.to_string()))?;
        check_uri(&addr.uri).map_err(|why| bad(why.to_owned()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse, Limits, SipMessage};

    fn req(text: &str) -> Request {
        match parse(text.as_bytes(), &Limits::default()).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => panic!("not a request"),
        }
    }

    const HEAD: &str = "Via: SIP/2.0/UDP h.example;branch=z9hG4bK1\r\n\
        From: <sip:c@d.example>;tag=1\r\nTo: <sip:a@b.example>\r\nCall-ID: x1\r\n";

    fn with(start: &str, extra: &str) -> Request {
        req(&format!("{start}\r\n{HEAD}{extra}l: 0\r\n\r\n"))
    }

    #[test]
    fn a_plain_request_passes() {
        let r = with(
            "INVITE sip:a@b.example SIP/2.0",
            "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n",
        );
        assert_eq!(validate_request(&r), Ok(()));
    }

    #[test]
    fn statuses() {
        let cases = [
            ("INVITE sip:a@b.example SIP/3.0", "CSeq: 1 INVITE\r\n", 505),
            ("INVITE sip:a@b.example SIP/2.0", "CSeq: 1 BYE\r\n", 400),
            ("INVITE sip:a@b.example SIP/2.0", "", 400),
            (
                "INVITE sip:a@b.example SIP/2.0",
                "CSeq: 1 INVITE\r\nMax-Forwards: 0\r\n",
                483,
            ),
            (
                "OPTIONS sip:a@b.example SIP/2.0",
                "CSeq: 1 OPTIONS\r\nMax-Forwards: 0\r\n",
                0,
            ),
            (
                "INVITE sip:a@b.example SIP/2.0",
                "CSeq: 1 INVITE\r\nMax-Forwards: 256\r\n",
                400,
            ),
            (
                "INVITE mailto:a@b.example SIP/2.0",
                "CSeq: 1 INVITE\r\n",
                416,
            ),
            ("INVITE tel:+1555 SIP/2.0", "CSeq: 1 INVITE\r\n", 0),
            (
                "INVITE sip:a@b.example?x=y SIP/2.0",
                "CSeq: 1 INVITE\r\n",
                400,
            ),
            (
                "INVITE sip:a@b.example SIP/2.0",
                "CSeq: 1 INVITE\r\nRequire: foo, timer\r\n",
                420,
            ),
            (
                "ACK sip:a@b.example SIP/2.0",
                "CSeq: 1 ACK\r\nRequire: foo\r\n",
                0,
            ),
            (
                "BYE sip:a@b.example SIP/2.0",
                "CSeq: 1 BYE\r\nContact: *\r\n",
                400,
            ),
            (
                "BYE sip:a@b.example SIP/2.0",
                "CSeq: 1 BYE\r\nCall-ID: y\r\n",
                400,
            ),
        ];
        for (start, extra, want) in cases {
            let got = validate_request(&with(start, extra)).map_or_else(|r| r.status, |()| 0);
            assert_eq!(got, want, "{start} / {extra}");
        }
    }

    #[test]
    fn rejection_builds_a_routable_answer() {
        let r = with(
            "INVITE sip:a@b.example SIP/2.0",
            "CSeq: 1 INVITE\r\nRequire: foo\r\n",
        );
        let rej = validate_request(&r).unwrap_err();
        let resp = rej.response(&r, Some("t1")).unwrap();
        let text = String::from_utf8(resp.to_bytes()).unwrap();
        assert!(text.starts_with("SIP/2.0 420 Bad Extension\r\n"), "{text}");
        assert!(text.contains("Unsupported: foo\r\n"));
        assert!(text.contains("To: <sip:a@b.example>;tag=t1\r\n"));
        assert!(text.contains("Warning: 399 voxgate \"unsupported: foo\"\r\n"));
        let ack = with("ACK sip:a@b.example SIP/2.0", "CSeq: 1 INVITE\r\n");
        assert!(rej.response(&ack, None).is_none());
    }

    #[test]
    fn max_forwards_forms() {
        assert_eq!(parse_max_forwards("0068"), Some(68));
        assert_eq!(parse_max_forwards("0"), Some(0));
        assert_eq!(parse_max_forwards("000"), Some(0));
        assert_eq!(parse_max_forwards("255"), Some(255));
        assert_eq!(parse_max_forwards("300"), None);
        assert_eq!(parse_max_forwards("-1"), None);
    }
}
