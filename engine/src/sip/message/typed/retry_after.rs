//! Retry-After (RFC 3261 §20.33): `18000;duration=3600` or `120 (I'm in a meeting)`.

use std::fmt;

use super::super::header::HeaderName;
use super::header_trait::TypedHeader;
use super::session_timer::parse_delta;
use super::{find_param, malformed, parse_params, write_params, Param, TypedError};

/// A Retry-After value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryAfter {
    /// Seconds to wait.
    pub seconds: u32,
    /// The comment in parentheses, without them.
    pub comment: Option<String>,
    /// The `duration` parameter in seconds.
    pub duration: Option<u32>,
    /// Other parameters, in order.
    pub params: Vec<Param>,
}

impl RetryAfter {
    /// Parses the value.
    pub fn parse(raw: &str) -> Result<RetryAfter, TypedError> {
        const H: &str = "Retry-After";
        let raw = raw.trim();
        let digits_end = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
        let seconds = parse_delta(H, &raw[..digits_end])?;
        let mut rest = raw[digits_end..].trim_start();
        let mut comment = None;
        if let Some(inner) = rest.strip_prefix('(') {
            // comment = "(" *(ctext / quoted-pair / comment) ")": track nesting.
            let mut depth = 1;
            let mut end = None;
            let mut escaped = false;
            for (i, c) in inner.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let end = end.ok_or(malformed(H, "unclosed comment"))?;
            comment = Some(inner[..end].to_owned());
            rest = inner[end + 1..].trim_start();
        }
        let mut params = parse_params(rest).map_err(|why| malformed(H, why))?;
        let duration = match find_param(&params, "duration").map(|p| p.value.clone()) {
            None => None,
            Some(Some(v)) => Some(parse_delta(H, &v)?),
            Some(None) => return Err(malformed(H, "duration needs a value")),
        };
        params.retain(|p| !p.name.eq_ignore_ascii_case("duration"));
        Ok(RetryAfter {
            seconds,
            comment,
            duration,
            params,
        })
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seconds)?;
        if let Some(comment) = &self.comment {
            write!(f, " ({comment})")?;
        }
        if let Some(duration) = self.duration {
            write!(f, ";duration={duration}")?;
        }
        write_params(f, &self.params)
    }
}

impl TypedHeader for RetryAfter {
    fn name() -> HeaderName {
        HeaderName::RetryAfter
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        RetryAfter::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after() {
        let r = RetryAfter::parse("18000;duration=3600").unwrap();
        assert_eq!((r.seconds, r.duration), (18000, Some(3600)));
        assert_eq!(r.to_string(), "18000;duration=3600");
        let r = RetryAfter::parse("120 (I'm in a (long) meeting) ;x=y").unwrap();
        assert_eq!(r.comment.as_deref(), Some("I'm in a (long) meeting"));
        assert_eq!(RetryAfter::parse(&r.to_string()).unwrap(), r);
        assert!(RetryAfter::parse("949302838503028349304023988").is_err());
        assert!(RetryAfter::parse("5 (open").is_err());
        assert!(RetryAfter::parse("soon").is_err());
    }
}
