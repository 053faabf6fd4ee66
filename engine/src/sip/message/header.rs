//! Header names (long and compact forms, RFC 3261 §7.3.3 and later RFCs) and the ordered header
//! list of a message.

use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $long:literal $(, $compact:literal)? ; )*) => {
        /// A header field name. Well-known names are variants; comparison is case-insensitive
        /// and compact forms map to the same variant, so `i:` and `Call-ID:` are equal.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $long, "`")]
                $variant,
            )*
            /// Any other name, kept as received (compare with [`HeaderName::eq_name`]).
            Other(Box<str>),
        }

        impl HeaderName {
            /// Resolves a name as received on the wire: case-insensitive, compact forms too.
            pub fn from_wire(name: &str) -> HeaderName {
                $(
                    if name.eq_ignore_ascii_case($long) $(|| name.eq_ignore_ascii_case($compact))? {
                        return HeaderName::$variant;
                    }
                )*
                HeaderName::Other(name.into())
            }

            /// The canonical long form used when printing.
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $long, )*
                    HeaderName::Other(name) => name,
                }
            }
        }
    };
}

header_names! {
    Via => "Via", "v";
    From => "From", "f";
    To => "To", "t";
    CallId => "Call-ID", "i";
    CSeq => "CSeq";
    Contact => "Contact", "m";
    MaxForwards => "Max-Forwards";
    ContentLength => "Content-Length", "l";
    ContentType => "Content-Type", "c";
    ContentEncoding => "Content-Encoding", "e";
    Supported => "Supported", "k";
    Subject => "Subject", "s";
    Route => "Route";
    RecordRoute => "Record-Route";
    Allow => "Allow";
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    UserAgent => "User-Agent";
    Server => "Server";
    Expires => "Expires";
    RetryAfter => "Retry-After";
    Warning => "Warning";
    Reason => "Reason";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    Accept => "Accept";
    Event => "Event", "o";
    SubscriptionState => "Subscription-State";
    ReferTo => "Refer-To", "r";
    ReferredBy => "Referred-By", "b";
    ReferSub => "Refer-Sub";
    Replaces => "Replaces";
    SessionExpires => "Session-Expires", "x";
    MinSe => "Min-SE";
    RSeq => "RSeq";
    RAck => "RAck";
    UserToUser => "User-to-User";
    AllowEvents => "Allow-Events", "u";
    Date => "Date";
    Timestamp => "Timestamp";
}

impl HeaderName {
    /// Case-insensitive comparison with a name as text (compact forms resolved).
    pub fn eq_name(&self, other: &str) -> bool {
        match (self, HeaderName::from_wire(other)) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(&b),
            (a, b) => *a == b,
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field: its name and its value with folding already removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name.
    pub name: HeaderName,
    /// The raw value, unfolded and trimmed of surrounding whitespace.
    pub value: String,
}

/// The header fields of a message in wire order (order matters for Via, Route, Record-Route).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// An empty list.
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// An empty list with room for `n` fields.
    pub fn with_capacity(n: usize) -> Headers {
        Headers(Vec::with_capacity(n))
    }

    /// Appends a field.
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.push(Header {
            name,
            value: value.into(),
        });
    }

    /// Puts a field first (e.g. a new top Via).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.insert(
            0,
            Header {
                name,
                value: value.into(),
            },
        );
    }

    /// Replaces every field of that name with one field (appended when absent).
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter().position(|h| h.name == name) {
            Some(first) => {
                self.0[first].value = value;
                let mut i = 0;
                self.0.retain(|h| {
                    i += 1;
                    i - 1 == first || h.name != name
                });
            }
            None => self.push(name, value),
        }
    }

    /// Removes every field of that name.
    pub fn remove(&mut self, name: &HeaderName) {
        self.0.retain(|h| h.name != *name);
    }

    /// The value of the first field of that name.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name == *name)
            .map(|h| h.value.as_str())
    }

    /// Every value of that name, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name == *name)
            .map(|h| h.value.as_str())
    }

    /// The value of the first field whose name matches `name` case-insensitively (for
    /// configurable extension headers such as `kore-reason`).
    pub fn get_named(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_name(name))
            .map(|h| h.value.as_str())
    }

    /// Whether a field of that name is present.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.0.iter().any(|h| h.name == *name)
    }

    /// All fields in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_long_forms_are_one_name() {
        assert_eq!(HeaderName::from_wire("i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_wire("call-id"), HeaderName::CallId);
        assert_eq!(HeaderName::from_wire("V"), HeaderName::Via);
        assert!(HeaderName::from_wire("kore-reason").eq_name("KORE-Reason"));
    }

    #[test]
    fn set_replaces_all_and_keeps_position() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "a");
        h.push(HeaderName::Contact, "x");
        h.push(HeaderName::Contact, "y");
        h.set(HeaderName::Contact, "z");
        assert_eq!(
            h.get_all(&HeaderName::Contact).collect::<Vec<_>>(),
            vec!["z"]
        );
        assert_eq!(h.len(), 2);
    }
}
