//! Replaces (RFC 3891): names the dialog a new INVITE takes over.

use std::fmt;

use super::super::header::HeaderName;
use super::header_trait::TypedHeader;
use super::{find_param, malformed, value_and_params, write_params, Param, TypedError};

/// `Replaces: 98732@sip.example.com;to-tag=r33th4x0r;from-tag=ff87ff;early-only`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    /// The Call-ID of the replaced dialog.
    pub call_id: String,
    /// Its `to-tag`.
    pub to_tag: String,
    /// Its `from-tag`.
    pub from_tag: String,
    /// `early-only`: replace only an early dialog.
    pub early_only: bool,
    /// Other parameters, in order.
    pub params: Vec<Param>,
}

impl Replaces {
    /// Parses the value; `to-tag` and `from-tag` are mandatory (RFC 3891 §6.1).
    pub fn parse(raw: &str) -> Result<Replaces, TypedError> {
        const H: &str = "Replaces";
        let (call_id, mut params) = value_and_params(H, raw)?;
        if call_id.is_empty() || call_id.contains(char::is_whitespace) {
            return Err(malformed(H, "Call-ID is not a word"));
        }
        let mut take = |name: &str| {
            let v = find_param(&params, name).map(|p| p.value.clone());
            params.retain(|p| !p.name.eq_ignore_ascii_case(name));
            v
        };
        let to_tag = take("to-tag").flatten().ok_or(malformed(H, "no to-tag"))?;
        let from_tag = take("from-tag")
            .flatten()
            .ok_or(malformed(H, "no from-tag"))?;
        let early_only = take("early-only").is_some();
        Ok(Replaces {
            call_id: call_id.to_owned(),
            to_tag,
            from_tag,
            early_only,
            params,
        })
    }
}

impl fmt::Display for Replaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        )?;
        if self.early_only {
            f.write_str(";early-only")?;
        }
        write_params(f, &self.params)
    }
}

impl TypedHeader for Replaces {
    fn name() -> HeaderName {
        HeaderName::Replaces
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        Replaces::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces() {
        let r =
            Replaces::parse("98732@sip.example.com ;from-tag=r33th4x0r; to-tag=ff87ff;early-only")
                .unwrap();
        assert_eq!(r.call_id, "98732@sip.example.com");
        assert_eq!(
            (r.to_tag.as_str(), r.from_tag.as_str()),
            ("ff87ff", "r33th4x0r")
        );
        assert!(r.early_only);
        assert_eq!(
            r.to_string(),
            "98732@sip.example.com;to-tag=ff87ff;from-tag=r33th4x0r;early-only"
        );
        assert_eq!(Replaces::parse(&r.to_string()).unwrap(), r);
        assert!(Replaces::parse("abc;to-tag=1").is_err());
        assert!(Replaces::parse(";to-tag=1;from-tag=2").is_err());
    }
}
