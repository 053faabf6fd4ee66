//! Session timers (RFC 4028): Session-Expires and Min-SE.

use std::fmt;

use super::super::header::HeaderName;
use super::header_trait::TypedHeader;
use super::{find_param, malformed, value_and_params, write_params, Param, TypedError};

/// Who refreshes the session (`refresher=uac|uas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The UAC refreshes.
    Uac,
    /// The UAS refreshes.
    Uas,
}

/// `Session-Expires: 1800;refresher=uac` (compact `x`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpires {
    /// Session interval in seconds.
    pub delta: u32,
    /// The refresher, when given.
    pub refresher: Option<Refresher>,
    /// Other parameters, in order.
    pub params: Vec<Param>,
}

/// `Min-SE: 90`: the smallest session interval the sender accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinSe {
    /// Seconds.
    pub delta: u32,
    // Extension parameters of Min-SE are allowed by the grammar but carry nothing we use.
}

pub(crate) fn parse_delta(header: &'static str, v: &str) -> Result<u32, TypedError> {
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(header, "delta-seconds is not a number"));
    }
    v.parse()
        .map_err(|_| malformed(header, "delta-seconds out of range"))
}

impl SessionExpires {
    /// Parses one value.
    pub fn parse(raw: &str) -> Result<SessionExpires, TypedError> {
        const H: &str = "Session-Expires";
        let (value, mut params) = value_and_params(H, raw)?;
        let delta = parse_delta(H, value)?;
        let refresher = match find_param(&params, "refresher").map(|p| p.value.as_deref()) {
            None => None,
            Some(Some(v)) if v.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(Some(v)) if v.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return Err(malformed(H, "refresher is not uac or uas")),
        };
        params.retain(|p| !p.name.eq_ignore_ascii_case("refresher"));
        Ok(SessionExpires {
            delta,
            refresher,
            params,
        })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac")?,
            Some(Refresher::Uas) => f.write_str(";refresher=uas")?,
            None => {}
        }
        write_params(f, &self.params)
    }
}

impl TypedHeader for SessionExpires {
    fn name() -> HeaderName {
        HeaderName::SessionExpires
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        SessionExpires::parse(raw)
    }
}

impl MinSe {
    /// Parses one value (parameters are read and ignored).
    pub fn parse(raw: &str) -> Result<MinSe, TypedError> {
        let (value, _) = value_and_params("Min-SE", raw)?;
        Ok(MinSe {
            delta: parse_delta("Min-SE", value)?,
        })
    }
}

impl fmt::Display for MinSe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)
    }
}

impl TypedHeader for MinSe {
    fn name() -> HeaderName {
        HeaderName::MinSe
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        MinSe::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_expires_round_trips() {
        let se = SessionExpires::parse("1800 ; refresher = UAS;x=1").unwrap();
        assert_eq!((se.delta, se.refresher), (1800, Some(Refresher::Uas)));
        assert_eq!(se.to_string(), "1800;refresher=uas;x=1");
        assert_eq!(SessionExpires::parse(&se.to_string()).unwrap(), se);
        assert_eq!(SessionExpires::parse("90").unwrap().refresher, None);
        assert!(SessionExpires::parse("90;refresher=proxy").is_err());
        assert!(SessionExpires::parse("-1").is_err());
        assert!(SessionExpires::parse("99999999999").is_err());
    }

    #[test]
    fn min_se() {
        assert_eq!(MinSe::parse(" 90 ").unwrap().delta, 90);
        assert_eq!(MinSe::parse("90").unwrap().to_string(), "90");
        assert!(MinSe::parse("x").is_err());
    }
}
