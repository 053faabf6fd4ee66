//! Cutting messages out of a byte stream (TCP/TLS, RFC 3261 §18.3): the header section ends at
//! the first empty line and Content-Length, mandatory on streams, gives the body. CRLF
//! keep-alives (RFC 5626 §3.5.1: CRLFCRLF ping, CRLF pong) between messages are reported apart.

use super::error::ParseErrorKind;
use super::limits::Limits;
use super::parse::parse_content_length;

/// What the start of a stream buffer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameResult {
    /// One whole message of this many bytes; pass `&buf[..len]` to [`super::parse`].
    Complete(usize),
    /// More bytes are needed.
    Incomplete,
    /// A keep-alive of this many bytes (CRLFCRLF ping or CRLF pong) to consume; a ping of 4
    /// bytes is answered with a CRLF pong.
    KeepAlive(usize),
    /// The stream cannot be framed any more; close the connection.
    Error(ParseErrorKind),
}

/// A stream framer with its limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Framer {
    limits: Limits,
}

/// Frames with [`Limits::DEFAULT`].
pub fn frame_stream(buf: &[u8]) -> FrameResult {
    Framer::new(Limits::DEFAULT).frame(buf)
}

impl Framer {
    /// A framer enforcing `limits`.
    pub fn new(limits: Limits) -> Framer {
        Framer { limits }
    }

    /// Looks at the start of `buf` and says how many bytes the next unit takes.
    pub fn frame(&self, buf: &[u8]) -> FrameResult {
        match buf {
            [] | [b'\r'] | [b'\r', b'\n', b'\r'] => return FrameResult::Incomplete,
            [b'\r', b'\n', b'\r', b'\n', ..] => return FrameResult::KeepAlive(4),
            [b'\r', b'\n', ..] => return FrameResult::KeepAlive(2),
            [b'\n', ..] => return FrameResult::KeepAlive(1),
            [b'\r', _, ..] => {
                return FrameResult::Error(ParseErrorKind::StartLine("stray CR before message"))
            }
            _ => {}
        }
        let max = self.limits.max_message_bytes;
        let Some((head_len, body_at)) = find_head_end(buf, max) else {
            if buf.len() > max {
                return FrameResult::Error(ParseErrorKind::MessageTooLarge {
                    size: buf.len(),
                    limit: max,
                });
            }
            return FrameResult::Incomplete;
        };
        let declared = match content_length(&buf[..head_len]) {
            Ok(Some(n)) => n,
            Ok(None) => {
                return FrameResult::Error(ParseErrorKind::ContentLength(
                    "missing (mandatory on stream transports)",
                ))
            }
            Err(kind) => return FrameResult::Error(kind),
        };
        if declared > self.limits.max_body_bytes {
            return FrameResult::Error(ParseErrorKind::BodyTooLarge {
                size: declared,
                limit: self.limits.max_body_bytes,
            });
        }
        let total = body_at + declared;
        if total > max {
            return FrameResult::Error(ParseErrorKind::MessageTooLarge {
                size: total,
                limit: max,
            });
        }
        if buf.len() < total {
            FrameResult::Incomplete
        } else {
            FrameResult::Complete(total)
        }
    }
}

/// Finds the empty line ending the head within the first `max` bytes: returns the head length
/// (without the empty line) and where the body starts.
fn find_head_end(buf: &[u8], max: usize) -> Option<(usize, usize)> {
    let window = &buf[..buf.len().min(max)];
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &window[from..]) {
        let nl = from + i;
        let after = &window[nl + 1..];
        if after.starts_with(b"\r\n") {
            return Some((nl + 1, nl + 3));
        }
        if after.starts_with(b"\n") {
            return Some((nl + 1, nl + 2));
        }
        from = nl + 1;
    }
    None
}

/// The Content-Length of a head (long or compact name, any case, LWS before the colon).
fn content_length(head: &[u8]) -> Result<Option<usize>, ParseErrorKind> {
    let mut found = None;
    // The first line is the start line; folded continuation lines start with SP/HT.
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = parse_content_length(line[colon + 1..].trim_ascii())?;
            if found.is_some_and(|f| f != value) {
                return Err(ParseErrorKind::ContentLength("conflicting values"));
            }
            found = Some(value);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length : 5\r\nCall-ID: x\r\n\r\nhello";

    #[test]
    fn frames_whole_messages_and_waits_for_more() {
        assert_eq!(frame_stream(MSG), FrameResult::Complete(MSG.len()));
        let mut two = MSG.to_vec();
        two.extend_from_slice(MSG);
        assert_eq!(frame_stream(&two), FrameResult::Complete(MSG.len()));
        for cut in 0..MSG.len() {
            let r = frame_stream(&MSG[..cut]);
            assert!(
                matches!(r, FrameResult::Incomplete | FrameResult::KeepAlive(_)),
                "{cut}: {r:?}"
            );
        }
    }

    #[test]
    fn keepalives() {
        assert_eq!(frame_stream(b"\r\n\r\nINVITE"), FrameResult::KeepAlive(4));
        assert_eq!(frame_stream(b"\r\nINVITE"), FrameResult::KeepAlive(2));
        assert_eq!(frame_stream(b"\r\n"), FrameResult::KeepAlive(2));
        assert_eq!(frame_stream(b"\r\n\r"), FrameResult::Incomplete);
    }

    #[test]
    fn content_length_is_mandatory_and_bounded() {
        assert!(matches!(
            frame_stream(b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n"),
            FrameResult::Error(ParseErrorKind::ContentLength(_))
        ));
        assert!(matches!(
            frame_stream(b"OPTIONS sip:a SIP/2.0\r\nl: -5\r\n\r\n"),
            FrameResult::Error(ParseErrorKind::ContentLength(_))
        ));
        assert!(matches!(
            frame_stream(b"OPTIONS sip:a SIP/2.0\r\nl: 999999\r\n\r\n"),
            FrameResult::Error(ParseErrorKind::BodyTooLarge { .. })
        ));
        let framer = Framer::new(Limits {
            max_message_bytes: 16,
            ..Limits::default()
        });
        assert!(matches!(
            framer.frame(b"OPTIONS sip:a@b.example SIP/2.0\r\n"),
            FrameResult::Error(ParseErrorKind::MessageTooLarge { .. })
        ));
    }
}
