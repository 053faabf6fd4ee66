//! The tolerant framing pass: start line, header lines (folding undone, compact names
//! resolved, LWS around the colon), Content-Length and body. It checks only what framing
//! needs; header semantics are [`super::validate`]'s job, so that a message with a bad Via or
//! CSeq still exists and can be answered.

use super::error::{ParseError, ParseErrorKind, PartialRequest};
use super::header::{HeaderName, Headers};
use super::limits::Limits;
use super::method::Method;
use super::model::{Request, Response, SipMessage, Version};

/// Parses one message from a datagram (or from a frame [`super::Framer`] cut from a stream).
///
/// Framing follows RFC 3261 §7 and §18.3: CRLF or bare LF line ends, folded lines joined with
/// one SP, leading empty lines skipped. With Content-Length the body is exactly that long and
/// extra datagram bytes are dropped; fewer bytes is an error. Without Content-Length the body
/// is the rest of the input (allowed on UDP; streams must frame with Content-Length first).
/// The Content-Length field itself is consumed: [`Request::body`]'s length is the truth and
/// `to_bytes` writes it again.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<SipMessage, ParseError> {
    let mut state = State {
        start: None,
        headers: Headers::with_capacity(16),
    };
    match parse_into(bytes, limits, &mut state) {
        Ok(msg) => Ok(msg),
        Err(kind) => {
            let partial = match state.start {
                Some(StartLine::Request { method, uri, .. }) => {
                    Some(Box::new(PartialRequest::new(method, uri, &state.headers)))
                }
                _ => None,
            };
            Err(ParseError { kind, partial })
        }
    }
}

/// What has been read so far; kept outside [`parse_into`] so a failure can salvage it.
struct State {
    start: Option<StartLine>,
    headers: Headers,
}

enum StartLine {
    Request {
        method: Method,
        uri: String,
        version: Version,
    },
    Response {
        version: Version,
        status: u16,
        reason: String,
    },
}

fn parse_into(
    bytes: &[u8],
    limits: &Limits,
    state: &mut State,
) -> Result<SipMessage, ParseErrorKind> {
    if bytes.len() > limits.max_message_bytes {
        return Err(ParseErrorKind::MessageTooLarge {
            size: bytes.len(),
            limit: limits.max_message_bytes,
        });
    }
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let first = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(ParseErrorKind::Empty)?;
    let mut lines = Lines {
        buf: bytes,
        pos: first,
        max_line: limits.max_line_len,
    };
    let start = lines.next()?.ok_or(ParseErrorKind::Unterminated)?;
    state.start = Some(parse_start_line(start)?);

    parse_headers(&mut lines, limits, &mut state.headers)?;
    let content_length = take_content_length(&mut state.headers)?;
    let rest = &bytes[lines.pos..];
    let body = match content_length {
        Some(declared) => {
            if declared > limits.max_body_bytes {
                return Err(ParseErrorKind::BodyTooLarge {
                    size: declared,
                    limit: limits.max_body_bytes,
                });
            }
            // RFC 3261 §18.3: octets beyond Content-Length in a datagram are discarded.
            rest.get(..declared).ok_or(ParseErrorKind::Truncated {
                declared,
                available: rest.len(),
            })?
        }
        None => {
            if rest.len() > limits.max_body_bytes {
                return Err(ParseErrorKind::BodyTooLarge {
                    size: rest.len(),
                    limit: limits.max_body_bytes,
                });
            }
            rest
        }
    };
    let headers = std::mem::take(&mut state.headers);
    let body = body.to_vec();
    // `start` was set above and is only taken here.
    Ok(match state.start.take() {
        Some(StartLine::Request {
            method,
            uri,
            version,
        }) => SipMessage::Request(Request {
            method,
            uri,
            version,
            headers,
            body,
        }),
        Some(StartLine::Response {
            version,
            status,
            reason,
        }) => SipMessage::Response(Response {
            status,
            reason,
            version,
            headers,
            body,
        }),
        None => return Err(ParseErrorKind::StartLine("missing")),
    })
}

/// Physical lines of the head, without their CRLF/LF.
struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    max_line: usize,
}

impl<'a> Lines<'a> {
    /// The next line, or `None` when the input ends without a line break.
    fn next(&mut self) -> Result<Option<&'a [u8]>, ParseErrorKind> {
        let rest = &self.buf[self.pos..];
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            if rest.len() > self.max_line {
                return Err(ParseErrorKind::LineTooLong {
                    limit: self.max_line,
                });
            }
            return Ok(None);
        };
        if nl > self.max_line {
            return Err(ParseErrorKind::LineTooLong {
                limit: self.max_line,
            });
        }
        let line = &rest[..nl];
        self.pos += nl + 1;
        Ok(Some(line.strip_suffix(b"\r").unwrap_or(line)))
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 3261 §25.1 `token` characters.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn trim_wsp(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_wsp(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_wsp(*last) {
            break;
        }
        s = rest;
    }
    s
}

fn utf8(s: &[u8]) -> Result<&str, ParseErrorKind> {
    std::str::from_utf8(s).map_err(|_| ParseErrorKind::NotUtf8)
}

fn parse_start_line(line: &[u8]) -> Result<StartLine, ParseErrorKind> {
    let line = utf8(line)?.trim_start_matches([' ', '\t']);
    let first_end = line.find([' ', '\t']).unwrap_or(line.len());
    let first = &line[..first_end];
    if first.is_empty() {
        return Err(ParseErrorKind::StartLine("empty"));
    }
    if starts_with_sip_slash(first) {
        return parse_status_line(line, first);
    }
    // Request-Line = Method SP Request-URI SP SIP-Version. Extra SP between the elements and
    // trailing SP are tolerated (RFC 4475 §3.1.2.9/10 allow it); a URI with embedded LWS is
    // kept whole so validation can answer 400 for it.
    if !first.bytes().all(is_token_byte) {
        return Err(ParseErrorKind::StartLine("method is not a token"));
    }
    let trimmed = line.trim_end_matches([' ', '\t']);
    let version_at = trimmed.rfind([' ', '\t']).ok_or(ParseErrorKind::StartLine(
        "expected METHOD SP URI SP SIP/2.0",
    ))?;
    let version = &trimmed[version_at + 1..];
    if !starts_with_sip_slash(version) {
        return Err(ParseErrorKind::StartLine("not a SIP request line"));
    }
    let method_end = first_end;
    if method_end >= version_at {
        return Err(ParseErrorKind::StartLine("no Request-URI"));
    }
    let uri = trimmed[method_end..version_at].trim_matches([' ', '\t']);
    if uri.is_empty() {
        return Err(ParseErrorKind::StartLine("no Request-URI"));
    }
    Ok(StartLine::Request {
        method: Method::from_token(first),
        uri: uri.to_owned(),
        version: Version(version.into()),
    })
}

/// `SIP/` in any case, compared on bytes (the text may be any UTF-8).
fn starts_with_sip_slash(word: &str) -> bool {
    word.as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
}

/// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; the reason may be empty.
fn parse_status_line(line: &str, version: &str) -> Result<StartLine, ParseErrorKind> {
    let rest = line[version.len()..].trim_start_matches([' ', '\t']);
    let code_end = rest.find([' ', '\t']).unwrap_or(rest.len());
    let code = &rest[..code_end];
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseErrorKind::StartLine("status code is not 3 digits"));
    }
    // Three ASCII digits always parse.
    let status: u16 = code.parse().unwrap_or(0);
    if !(100..=699).contains(&status) {
        return Err(ParseErrorKind::StartLine("status code out of range"));
    }
    Ok(StartLine::Response {
        version: Version(version.into()),
        status,
        reason: rest[code_end..].trim_matches([' ', '\t']).to_owned(),
    })
}

fn parse_headers(
    lines: &mut Lines<'_>,
    limits: &Limits,
    headers: &mut Headers,
) -> Result<(), ParseErrorKind> {
    let mut current: Option<(HeaderName, String)> = None;
    loop {
        let Some(line) = lines.next()? else {
            if let Some((name, value)) = current.take() {
                headers.push(name, value);
            }
            return Err(ParseErrorKind::Unterminated);
        };
        if line.is_empty() {
            if let Some((name, value)) = current.take() {
                headers.push(name, value);
            }
            return Ok(());
        }
        if is_wsp(line[0]) {
            // A continuation line: LWS = [*WSP CRLF] 1*WSP, which means one SP.
            let (_, value) = current.as_mut().ok_or(ParseErrorKind::HeaderLine(
                "continuation line before any header",
            ))?;
            let more = trim_wsp(line);
            if !more.is_empty() {
                if value.len() + 1 + more.len() > limits.max_line_len {
                    return Err(ParseErrorKind::LineTooLong {
                        limit: limits.max_line_len,
                    });
                }
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(utf8(more)?);
            }
            continue;
        }
        if let Some((name, value)) = current.take() {
            headers.push(name, value);
        }
        if headers.len() >= limits.max_headers {
            return Err(ParseErrorKind::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        let colon = memchr::memchr(b':', line).ok_or(ParseErrorKind::HeaderLine("no colon"))?;
        let name = trim_wsp(&line[..colon]);
        if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
            return Err(ParseErrorKind::HeaderLine("header name is not a token"));
        }
        // Token bytes are ASCII, so this cannot fail.
        let name = utf8(name)?;
        let value = utf8(trim_wsp(&line[colon + 1..]))?;
        current = Some((HeaderName::from_wire(name), value.to_owned()));
    }
}

/// Reads and removes every Content-Length field; they must agree.
fn take_content_length(headers: &mut Headers) -> Result<Option<usize>, ParseErrorKind> {
    let mut found: Option<usize> = None;
    for raw in headers.get_all(&HeaderName::ContentLength) {
        let value = parse_content_length(raw.as_bytes())?;
        match found {
            Some(previous) if previous != value => {
                return Err(ParseErrorKind::ContentLength("conflicting values"))
            }
            _ => found = Some(value),
        }
    }
    if found.is_some() {
        headers.remove(&HeaderName::ContentLength);
    }
    Ok(found)
}

/// `Content-Length = 1*DIGIT`, bounded so it cannot overflow.
pub(crate) fn parse_content_length(raw: &[u8]) -> Result<usize, ParseErrorKind> {
    let raw = trim_wsp(raw);
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return Err(ParseErrorKind::ContentLength("not a non-negative number"));
    }
    let digits = raw
        .iter()
        .position(|&b| b != b'0')
        .map_or(&raw[raw.len()..], |i| &raw[i..]);
    if digits.len() > 9 {
        return Err(ParseErrorKind::ContentLength("too large"));
    }
    Ok(digits
        .iter()
        .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<SipMessage, ParseError> {
        parse(text.as_bytes(), &Limits::default())
    }

    fn req(text: &str) -> Request {
        match p(text).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => panic!("not a request"),
        }
    }

    const OPTIONS: &str = "OPTIONS sip:a@b.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP h.example;branch=z9hG4bK1\r\n\
        f: <sip:c@d.example>;tag=1\r\nt: <sip:a@b.example>\r\ni: x1\r\nCSeq: 1 OPTIONS\r\n";

    #[test]
    fn folding_compact_names_and_lws_around_colon() {
        let r = req(&format!(
            "{OPTIONS}Subject  :  hello\r\n  world\r\n\tagain\r\nl: 0\r\n\r\n"
        ));
        assert_eq!(
            r.headers.get(&HeaderName::Subject),
            Some("hello world again")
        );
        assert_eq!(r.headers.get(&HeaderName::CallId), Some("x1"));
        assert!(!r.headers.contains(&HeaderName::ContentLength));
        assert_eq!(r.method, Method::Options);
    }

    #[test]
    fn datagram_body_is_truncated_to_content_length() {
        let r = req(&format!("{OPTIONS}Content-Length: 3\r\n\r\nabcdef"));
        assert_eq!(r.body, b"abc");
        let r = req(&format!("{OPTIONS}\r\nabcdef"));
        assert_eq!(r.body, b"abcdef");
        let e = p(&format!("{OPTIONS}Content-Length: 9\r\n\r\nabc")).unwrap_err();
        assert_eq!(
            e.kind,
            ParseErrorKind::Truncated {
                declared: 9,
                available: 3
            }
        );
        let resp = e.error_response(None).unwrap();
        assert_eq!(resp.status, 400);
        assert_eq!(resp.headers.get(&HeaderName::CallId), Some("x1"));
    }

    #[test]
    fn content_length_must_be_a_number_and_agree() {
        for bad in ["-1", "1x", "", "99999999999"] {
            let e = p(&format!("{OPTIONS}Content-Length: {bad}\r\n\r\n")).unwrap_err();
            assert!(matches!(e.kind, ParseErrorKind::ContentLength(_)), "{bad}");
        }
        let e = p(&format!("{OPTIONS}l: 1\r\nContent-Length: 2\r\n\r\nab")).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::ContentLength("conflicting values"));
        assert!(p(&format!("{OPTIONS}l: 2\r\nContent-Length: 02\r\n\r\nab")).is_ok());
    }

    #[test]
    fn status_lines() {
        let SipMessage::Response(r) = p("SIP/2.0 100 \r\nl: 0\r\n\r\n").unwrap() else {
            panic!()
        };
        assert_eq!((r.status, r.reason.as_str()), (100, ""));
        for bad in [
            "SIP/2.0 4294967301 x",
            "SIP/2.0 99 x",
            "SIP/2.0 7000 x",
            "SIP/2.0",
        ] {
            let e = p(&format!("{bad}\r\n\r\n")).unwrap_err();
            assert!(matches!(e.kind, ParseErrorKind::StartLine(_)), "{bad}");
            assert!(e.error_response(None).is_none());
        }
    }

    #[test]
    fn request_line_tolerance() {
        let r = req("INVITE  sip:a@b  SIP/2.0  \r\n\r\n");
        assert_eq!(r.uri, "sip:a@b");
        let r = req("INVITE sip:a@b; lr SIP/2.0\r\n\r\n");
        assert_eq!(r.uri, "sip:a@b; lr");
        for bad in [
            "INVITE SIP/2.0",
            "GET / HTTP/1.1",
            "IN(VITE sip:a SIP/2.0",
            "INVITE",
        ] {
            assert!(p(&format!("{bad}\r\n\r\n")).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_are_enforced_and_named() {
        let tight = Limits {
            max_message_bytes: 64,
            ..Limits::default()
        };
        let e = parse(format!("{OPTIONS}\r\n").as_bytes(), &tight).unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::MessageTooLarge { .. }));
        let tight = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        let e = parse(format!("{OPTIONS}\r\n").as_bytes(), &tight).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::TooManyHeaders { limit: 3 });
        assert!(e.to_string().contains("max_headers"));
        let tight = Limits {
            max_line_len: 40,
            ..Limits::default()
        };
        let e = parse(format!("{OPTIONS}\r\n").as_bytes(), &tight).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::LineTooLong { limit: 40 });
        let tight = Limits {
            max_body_bytes: 2,
            ..Limits::default()
        };
        let e = parse(format!("{OPTIONS}l: 3\r\n\r\nabc").as_bytes(), &tight).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::BodyTooLarge { size: 3, limit: 2 });
        assert_eq!(e.kind.status().0, 513);
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            p(&format!("{OPTIONS}no colon here\r\n\r\n"))
                .unwrap_err()
                .kind,
            ParseErrorKind::HeaderLine("no colon")
        );
        assert_eq!(
            p("OPTIONS sip:a SIP/2.0\r\n folded\r\n\r\n")
                .unwrap_err()
                .kind,
            ParseErrorKind::HeaderLine("continuation line before any header")
        );
        assert_eq!(
            p(&format!("{OPTIONS}l: 0\r\n")).unwrap_err().kind,
            ParseErrorKind::Unterminated
        );
        assert_eq!(p("\r\n\r\n").unwrap_err().kind, ParseErrorKind::Empty);
        assert_eq!(
            parse(
                b"OPTIONS sip:a SIP/2.0\r\nX: \xff\r\n\r\n",
                &Limits::default()
            )
            .unwrap_err()
            .kind,
            ParseErrorKind::NotUtf8
        );
    }

    #[test]
    fn multibyte_start_lines_do_not_panic() {
        // Found by the sip_message fuzz target: slicing "Sно" at byte 4.
        for line in [
            "Sно sip:a SIP/2.0",
            "INVITE sip:a Sно",
            " SIP/2.0 200 OK",
            "\tINVITE sip:a SIP/2.0",
        ] {
            let _ = p(&format!("{line}\r\n\r\n"));
        }
        assert!(matches!(
            p(" SIP/2.0 200 OK\r\n\r\n"),
            Ok(SipMessage::Response(_))
        ));
    }

    #[test]
    fn bare_lf_and_leading_crlf() {
        let r = req("\r\n\r\nOPTIONS sip:a@b SIP/2.0\nCall-ID: x\n\n");
        assert_eq!(r.call_id(), Ok("x"));
    }
}
