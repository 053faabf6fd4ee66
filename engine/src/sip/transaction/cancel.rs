//! CANCEL (RFC 3261 §9): building one for a pending INVITE and the 487 answer.

use crate::sip::message::typed::split_top_level_commas;
use crate::sip::message::{HeaderName, Method, Request, Response};

/// Builds the CANCEL for `invite` (RFC 3261 §9.1): same Request-URI, Call-ID, To, From, CSeq
/// number and Route headers, the INVITE's top Via only (so the same branch), CSeq method
/// CANCEL.
pub fn cancel_for(invite: &Request) -> Request {
    let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
    if let Some(via) = invite.headers.get(&HeaderName::Via) {
        let top = split_top_level_commas(via).next().unwrap_or(via);
        cancel.headers.push(HeaderName::Via, top);
    }
    cancel.headers.push(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        if let Some(v) = invite.headers.get(&name) {
            cancel.headers.push(name, v);
        }
    }
    if let Ok(cseq) = invite.cseq() {
        cancel
            .headers
            .push(HeaderName::CSeq, format!("{} CANCEL", cseq.seq));
    }
    for route in invite.headers.get_all(&HeaderName::Route) {
        cancel.headers.push(HeaderName::Route, route);
    }
    cancel
}

/// The `487 Request Terminated` a UAS sends on an INVITE it was asked to cancel (§9.2).
pub fn request_terminated(invite: &Request, to_tag: Option<&str>) -> Response {
    invite.response(487, "Request Terminated", to_tag)
}

/// A To tag derived from a branch, for the responses the transaction layer makes on its own
/// (the 200 to a CANCEL before the TU chose a tag, a 481): stable across retransmissions.
pub(crate) fn derived_tag(branch: &str) -> String {
    // FNV-1a: cheap and deterministic; the tag only has to be unique per request.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in branch.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("vg{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::test_support::invite;

    #[test]
    fn cancel_copies_what_9_1_says() {
        let inv = invite();
        let cancel = cancel_for(&inv);
        assert_eq!(cancel.method, Method::Cancel);
        assert_eq!(cancel.uri, inv.uri);
        assert_eq!(cancel.top_via().unwrap(), inv.top_via().unwrap());
        assert_eq!(cancel.cseq().unwrap().seq, inv.cseq().unwrap().seq);
        assert_eq!(cancel.cseq().unwrap().method, Method::Cancel);
        assert_eq!(cancel.from().unwrap(), inv.from().unwrap());
        assert_eq!(cancel.to().unwrap(), inv.to().unwrap());
        assert_eq!(cancel.call_id().unwrap(), inv.call_id().unwrap());
        assert_eq!(
            cancel.headers.get(&HeaderName::Route),
            Some("<sip:proxy.example;lr>")
        );
    }

    #[test]
    fn request_terminated_is_487_with_tag() {
        let r = request_terminated(&invite(), Some("t1"));
        assert_eq!(r.status, 487);
        assert_eq!(r.to().unwrap().tag(), Some("t1"));
        assert_eq!(derived_tag("z9hG4bKa"), derived_tag("z9hG4bKa"));
        assert_ne!(derived_tag("z9hG4bKa"), derived_tag("z9hG4bKb"));
    }
}
