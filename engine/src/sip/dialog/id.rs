//! Dialog identifiers (RFC 3261 §12): Call-ID, local tag, remote tag.

use std::fmt;

use crate::sip::message::{Request, Response, TypedError};

/// Identifies a dialog from our side: which tag is ours depends on the direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag (From tag as UAC, To tag as UAS).
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog a request we received belongs to: local = To tag, remote = From tag.
    /// `Ok(None)` when the request has no To tag (it is not inside a dialog).
    pub fn for_incoming_request(req: &Request) -> Result<Option<DialogId>, TypedError> {
        let to = req.to()?;
        let Some(local) = to.tag() else {
            return Ok(None);
        };
        Ok(Some(DialogId {
            call_id: req.call_id()?.to_owned(),
            local_tag: local.to_owned(),
            remote_tag: req.from()?.tag().unwrap_or("").to_owned(),
        }))
    }

    /// The dialog a response to our request belongs to: local = From tag, remote = To tag.
    /// `Ok(None)` when the response has no To tag (a 100 Trying).
    pub fn for_incoming_response(resp: &Response) -> Result<Option<DialogId>, TypedError> {
        let to = resp.to()?;
        let Some(remote) = to.tag() else {
            return Ok(None);
        };
        Ok(Some(DialogId {
            call_id: resp.call_id()?.to_owned(),
            local_tag: resp.from()?.tag().unwrap_or("").to_owned(),
            remote_tag: remote.to_owned(),
        }))
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}

/// A fresh From/To tag (RFC 3261 §19.3: at least 32 random bits; we take 64).
pub fn new_tag(rng: &mut impl rand::RngCore) -> String {
    format!("{:016x}", rng.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{HeaderName, Method};

    #[test]
    fn sides_swap_between_requests_and_responses() {
        let mut req = Request::new(Method::Bye, "sip:a@a.example");
        req.headers
            .push(HeaderName::From, "<sip:b@b.example>;tag=remote");
        req.headers
            .push(HeaderName::To, "<sip:a@a.example>;tag=local");
        req.headers.push(HeaderName::CallId, "c");
        req.headers.push(HeaderName::CSeq, "3 BYE");
        let id = DialogId::for_incoming_request(&req).unwrap().unwrap();
        assert_eq!(
            (id.local_tag.as_str(), id.remote_tag.as_str()),
            ("local", "remote")
        );
        let resp = req.response(200, "OK", None);
        let back = DialogId::for_incoming_response(&resp).unwrap().unwrap();
        assert_eq!(
            (back.local_tag.as_str(), back.remote_tag.as_str()),
            ("remote", "local")
        );
        req.headers.set(HeaderName::To, "<sip:a@a.example>");
        assert_eq!(DialogId::for_incoming_request(&req).unwrap(), None);
    }
}
