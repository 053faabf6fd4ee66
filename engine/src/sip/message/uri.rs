//! URI checks for the Request-URI and the URIs of From, To and Contact (RFC 3261 §19.1 and
//! §25.1, RFC 5118 for IPv6). The check is a byte scan, not a copy; [`SipUri::to_rsip`] hands a
//! checked SIP/SIPS URI to rsip for typed access. rsip alone is not the judge because it stops
//! at the first thing it does not know and ignores the rest, and it does not know URI headers.

use super::typed::TypedError;

/// The scheme class of a URI, for RFC 3261 §8.2.2.1 (416 Unsupported URI Scheme).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriScheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other syntactically valid scheme (`name:`, `isbn:`, `http:`…).
    Other,
}

/// Splits `scheme:rest`, checking `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` and that
/// the URI has no whitespace or control characters and a non-empty rest.
pub fn uri_scheme(uri: &str) -> Result<(UriScheme, &str), &'static str> {
    let colon = uri.find(':').ok_or("URI has no scheme")?;
    let (scheme, rest) = (&uri[..colon], &uri[colon + 1..]);
    let mut bytes = scheme.bytes();
    if !bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return Err("URI scheme is not a valid token");
    }
    if rest.is_empty() {
        return Err("URI is empty after the scheme");
    }
    if uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("URI contains whitespace or control characters");
    }
    let class = if scheme.eq_ignore_ascii_case("sip") {
        UriScheme::Sip
    } else if scheme.eq_ignore_ascii_case("sips") {
        UriScheme::Sips
    } else if scheme.eq_ignore_ascii_case("tel") {
        UriScheme::Tel
    } else {
        UriScheme::Other
    };
    Ok((class, rest))
}

/// Checks any URI as far as its scheme is known: SIP/SIPS fully ([`SipUri::parse`]), others
/// only for a valid scheme and no whitespace.
pub fn check_uri(uri: &str) -> Result<UriScheme, &'static str> {
    let (scheme, _) = uri_scheme(uri)?;
    if matches!(scheme, UriScheme::Sip | UriScheme::Sips) {
        SipUri::parse(uri)?;
    }
    Ok(scheme)
}

/// The parts of a checked SIP or SIPS URI, borrowed from the text (escapes left as received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, if any (may contain `;` parameters, RFC 4475 §3.1.1.9).
    pub user: Option<&'a str>,
    /// The password, if any.
    pub password: Option<&'a str>,
    /// The host; IPv6 references keep their brackets.
    pub host: &'a str,
    /// The port, if given.
    pub port: Option<u16>,
    /// The URI parameters, including the leading `;`, or empty.
    pub params: &'a str,
    /// The URI headers after `?`, if any.
    pub headers: Option<&'a str>,
    text: &'a str,
}

impl<'a> SipUri<'a> {
    /// Checks `sip:`/`sips:` URI syntax (RFC 3261 §25.1). Hostnames may also contain `_`
    /// (seen in the wild), and IPv6 references are read liberally (RFC 5118 §4.10).
    pub fn parse(uri: &'a str) -> Result<SipUri<'a>, &'static str> {
        let (scheme, rest) = uri_scheme(uri)?;
        let secure = match scheme {
            UriScheme::Sip => false,
            UriScheme::Sips => true,
            _ => return Err("not a sip: or sips: URI"),
        };
        // '@' cannot occur in host, parameters or headers, so the last one ends the userinfo.
        let (userinfo, hostpart) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.find(':') {
                    Some(c) => (&info[..c], Some(&info[c + 1..])),
                    None => (info, None),
                };
                if user.is_empty() || !all_chars(user, b"&=+$,;?/") {
                    return Err("bad user part in SIP URI");
                }
                if password.is_some_and(|p| !all_chars(p, b"&=+$,")) {
                    return Err("bad password in SIP URI");
                }
                (Some(user), password)
            }
        };
        let (before_headers, headers) = match hostpart.find('?') {
            Some(q) => (&hostpart[..q], Some(&hostpart[q + 1..])),
            None => (hostpart, None),
        };
        let hostport_end = before_headers.find(';').unwrap_or(before_headers.len());
        let (hostport, params) = before_headers.split_at(hostport_end);
        let (host, port) = split_hostport(hostport)?;
        for param in params.split(';').skip(1) {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            if name.is_empty() || !all_chars(name, b"[]/:&+$") || !all_chars(value, b"[]/:&+$") {
                return Err("bad parameter in SIP URI");
            }
        }
        if let Some(headers) = headers {
            for header in headers.split('&') {
                let (name, value) = header.split_once('=').ok_or("URI header without '='")?;
                if name.is_empty() || !all_chars(name, b"[]/?:+$") || !all_chars(value, b"[]/?:+$")
                {
                    return Err("bad header in SIP URI");
                }
            }
        }
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
            text: uri,
        })
    }

    /// The same URI as rsip's typed model (scheme, user, host, port, parameters). rsip drops
    /// URI headers.
    pub fn to_rsip(&self) -> Result<rsip::Uri, TypedError> {
        rsip::Uri::try_from(self.text).map_err(|_| TypedError::Malformed {
            header: "URI",
            why: "rsip cannot represent this URI",
        })
    }
}

/// Every byte is unreserved, an escape (`%HH`), or one of `extra`.
fn all_chars(s: &str, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&c) || extra.contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
}

/// `host [":" port]` with host a hostname, IPv4 address or bracketed IPv6 reference.
fn split_hostport(s: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']').ok_or("unclosed IPv6 reference")?;
        let inner = &s[1..close];
        if !inner.contains(':')
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("bad IPv6 reference");
        }
        match &s[close + 1..] {
            "" => (&s[..=close], None),
            after => (
                &s[..=close],
                Some(after.strip_prefix(':').ok_or("junk after IPv6 reference")?),
            ),
        }
    } else {
        let (host, port) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err("bad host in SIP URI");
        }
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse().map_err(|_| "port out of range")?)
        }
        Some(_) => return Err("bad port in SIP URI"),
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torture_uris_parse() {
        let u = SipUri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
        let u = SipUri::parse(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        )
        .unwrap();
        assert_eq!(
            u.password,
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        let u = SipUri::parse("sip:[2001:db8::10]:5070;lr?Route=%3Csip:x%3E").unwrap();
        assert_eq!((u.host, u.port), ("[2001:db8::10]", Some(5070)));
        assert_eq!(u.headers, Some("Route=%3Csip:x%3E"));
        assert!(SipUri::parse("sip:user@[2001:db8:::192.0.2.1]").is_ok());
        assert!(SipUri::parse("sips:%00@host5.example.com;%6C%72;n%61me=v%61lue%25%34%31").is_ok());
    }

    #[test]
    fn bad_uris_are_refused() {
        for bad in [
            "sip:2001:db8::10",
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip:user@exa mple.com",
            "sip:user@example.com:99999",
            "sip:us%zzer@example.com",
            "sip:@example.com",
            "sip:",
            "sip:[::1",
        ] {
            assert!(check_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schemes() {
        assert_eq!(check_uri("tel:+15551234"), Ok(UriScheme::Tel));
        assert_eq!(check_uri("SIPS:a@b"), Ok(UriScheme::Sips));
        assert_eq!(
            check_uri("soap.beep://192.0.2.103:3002"),
            Ok(UriScheme::Other)
        );
        assert_eq!(
            check_uri("nobodyKnowsThisScheme:totallyopaquecontent"),
            Ok(UriScheme::Other)
        );
        assert!(check_uri("1abc:x").is_err());
    }

    #[test]
    fn rsip_sees_the_same_uri() {
        let u = SipUri::parse("sip:+15551234@10.0.0.1:5080;transport=tcp").unwrap();
        let r = u.to_rsip().unwrap();
        assert_eq!(r.user(), Some("+15551234"));
        assert_eq!(r.port().map(|p| p.to_string()).as_deref(), Some("5080"));
    }
}
