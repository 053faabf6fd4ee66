//! The implicit subscription of a REFER (RFC 3515 §2.4.4, RFC 6665): reading the NOTIFYs the
//! transferee sends us and writing the ones we send a referrer. Sans-IO: the call actor hands a
//! received NOTIFY to [`ReferNotify::from_request`] and answers with the status it gets back.
//!
//! A NOTIFY of the `refer` package carries `Event: refer`, a `Subscription-State` and a
//! `message/sipfrag` body (RFC 3420) whose first line is the status line of the transferee's
//! request toward the target: `SIP/2.0 100 Trying` while it runs, then a final one
//! (`SIP/2.0 200 OK`, `SIP/2.0 486 Busy Here`…) with the subscription `terminated`.

use super::message::{Event, HeaderName, Request, SubState, SubscriptionState};

/// The content type of a REFER NOTIFY body.
pub const SIPFRAG: &str = "message/sipfrag";

/// Why a received NOTIFY cannot be read as a REFER progress report; [`NotifyError::status`] is
/// the answer to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// No `Event` header, or one naming another package (RFC 6665 §8.2.1: 489).
    #[error("not a `refer` event: {0}")]
    BadEvent(String),
    /// `Subscription-State` missing or malformed.
    #[error("bad Subscription-State: {0}")]
    BadState(String),
    /// The body is not `message/sipfrag`.
    #[error("body is `{0}`, not message/sipfrag")]
    BadContentType(String),
    /// The sipfrag does not start with a SIP status line.
    #[error("bad sipfrag body: {0}")]
    BadSipfrag(&'static str),
}

impl NotifyError {
    /// The SIP status and reason phrase that answer the NOTIFY.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            NotifyError::BadEvent(_) => (489, "Bad Event"),
            NotifyError::BadContentType(_) => (415, "Unsupported Media Type"),
            NotifyError::BadState(_) | NotifyError::BadSipfrag(_) => (400, "Bad Request"),
        }
    }
}

/// What a REFER NOTIFY reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferNotify {
    /// The status code of the sipfrag's status line (100…699).
    pub status: u16,
    /// The reason phrase of that line (may be empty).
    pub reason: String,
    /// Whether the subscription ends with this NOTIFY.
    pub terminated: bool,
    /// The `id` of the Event header (the REFER's CSeq number), when given.
    pub id: Option<String>,
}

impl ReferNotify {
    /// Reads a NOTIFY of the `refer` event package.
    pub fn from_request(req: &Request) -> Result<ReferNotify, NotifyError> {
        let event = req
            .headers
            .get(&HeaderName::Event)
            .ok_or_else(|| NotifyError::BadEvent("no Event header".into()))?;
        let event = Event::parse(event).map_err(|e| NotifyError::BadEvent(e.to_string()))?;
        if !event.package.eq_ignore_ascii_case("refer") {
            return Err(NotifyError::BadEvent(event.package));
        }
        let state = req
            .headers
            .get(&HeaderName::SubscriptionState)
            .ok_or_else(|| NotifyError::BadState("missing".into()))
            .and_then(|s| {
                SubscriptionState::parse(s).map_err(|e| NotifyError::BadState(e.to_string()))
            })?;
        let content_type = req
            .headers
            .get(&HeaderName::ContentType)
            .unwrap_or_default();
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if media != SIPFRAG {
            return Err(NotifyError::BadContentType(content_type.to_owned()));
        }
        let (status, reason) = parse_sipfrag_status(&req.body)?;
        Ok(ReferNotify {
            status,
            reason,
            terminated: state.state == SubState::Terminated,
            id: event.id,
        })
    }

    /// Whether the sipfrag carries a final status (the transferee's request is done).
    pub fn is_final(&self) -> bool {
        self.status >= 200
    }
}

/// The status code and reason phrase of a sipfrag's first line (`SIP/2.0 200 OK`). Leading
/// blank lines and surrounding whitespace are tolerated, the protocol version is matched
/// case-insensitively and the reason phrase may be missing; anything else is refused.
pub fn parse_sipfrag_status(body: &[u8]) -> Result<(u16, String), NotifyError> {
    let text = std::str::from_utf8(body).map_err(|_| NotifyError::BadSipfrag("not UTF-8"))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or(NotifyError::BadSipfrag("empty body"))?;
    let mut parts = line.splitn(3, [' ', '\t']);
    let version = parts.next().unwrap_or_default();
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(NotifyError::BadSipfrag("no SIP/2.0 status line"));
    }
    let code = parts
        .next()
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (100..700).contains(c))
        .ok_or(NotifyError::BadSipfrag("status code is not 100..699"))?;
    let reason = parts.next().unwrap_or_default().trim().to_owned();
    Ok((code, reason))
}

/// A sipfrag body with one status line, for the NOTIFYs we send a referrer.
pub fn sipfrag_body(status: u16, reason: &str) -> Vec<u8> {
    format!("SIP/2.0 {status} {reason}\r\n").into_bytes()
}

/// The `Subscription-State` of a NOTIFY we send: `active` while the transfer runs,
/// `terminated;reason=noresource` with the final status (RFC 3515 §2.4.7).
pub fn subscription_state(final_status: bool, expires_secs: u32) -> String {
    if final_status {
        "terminated;reason=noresource".into()
    } else {
        format!("active;expires={expires_secs}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Method;

    fn notify(event: Option<&str>, state: Option<&str>, ct: Option<&str>, body: &str) -> Request {
        let mut req = Request::new(Method::Notify, "sip:voxgate@127.0.0.1");
        if let Some(e) = event {
            req.headers.push(HeaderName::Event, e);
        }
        if let Some(s) = state {
            req.headers.push(HeaderName::SubscriptionState, s);
        }
        if let Some(c) = ct {
            req.headers.push(HeaderName::ContentType, c);
        }
        req.body = body.as_bytes().to_vec();
        req
    }

    #[test]
    fn progress_and_final_notifies() {
        let trying = notify(
            Some("refer;id=2"),
            Some("active;expires=60"),
            Some("message/sipfrag;version=2.0"),
            "SIP/2.0 100 Trying\r\n",
        );
        let n = ReferNotify::from_request(&trying).unwrap();
        assert_eq!((n.status, n.reason.as_str()), (100, "Trying"));
        assert!(!n.terminated && !n.is_final());
        assert_eq!(n.id.as_deref(), Some("2"));

        let done = notify(
            Some("refer"),
            Some("terminated;reason=noresource"),
            Some("Message/SipFrag"),
            "\r\nSIP/2.0 200 OK\r\nContent-Length: 0\r\n",
        );
        let n = ReferNotify::from_request(&done).unwrap();
        assert_eq!(n.status, 200);
        assert!(n.terminated && n.is_final());
        assert_eq!(n.id, None);
    }

    #[test]
    fn bad_notifies_get_their_answer() {
        let cases = [
            (
                notify(None, Some("active"), Some(SIPFRAG), "SIP/2.0 100 Trying"),
                489,
            ),
            (
                notify(
                    Some("presence"),
                    Some("active"),
                    Some(SIPFRAG),
                    "SIP/2.0 100 Trying",
                ),
                489,
            ),
            (
                notify(Some("refer"), None, Some(SIPFRAG), "SIP/2.0 100 Trying"),
                400,
            ),
            (
                notify(
                    Some("refer"),
                    Some("act ive"),
                    Some(SIPFRAG),
                    "SIP/2.0 100 Trying",
                ),
                400,
            ),
            (
                notify(
                    Some("refer"),
                    Some("active"),
                    Some("text/plain"),
                    "SIP/2.0 100 Trying",
                ),
                415,
            ),
            (
                notify(Some("refer"), Some("active"), None, "SIP/2.0 100 Trying"),
                415,
            ),
            (
                notify(Some("refer"), Some("active"), Some(SIPFRAG), ""),
                400,
            ),
            (
                notify(Some("refer"), Some("active"), Some(SIPFRAG), "hello"),
                400,
            ),
        ];
        for (req, status) in cases {
            let err = ReferNotify::from_request(&req).unwrap_err();
            assert_eq!(err.status().0, status, "{err}");
        }
    }

    #[test]
    fn sipfrag_status_lines() {
        assert_eq!(
            parse_sipfrag_status(b"SIP/2.0 603 Declined").unwrap(),
            (603, "Declined".into())
        );
        assert_eq!(
            parse_sipfrag_status(b"  sip/2.0 180\n").unwrap(),
            (180, "".into())
        );
        assert_eq!(
            parse_sipfrag_status(b"SIP/2.0 486 Busy  Here \r\n").unwrap(),
            (486, "Busy  Here".into())
        );
        for bad in [
            &b""[..],
            b"\r\n\r\n",
            b"SIP/2.0",
            b"SIP/2.0 20 OK",
            b"SIP/2.0 2000 OK",
            b"SIP/2.0 099 Low",
            b"SIP/2.0 700 High",
            b"SIP/2.0 +20 OK",
            b"HTTP/1.1 200 OK",
            b"INVITE sip:a@b SIP/2.0",
            b"SIP/2.0 200 \xff",
        ] {
            assert!(parse_sipfrag_status(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn outgoing_bodies_and_states() {
        assert_eq!(sipfrag_body(100, "Trying"), b"SIP/2.0 100 Trying\r\n");
        assert_eq!(
            parse_sipfrag_status(&sipfrag_body(503, "Service Unavailable"))
                .unwrap()
                .0,
            503
        );
        assert_eq!(subscription_state(false, 60), "active;expires=60");
        assert_eq!(subscription_state(true, 60), "terminated;reason=noresource");
    }
}
