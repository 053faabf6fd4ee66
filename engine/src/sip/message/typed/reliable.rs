//! Reliable provisional responses (RFC 3262): RSeq and RAck.

use std::fmt;

use super::super::header::HeaderName;
use super::super::method::Method;
use super::header_trait::TypedHeader;
use super::{is_token_char, malformed, TypedError};

/// `RSeq: 988789`: the sequence number of a reliable provisional response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RSeq(pub u32);

/// `RAck: 776656 1 INVITE`: what a PRACK acknowledges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    /// The RSeq of the acknowledged response.
    pub rseq: u32,
    /// The CSeq number of the acknowledged response.
    pub cseq: u32,
    /// The CSeq method of the acknowledged response.
    pub method: Method,
}

/// `response-num = 1*DIGIT`, 1..=2^31-1 (RFC 3262 §3).
fn response_num(header: &'static str, v: &str) -> Result<u32, TypedError> {
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(header, "not a number"));
    }
    match v.parse::<u32>() {
        Ok(n) if n < 1 << 31 => Ok(n),
        _ => Err(malformed(header, "number out of range")),
    }
}

impl RSeq {
    /// Parses the value.
    pub fn parse(raw: &str) -> Result<RSeq, TypedError> {
        response_num("RSeq", raw.trim()).map(RSeq)
    }
}

impl fmt::Display for RSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TypedHeader for RSeq {
    fn name() -> HeaderName {
        HeaderName::RSeq
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        RSeq::parse(raw)
    }
}

impl RAck {
    /// Parses `response-num LWS CSeq-num LWS Method`.
    pub fn parse(raw: &str) -> Result<RAck, TypedError> {
        const H: &str = "RAck";
        let mut it = raw.split_whitespace();
        let (Some(rseq), Some(cseq), Some(method), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(malformed(H, "expected RSeq CSeq method"));
        };
        if !method.chars().all(is_token_char) {
            return Err(malformed(H, "method is not a token"));
        }
        Ok(RAck {
            rseq: response_num(H, rseq)?,
            cseq: response_num(H, cseq)?,
            method: Method::from_token(method),
        })
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.rseq, self.cseq, self.method)
    }
}

impl TypedHeader for RAck {
    fn name() -> HeaderName {
        HeaderName::RAck
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        RAck::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rseq_and_rack() {
        assert_eq!(RSeq::parse(" 988789 ").unwrap(), RSeq(988789));
        assert!(RSeq::parse("0x1").is_err());
        assert!(RSeq::parse("2147483648").is_err());
        let r = RAck::parse("776656   1 INVITE").unwrap();
        assert_eq!((r.rseq, r.cseq, &r.method), (776656, 1, &Method::Invite));
        assert_eq!(r.to_string(), "776656 1 INVITE");
        assert_eq!(RAck::parse(&r.to_string()).unwrap(), r);
        assert!(RAck::parse("1 INVITE").is_err());
        assert!(RAck::parse("1 2 INVITE x").is_err());
    }
}
