//! Transaction keys: how a request or response finds its transaction (RFC 3261 §17.1.3 and
//! §17.2.3).
//!
//! With an RFC 3261 branch (magic cookie `z9hG4bK`) a server transaction is the top Via's
//! branch + sent-by + method, with ACK folded onto INVITE. Without the cookie (RFC 2543
//! peers) the branch is not unique, so the key falls back to the Request-URI, From tag,
//! Call-ID, CSeq number and the whole top Via. A client transaction is the branch we chose +
//! the CSeq method.

use std::fmt;

use crate::sip::message::{Method, Request, Response, TypedError};

/// The RFC 3261 magic cookie every branch we generate starts with.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A fresh RFC 3261 branch: the magic cookie and 64 random bits. The randomness is injected so
/// tests are deterministic.
pub fn new_branch(rng: &mut impl rand::RngCore) -> String {
    format!("{MAGIC_COOKIE}{:016x}", rng.next_u64())
}

/// Which side of a transaction a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// Identifies one transaction inside a [`super::TransactionLayer`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    /// Client or server transaction.
    pub role: Role,
    /// The branch (RFC 3261) or the RFC 2543 composite of Request-URI, From tag, Call-ID,
    /// CSeq number and top Via.
    pub branch: Box<str>,
    /// The top Via sent-by (`host:port`) of a server transaction; empty for client keys.
    pub sent_by: Box<str>,
    /// The transaction's method (INVITE for an ACK to a non-2xx final response).
    pub method: Method,
}

impl TransactionKey {
    /// The server key of a received request (ACK maps to the INVITE it acknowledges).
    pub fn for_server(req: &Request) -> Result<TransactionKey, TypedError> {
        let via = req.top_via()?;
        let cseq = req.cseq()?;
        let method = match req.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        let sent_by = match via.port {
            Some(port) => format!("{}:{port}", via.host.to_ascii_lowercase()),
            None => via.host.to_ascii_lowercase(),
        };
        let branch = match via.branch() {
            Some(b) if b.starts_with(MAGIC_COOKIE) => b.into(),
            _ => {
                // RFC 2543 §17.2.3 fallback; the To tag is left out so that the ACK (which
                // carries the tag of our response) matches the INVITE (which has none).
                let from_tag = req.from()?.tag().unwrap_or("").to_owned();
                let raw_via = via.to_string();
                format!(
                    "2543|{}|{}|{}|{}|{}",
                    req.uri,
                    from_tag,
                    req.call_id()?,
                    cseq.seq,
                    raw_via
                )
                .into()
            }
        };
        Ok(TransactionKey {
            role: Role::Server,
            branch,
            sent_by: sent_by.into(),
            method,
        })
    }

    /// The client key of a response: its top Via branch and CSeq method.
    pub fn for_client_response(resp: &Response) -> Result<TransactionKey, TypedError> {
        let via = resp.top_via()?;
        let cseq = resp.cseq()?;
        let branch = via.branch().ok_or(TypedError::Missing("Via branch"))?;
        Ok(TransactionKey::client(branch, cseq.method))
    }

    /// The client key of a request we send (its top Via must carry a branch).
    pub fn for_client_request(req: &Request) -> Result<TransactionKey, TypedError> {
        let via = req.top_via()?;
        let branch = via.branch().ok_or(TypedError::Missing("Via branch"))?;
        Ok(TransactionKey::client(branch, req.method.clone()))
    }

    fn client(branch: &str, method: Method) -> TransactionKey {
        TransactionKey {
            role: Role::Client,
            branch: branch.into(),
            sent_by: "".into(),
            method,
        }
    }

    /// The same transaction identity with another method: the INVITE a CANCEL refers to
    /// (RFC 3261 §9.2) or the CANCEL we send for an INVITE (§9.1).
    pub fn with_method(&self, method: Method) -> TransactionKey {
        TransactionKey {
            method,
            ..self.clone()
        }
    }

    /// Whether the branch carries the RFC 3261 magic cookie.
    pub fn is_rfc3261(&self) -> bool {
        self.branch.starts_with(MAGIC_COOKIE)
    }
}

impl fmt::Display for TransactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self.role {
            Role::Client => "client",
            Role::Server => "server",
        };
        write!(f, "{role} {} {}", self.method, self.branch)?;
        if !self.sent_by.is_empty() {
            write!(f, " via {}", self.sent_by)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::HeaderName;

    fn request(method: Method, via: &str, cseq: &str) -> Request {
        let mut r = Request::new(method, "sip:bob@b.example");
        r.headers.push(HeaderName::Via, via);
        r.headers.push(HeaderName::From, "<sip:a@a.example>;tag=f1");
        r.headers.push(HeaderName::To, "<sip:bob@b.example>");
        r.headers.push(HeaderName::CallId, "c1");
        r.headers.push(HeaderName::CSeq, cseq);
        r
    }

    #[test]
    fn ack_matches_invite_and_cancel_does_not() {
        let via = "SIP/2.0/UDP A.example:5060;branch=z9hG4bK77";
        let invite = TransactionKey::for_server(&request(Method::Invite, via, "1 INVITE")).unwrap();
        let ack = TransactionKey::for_server(&request(Method::Ack, via, "1 ACK")).unwrap();
        let cancel = TransactionKey::for_server(&request(Method::Cancel, via, "1 CANCEL")).unwrap();
        assert_eq!(invite, ack);
        assert_ne!(invite, cancel);
        assert_eq!(cancel.with_method(Method::Invite), invite);
        assert_eq!(&*invite.sent_by, "a.example:5060");
        assert!(invite.is_rfc3261());
    }

    #[test]
    fn same_branch_other_sent_by_is_another_transaction() {
        let a = request(
            Method::Bye,
            "SIP/2.0/UDP a.example;branch=z9hG4bK1",
            "2 BYE",
        );
        let b = request(
            Method::Bye,
            "SIP/2.0/UDP b.example;branch=z9hG4bK1",
            "2 BYE",
        );
        assert_ne!(
            TransactionKey::for_server(&a).unwrap(),
            TransactionKey::for_server(&b).unwrap()
        );
    }

    #[test]
    fn rfc2543_fallback_key() {
        let via = "SIP/2.0/UDP old.example;branch=1";
        let invite = TransactionKey::for_server(&request(Method::Invite, via, "5 INVITE")).unwrap();
        let mut ack = request(Method::Ack, via, "5 ACK");
        ack.headers
            .set(HeaderName::To, "<sip:bob@b.example>;tag=ours");
        assert_eq!(invite, TransactionKey::for_server(&ack).unwrap());
        assert!(!invite.is_rfc3261());
        let next = TransactionKey::for_server(&request(Method::Invite, via, "6 INVITE")).unwrap();
        assert_ne!(invite, next);
        let no_branch = request(Method::Options, "SIP/2.0/UDP old.example", "1 OPTIONS");
        assert!(TransactionKey::for_server(&no_branch).is_ok());
    }

    #[test]
    fn client_key_from_response() {
        let req = request(
            Method::Invite,
            "SIP/2.0/UDP me;branch=z9hG4bKme",
            "1 INVITE",
        );
        let resp = req.response(180, "Ringing", Some("t"));
        assert_eq!(
            TransactionKey::for_client_request(&req).unwrap(),
            TransactionKey::for_client_response(&resp).unwrap()
        );
    }
}
