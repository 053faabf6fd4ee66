//! Reason (RFC 3326): why a request (BYE, CANCEL) was sent.

use std::fmt;

use super::super::header::HeaderName;
use super::header_trait::TypedHeader;
use super::{
    find_param, is_token_char, malformed, split_top_level_commas, value_and_params, write_params,
    Param, TypedError,
};

/// One Reason value: `SIP ;cause=200 ;text="Call completed elsewhere"` or `Q.850;cause=16`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The protocol token (`SIP`, `Q.850`, or an extension).
    pub protocol: String,
    /// The `cause` parameter.
    pub cause: Option<u16>,
    /// The `text` parameter, unquoted.
    pub text: Option<String>,
    /// Other parameters, in order.
    pub params: Vec<Param>,
}

impl Reason {
    /// Parses one value.
    pub fn parse(raw: &str) -> Result<Reason, TypedError> {
        const H: &str = "Reason";
        let (protocol, mut params) = value_and_params(H, raw)?;
        if protocol.is_empty() || !protocol.chars().all(is_token_char) {
            return Err(malformed(H, "protocol is not a token"));
        }
        let cause = match find_param(&params, "cause").map(|p| p.value.as_deref()) {
            None => None,
            Some(Some(v))
                if !v.is_empty() && v.len() <= 5 && v.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(v.parse().map_err(|_| malformed(H, "cause out of range"))?)
            }
            Some(_) => return Err(malformed(H, "cause is not a number")),
        };
        let text = find_param(&params, "text").and_then(|p| p.value.clone());
        params.retain(|p| {
            !p.name.eq_ignore_ascii_case("cause") && !p.name.eq_ignore_ascii_case("text")
        });
        Ok(Reason {
            protocol: protocol.to_owned(),
            cause,
            text,
            params,
        })
    }

    /// Parses every comma-separated value of a Reason field.
    pub fn parse_all(raw: &str) -> Result<Vec<Reason>, TypedError> {
        split_top_level_commas(raw).map(Reason::parse).collect()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.protocol)?;
        if let Some(cause) = self.cause {
            write!(f, ";cause={cause}")?;
        }
        if let Some(text) = &self.text {
            write!(
                f,
                ";text=\"{}\"",
                text.replace('\\', "\\\\").replace('"', "\\\"")
            )?;
        }
        write_params(f, &self.params)
    }
}

impl TypedHeader for Reason {
    fn name() -> HeaderName {
        HeaderName::Reason
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        Reason::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason() {
        let r = Reason::parse("SIP ;cause=200 ;text=\"Call completed elsewhere\"").unwrap();
        assert_eq!((r.protocol.as_str(), r.cause), ("SIP", Some(200)));
        assert_eq!(r.text.as_deref(), Some("Call completed elsewhere"));
        assert_eq!(
            r.to_string(),
            "SIP;cause=200;text=\"Call completed elsewhere\""
        );
        assert_eq!(Reason::parse(&r.to_string()).unwrap(), r);
        let all = Reason::parse_all("Q.850;cause=16, SIP;cause=487;text=\"a, b\"").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].text.as_deref(), Some("a, b"));
        assert!(Reason::parse("SIP;cause=abc").is_err());
        assert!(Reason::parse("SIP;cause=999999").is_err());
    }
}
