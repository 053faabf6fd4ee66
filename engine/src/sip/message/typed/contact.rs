//! Contact (RFC 3261 §20.10): `*` or a list of addresses with `expires` and `q`.

use std::fmt;

use super::super::header::{HeaderName, Headers};
use super::header_trait::TypedHeader;
use super::{malformed, split_top_level_commas, NameAddr, TypedError};

/// A Contact field value (compact `m`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `*`: all bindings (REGISTER with Expires: 0 only).
    Wildcard,
    /// One or more addresses; see [`NameAddr::expires`] and [`NameAddr::q`].
    List(Vec<NameAddr>),
}

impl Contact {
    /// Parses one Contact field.
    pub fn parse(raw: &str) -> Result<Contact, TypedError> {
        if raw.trim() == "*" {
            return Ok(Contact::Wildcard);
        }
        let list = split_top_level_commas(raw)
            .map(|v| {
                NameAddr::parse(v).map_err(|e| match e {
                    TypedError::Malformed { why, .. } => malformed("Contact", why),
                    other => other,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Contact::List(list))
    }

    /// Every Contact field of a message merged (a `*` anywhere makes the whole `Wildcard`).
    pub fn from_headers(headers: &Headers) -> Result<Option<Contact>, TypedError> {
        let mut all = Vec::new();
        let mut any = false;
        for raw in headers.get_all(&HeaderName::Contact) {
            any = true;
            match Contact::parse(raw)? {
                Contact::Wildcard => return Ok(Some(Contact::Wildcard)),
                Contact::List(mut l) => all.append(&mut l),
            }
        }
        Ok(any.then_some(Contact::List(all)))
    }

    /// The addresses (empty for `*`).
    pub fn addrs(&self) -> &[NameAddr] {
        match self {
            Contact::Wildcard => &[],
            Contact::List(l) => l,
        }
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contact::Wildcard => f.write_str("*"),
            Contact::List(list) => {
                for (i, addr) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    addr.fmt(f)?;
                }
                Ok(())
            }
        }
    }
}

impl TypedHeader for Contact {
    fn name() -> HeaderName {
        HeaderName::Contact
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        Contact::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_forms() {
        assert_eq!(Contact::parse(" * ").unwrap(), Contact::Wildcard);
        let c = Contact::parse(
            "\"Mr. Watson\" <sip:watson@worcester.example.com>;q=0.7; expires=3600, <mailto:watson@bell.example.com> ;q=0.1",
        )
        .unwrap();
        let addrs = c.addrs();
        assert_eq!(addrs.len(), 2);
        assert_eq!((addrs[0].q(), addrs[0].expires()), (Some(0.7), Some(3600)));
        assert_eq!(addrs[1].uri, "mailto:watson@bell.example.com");
        assert_eq!(Contact::parse(&c.to_string()).unwrap(), c);
        assert!(Contact::parse("<sip:a@b>,").is_err());
        let mut h = Headers::new();
        h.push(HeaderName::Contact, "<sip:a@b>");
        h.push(HeaderName::Contact, "<sip:c@d>;expires=0");
        assert_eq!(Contact::from_headers(&h).unwrap().unwrap().addrs().len(), 2);
        assert_eq!(h.typed::<Contact>().unwrap().unwrap().addrs().len(), 1);
    }
}
