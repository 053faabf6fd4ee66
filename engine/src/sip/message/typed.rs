//! Typed views of the headers the transaction and dialog layers depend on (Via, CSeq, From/To,
//! Contact). They are parsed strictly: a message whose Via or CSeq does not parse is answered
//! 400 rather than guessed at.
//!
//! The submodules add the extension headers rsip lacks, each with parse, `Display` and
//! [`TypedHeader`]: Refer-To/Referred-By, Replaces, Session-Expires/Min-SE, RSeq/RAck,
//! Event/Subscription-State, User-to-User, Reason, Retry-After and Contact.

use std::fmt;

use super::method::Method;

mod contact;
mod event;
mod header_trait;
mod reason;
mod refer;
mod reliable;
mod replaces;
mod retry_after;
mod session_timer;
mod user_to_user;

pub use contact::Contact;
pub use event::{Event, SubState, SubscriptionState};
pub use header_trait::TypedHeader;
pub use reason::Reason;
pub use refer::{percent_decode, percent_encode, ReferTo, ReferredBy};
pub use reliable::{RAck, RSeq};
pub use replaces::Replaces;
pub use retry_after::RetryAfter;
pub use session_timer::{MinSe, Refresher, SessionExpires};
pub use user_to_user::{hex_decode, hex_encode, UserToUser};

/// Why a typed header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypedError {
    /// The header is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// The header is present but malformed.
    #[error("malformed {header} header: {why}")]
    Malformed {
        /// Header name.
        header: &'static str,
        /// What is wrong.
        why: &'static str,
    },
}

fn malformed(header: &'static str, why: &'static str) -> TypedError {
    TypedError::Malformed { header, why }
}

/// A header or URI parameter: `name` or `name=value` (value unquoted when it was quoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Parameter name as received.
    pub name: String,
    /// Parameter value, if any.
    pub value: Option<String>,
}

/// Looks a parameter up case-insensitively.
pub fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Splits `;a=b;c;d="x;y"` into parameters. `text` starts at the first `;` (or is empty).
pub fn parse_params(text: &str) -> Result<Vec<Param>, &'static str> {
    let mut params = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        rest = rest
            .strip_prefix(';')
            .ok_or("expected ';' before a parameter")?
            .trim_start();
        let name_end = rest
            .find(|c: char| c == '=' || c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err("empty parameter name");
        }
        if !name.chars().all(is_token_char) {
            return Err("parameter name is not a token");
        }
        rest = rest[name_end..].trim_start();
        let value = if let Some(after_eq) = rest.strip_prefix('=') {
            let after_eq = after_eq.trim_start();
            if let Some(quoted) = after_eq.strip_prefix('"') {
                let (value, consumed) = unquote(quoted)?;
                rest = after_eq[1 + consumed..].trim_start();
                Some(value)
            } else {
                let end = after_eq
                    .find(|c: char| c == ';' || c.is_whitespace())
                    .unwrap_or(after_eq.len());
                let value = &after_eq[..end];
                if value.is_empty() {
                    return Err("empty parameter value");
                }
                // gen-value = token / host; '/' and '@' are tolerated (seen in the wild).
                if !value
                    .chars()
                    .all(|c| is_token_char(c) || ":[]/@".contains(c))
                {
                    return Err("parameter value is not a token or host");
                }
                rest = after_eq[end..].trim_start();
                Some(value.to_owned())
            }
        } else {
            None
        };
        params.push(Param {
            name: name.to_owned(),
            value,
        });
    }
    Ok(params)
}

/// Splits `value;params` (value trimmed) and parses the parameters.
fn value_and_params<'a>(
    header: &'static str,
    raw: &'a str,
) -> Result<(&'a str, Vec<Param>), TypedError> {
    let raw = raw.trim();
    let end = raw.find(';').unwrap_or(raw.len());
    let params = parse_params(&raw[end..]).map_err(|why| malformed(header, why))?;
    Ok((raw[..end].trim(), params))
}

/// Reads a quoted string body (after the opening quote). Returns the unescaped text and the
/// number of bytes consumed including the closing quote.
fn unquote(s: &str) -> Result<(String, usize), &'static str> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => match chars.next() {
                Some((_, escaped)) => out.push(escaped),
                None => return Err("unterminated escape in quoted string"),
            },
            c => out.push(c),
        }
    }
    Err("unterminated quoted string")
}

/// The transport of a Via.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViaTransport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS.
    Tls,
    /// WebSocket / secure WebSocket / SCTP or any other token, upper-cased.
    Other(String),
}

impl fmt::Display for ViaTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViaTransport::Udp => f.write_str("UDP"),
            ViaTransport::Tcp => f.write_str("TCP"),
            ViaTransport::Tls => f.write_str("TLS"),
            ViaTransport::Other(t) => f.write_str(t),
        }
    }
}

/// One Via value: `SIP/2.0/UDP host:port;branch=…;rport;received=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The transport token.
    pub transport: ViaTransport,
    /// The sent-by host (IPv6 without brackets).
    pub host: String,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// All parameters in order.
    pub params: Vec<Param>,
}

impl Via {
    /// Parses the first Via value of a (possibly comma-joined) Via header field.
    pub fn parse_first(raw: &str) -> Result<Via, TypedError> {
        let first = split_top_level_commas(raw).next().unwrap_or("");
        Via::parse(first)
    }

    /// Parses one Via value.
    pub fn parse(raw: &str) -> Result<Via, TypedError> {
        const H: &str = "Via";
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport, LWS allowed
        // around the slashes (RFC 3261 §25.1 SLASH = SWS "/" SWS).
        let mut parts = raw.splitn(3, '/');
        let name = parts.next().unwrap_or("").trim();
        let version = parts
            .next()
            .ok_or(malformed(H, "no protocol version"))?
            .trim();
        let rest = parts
            .next()
            .ok_or(malformed(H, "no transport"))?
            .trim_start();
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(malformed(H, "protocol is not SIP/2.0"));
        }
        let t_end = rest
            .find(|c: char| c.is_whitespace())
            .ok_or(malformed(H, "no sent-by"))?;
        let transport = match rest[..t_end].to_ascii_uppercase().as_str() {
            "UDP" => ViaTransport::Udp,
            "TCP" => ViaTransport::Tcp,
            "TLS" => ViaTransport::Tls,
            "" => return Err(malformed(H, "empty transport")),
            other => ViaTransport::Other(other.to_owned()),
        };
        let rest = rest[t_end..].trim_start();
        let params_at = rest.find(';').unwrap_or(rest.len());
        let sent_by = rest[..params_at].trim();
        let (host, port) = split_host_port(sent_by).ok_or(malformed(H, "bad sent-by"))?;
        let params = parse_params(&rest[params_at..]).map_err(|why| malformed(H, why))?;
        Ok(Via {
            transport,
            host,
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        find_param(&self.params, "branch").and_then(|p| p.value.as_deref())
    }

    /// Whether the branch carries the RFC 3261 magic cookie.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }

    /// `rport` present (RFC 3581), with its value when a response already filled it.
    pub fn rport(&self) -> Option<Option<u16>> {
        find_param(&self.params, "rport").map(|p| p.value.as_deref().and_then(|v| v.parse().ok()))
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&str> {
        find_param(&self.params, "received").and_then(|p| p.value.as_deref())
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} ", self.transport)?;
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write_params(f, &self.params)
    }
}

/// Writes `;name=value` parameters, quoting values that are not tokens.
pub fn write_params(f: &mut impl fmt::Write, params: &[Param]) -> fmt::Result {
    for p in params {
        match &p.value {
            // gen-value = token / host / quoted-string: hosts bring ':' and '[' ']'.
            Some(v)
                if !v.is_empty() && v.chars().all(|c| is_token_char(c) || ":[]".contains(c)) =>
            {
                write!(f, ";{}={}", p.name, v)?
            }
            Some(v) => write!(
                f,
                ";{}=\"{}\"",
                p.name,
                v.replace('\\', "\\\\").replace('"', "\\\"")
            )?,
            None => write!(f, ";{}", p.name)?,
        }
    }
    Ok(())
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// Splits `host[:port]`, with `[v6]` brackets removed from the host.
pub fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(v6) = s.strip_prefix('[') {
        let close = v6.find(']')?;
        let host = &v6[..close];
        let after = &v6[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.trim().parse().ok()?),
            None if after.trim().is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h.trim(), Some(p.trim().parse().ok()?)),
        None => (s, None),
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == ':' || c == '/') {
        return None;
    }
    Some((host.to_owned(), port))
}

/// Splits a header value at commas that are not inside quotes or angle brackets.
pub fn split_top_level_commas(raw: &str) -> impl Iterator<Item = &str> {
    let mut pieces = Vec::new();
    let (mut start, mut in_quotes, mut in_angle, mut escaped) = (0, false, false, false);
    for (i, c) in raw.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ',' if !in_quotes && !in_angle => {
                pieces.push(raw[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(raw[start..].trim());
    pieces.into_iter()
}

/// The CSeq header: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (< 2^31, RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parses `314159 INVITE`.
    pub fn parse(raw: &str) -> Result<CSeq, TypedError> {
        const H: &str = "CSeq";
        let mut it = raw.split_whitespace();
        let seq = it.next().ok_or(malformed(H, "empty"))?;
        let method = it.next().ok_or(malformed(H, "no method"))?;
        if it.next().is_some() {
            return Err(malformed(H, "trailing text"));
        }
        if seq.len() > 10 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed(H, "sequence number is not a number"));
        }
        let seq: u64 = seq
            .parse()
            .map_err(|_| malformed(H, "sequence number out of range"))?;
        if seq >= 1 << 31 {
            return Err(malformed(H, "sequence number out of range"));
        }
        if !method.chars().all(is_token_char) {
            return Err(malformed(H, "method is not a token"));
        }
        // seq < 2^31 was checked above.
        Ok(CSeq {
            seq: seq as u32,
            method: Method::from_token(method),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A name-addr or addr-spec with header parameters: From, To, Contact, Route, Refer-To…
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted.
    pub display: Option<String>,
    /// The URI text (inside the angle brackets when there were any).
    pub uri: String,
    /// Header parameters (outside the URI).
    pub params: Vec<Param>,
}

impl NameAddr {
    /// Parses one value (`"Bob" <sip:bob@b.example>;tag=a6c85cf` or `sip:bob@b.example;tag=x`).
    pub fn parse(raw: &str) -> Result<NameAddr, TypedError> {
        const H: &str = "name-addr";
        let raw = raw.trim();
        let (display, after_display) = if let Some(quoted) = raw.strip_prefix('"') {
            let (text, used) = unquote(quoted).map_err(|why| malformed(H, why))?;
            (Some(text), quoted[used..].trim_start())
        } else if let Some(lt) = raw.find('<') {
            let name = raw[..lt].trim();
            // display-name = *(token LWS) / quoted-string (RFC 3261 §25.1).
            if !name
                .chars()
                .all(|c| is_token_char(c) || c == ' ' || c == '\t')
            {
                return Err(malformed(H, "unquoted display name is not tokens"));
            }
            ((!name.is_empty()).then(|| name.to_owned()), &raw[lt..])
        } else {
            (None, raw)
        };
        if let Some(inner) = after_display.strip_prefix('<') {
            let gt = inner.find('>').ok_or(malformed(H, "unclosed '<'"))?;
            let uri = inner[..gt].trim();
            if uri.is_empty() || !uri.contains(':') {
                return Err(malformed(H, "no URI scheme"));
            }
            if uri.contains(|c: char| c.is_control() || c == '<') {
                return Err(malformed(H, "control character or '<' in URI"));
            }
            let params = parse_params(&inner[gt + 1..]).map_err(|why| malformed(H, why))?;
            return Ok(NameAddr {
                display,
                uri: uri.to_owned(),
                params,
            });
        }
        if display.is_some() {
            return Err(malformed(H, "display name without <URI>"));
        }
        // addr-spec form: parameters after the URI belong to the header (RFC 3261 §20.10).
        let split = after_display.find(';').unwrap_or(after_display.len());
        let uri = after_display[..split].trim();
        if uri.is_empty() || !uri.contains(':') || uri.contains(char::is_whitespace) {
            return Err(malformed(H, "no URI"));
        }
        // RFC 3261 §20.10: a URI with ',', '?' or ';' must be enclosed in '<' '>'.
        if uri.contains(['?', ',']) {
            return Err(malformed(H, "URI with '?' or ',' not enclosed in <>"));
        }
        if uri.contains(|c: char| c.is_control() || "<>\"".contains(c)) {
            return Err(malformed(
                H,
                "control character, quote or angle bracket in URI",
            ));
        }
        let params = parse_params(&after_display[split..]).map_err(|why| malformed(H, why))?;
        Ok(NameAddr {
            display: None,
            uri: uri.to_owned(),
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        find_param(&self.params, "tag").and_then(|p| p.value.as_deref())
    }

    /// The `expires` parameter of a Contact, in seconds (absent or not a number: `None`).
    pub fn expires(&self) -> Option<u32> {
        find_param(&self.params, "expires")
            .and_then(|p| p.value.as_deref())
            .and_then(|v| v.parse().ok())
    }

    /// The `q` parameter of a Contact (0.0..=1.0), when present and well formed.
    pub fn q(&self) -> Option<f32> {
        let v = find_param(&self.params, "q").and_then(|p| p.value.as_deref())?;
        let q: f32 = v.parse().ok()?;
        (v.len() <= 5 && (0.0..=1.0).contains(&q)).then_some(q)
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "\"{}\" ", d.replace('\\', "\\\\").replace('"', "\\\""))?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_lws_around_slashes_and_ipv6() {
        let v = Via::parse("SIP / 2.0 / UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3;rport").unwrap();
        assert_eq!(v.transport, ViaTransport::Udp);
        assert_eq!(v.host, "2001:db8::9:1");
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.branch(), Some("z9hG4bKas3"));
        assert_eq!(v.rport(), Some(None));
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn via_first_of_many() {
        let v = Via::parse_first("SIP/2.0/TCP a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example")
            .unwrap();
        assert_eq!(v.host, "a.example");
        assert_eq!(v.to_string(), "SIP/2.0/TCP a.example;branch=z9hG4bK1");
    }

    #[test]
    fn cseq_limits() {
        assert_eq!(CSeq::parse("314159 INVITE").unwrap().seq, 314159);
        assert!(CSeq::parse("36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse("2147483648 BYE").is_err());
        assert!(CSeq::parse("1").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse("\"Bob \\\"B\\\"\" <sip:bob@b.example;transport=tcp>;tag=a6c85cf")
            .unwrap();
        assert_eq!(a.display.as_deref(), Some("Bob \"B\""));
        assert_eq!(a.uri, "sip:bob@b.example;transport=tcp");
        assert_eq!(a.tag(), Some("a6c85cf"));
        let b = NameAddr::parse("sip:bob@b.example;tag=x").unwrap();
        assert_eq!(b.uri, "sip:bob@b.example");
        assert_eq!(b.tag(), Some("x"));
        let c = NameAddr::parse("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8").unwrap();
        assert_eq!(c.display.as_deref(), Some("Anonymous"));
        assert!(NameAddr::parse("<sip:x").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>").is_err());
        // Fuzz finding: what parses must print as something that parses again.
        assert!(NameAddr::parse("sip:user@e\u{7}\0omE>").is_err());
        assert!(NameAddr::parse("<sip:a@b>;x\"y=1").is_err());
        assert!(NameAddr::parse("<sip:a@b>;x=a,b").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:x%3E").is_err());
        let m = NameAddr::parse("<sip:a@b>;expires=60;q=0.5").unwrap();
        assert_eq!((m.expires(), m.q()), (Some(60), Some(0.5)));
    }
}
