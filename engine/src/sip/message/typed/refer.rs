//! REFER (RFC 3515, RFC 3892): Refer-To with its URI headers decoded, and Referred-By.

use std::fmt;

use super::super::header::HeaderName;
use super::header_trait::TypedHeader;
use super::replaces::Replaces;
use super::{find_param, malformed, NameAddr, TypedError};

/// `Refer-To: <sip:agent@cc.example?Replaces=...&User-to-User=...>` (compact `r`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferTo {
    /// The target, with the URI exactly as received (headers still escaped).
    pub addr: NameAddr,
}

impl ReferTo {
    /// Parses the value.
    pub fn parse(raw: &str) -> Result<ReferTo, TypedError> {
        NameAddr::parse(raw)
            .map(|addr| ReferTo { addr })
            .map_err(|e| match e {
                TypedError::Malformed { why, .. } => malformed("Refer-To", why),
                other => other,
            })
    }

    /// A Refer-To for `uri` carrying `headers` as URI headers (values percent-encoded), e.g.
    /// `User-to-User` or `Replaces` for the transfer target to copy into its INVITE.
    pub fn with_headers(uri: &str, headers: &[(&str, &str)]) -> ReferTo {
        let mut uri = uri.to_owned();
        for (i, (name, value)) in headers.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(&percent_encode(name));
            uri.push('=');
            uri.push_str(&percent_encode(value));
        }
        ReferTo {
            addr: NameAddr {
                display: None,
                uri,
                params: Vec::new(),
            },
        }
    }

    /// The URI without its `?headers` part.
    pub fn target(&self) -> &str {
        self.addr.uri.split('?').next().unwrap_or("")
    }

    /// The URI headers, names as received and values percent-decoded.
    pub fn uri_headers(&self) -> Result<Vec<(String, String)>, TypedError> {
        const H: &str = "Refer-To";
        let Some((_, query)) = self.addr.uri.split_once('?') else {
            return Ok(Vec::new());
        };
        query
            .split('&')
            .filter(|h| !h.is_empty())
            .map(|h| {
                let (name, value) = h
                    .split_once('=')
                    .ok_or(malformed(H, "URI header without '='"))?;
                Ok((
                    percent_decode(name).ok_or(malformed(H, "bad escape in URI header"))?,
                    percent_decode(value).ok_or(malformed(H, "bad escape in URI header"))?,
                ))
            })
            .collect()
    }

    /// The first URI header of that name (case-insensitive), decoded.
    pub fn uri_header(&self, name: &str) -> Result<Option<String>, TypedError> {
        Ok(self
            .uri_headers()?
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v))
    }

    /// The embedded Replaces header (attended transfer), typed.
    pub fn replaces(&self) -> Result<Option<Replaces>, TypedError> {
        self.uri_header("Replaces")?
            .map(|v| Replaces::parse(&v))
            .transpose()
    }
}

impl fmt::Display for ReferTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr.fmt(f)
    }
}

impl TypedHeader for ReferTo {
    fn name() -> HeaderName {
        HeaderName::ReferTo
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        ReferTo::parse(raw)
    }
}

/// `Referred-By: <sip:referrer@a.example>;cid="..."` (compact `b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferredBy {
    /// The referrer.
    pub addr: NameAddr,
}

impl ReferredBy {
    /// Parses the value.
    pub fn parse(raw: &str) -> Result<ReferredBy, TypedError> {
        NameAddr::parse(raw)
            .map(|addr| ReferredBy { addr })
            .map_err(|e| match e {
                TypedError::Malformed { why, .. } => malformed("Referred-By", why),
                other => other,
            })
    }

    /// The `cid` parameter (Content-ID of an authenticated body, RFC 3892).
    pub fn cid(&self) -> Option<&str> {
        find_param(&self.addr.params, "cid").and_then(|p| p.value.as_deref())
    }
}

impl fmt::Display for ReferredBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr.fmt(f)
    }
}

impl TypedHeader for ReferredBy {
    fn name() -> HeaderName {
        HeaderName::ReferredBy
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        ReferredBy::parse(raw)
    }
}

/// Decodes `%HH` escapes; `None` on a bad escape or a result that is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            // Two hex digits are at most 0xff.
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Escapes everything but unreserved characters (safe inside a SIP URI header name or value).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_headers_are_decoded() {
        let r = ReferTo::parse(
            "<sip:dave@denver.example.org?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994&User-to-User=56a390f3d2b7310023a%3Bencoding%3Dhex>",
        )
        .unwrap();
        assert_eq!(r.target(), "sip:dave@denver.example.org");
        let rep = r.replaces().unwrap().unwrap();
        assert_eq!(
            (
                rep.call_id.as_str(),
                rep.to_tag.as_str(),
                rep.from_tag.as_str()
            ),
            ("12345@192.168.118.3", "12345", "5FFE-3994")
        );
        assert_eq!(
            r.uri_header("user-to-user").unwrap().as_deref(),
            Some("56a390f3d2b7310023a;encoding=hex")
        );
        assert_eq!(ReferTo::parse(&r.to_string()).unwrap(), r);
        assert!(ReferTo::parse("<sip:x?a=%zz>")
            .unwrap()
            .uri_headers()
            .is_err());
        assert!(ReferTo::parse("sip:a@b?x=y").is_err());
    }

    #[test]
    fn refer_to_is_built_with_escaped_headers() {
        let r = ReferTo::with_headers(
            "sip:agents@cc.example",
            &[("User-to-User", "abc;encoding=hex")],
        );
        assert_eq!(
            r.to_string(),
            "<sip:agents@cc.example?User-to-User=abc%3Bencoding%3Dhex>"
        );
        assert_eq!(
            r.uri_header("User-to-User").unwrap().as_deref(),
            Some("abc;encoding=hex")
        );
    }

    #[test]
    fn referred_by() {
        let r = ReferredBy::parse(
            "<sip:referrer@atlanta.example.com>;cid=\"2UWQFN309shb3@ref.example\"",
        )
        .unwrap();
        assert_eq!(r.cid(), Some("2UWQFN309shb3@ref.example"));
        assert_eq!(r.addr.uri, "sip:referrer@atlanta.example.com");
        assert_eq!(ReferredBy::parse(&r.to_string()).unwrap(), r);
        assert!(ReferredBy::parse("\"x").is_err());
    }
}
