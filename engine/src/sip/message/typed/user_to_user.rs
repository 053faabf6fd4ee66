//! User-to-User (RFC 7433): opaque call data, in practice hex (Amazon Connect puts JSON there).

use std::fmt;

use super::super::header::HeaderName;
use super::header_trait::TypedHeader;
use super::{
    find_param, is_token_char, malformed, parse_params, split_top_level_commas, unquote,
    write_params, Param, TypedError,
};

/// One User-to-User value: `56a390f3d2b7310023a;encoding=hex;purpose=isdn-uui;content=isdn-uui`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserToUser {
    /// The uui-data as received (unquoted when it was a quoted string).
    pub raw: String,
    /// The data: hex-decoded when `encoding=hex`, or when `encoding` is absent and the data is
    /// hex (hex is the one encoding RFC 7433 defines, and senders omit the parameter); the raw
    /// bytes otherwise.
    pub data: Vec<u8>,
    /// The `encoding` parameter.
    pub encoding: Option<String>,
    /// The `purpose` parameter (the package).
    pub purpose: Option<String>,
    /// The `content` parameter.
    pub content: Option<String>,
    /// Other parameters, in order.
    pub params: Vec<Param>,
}

impl UserToUser {
    /// Parses one value.
    pub fn parse(raw: &str) -> Result<UserToUser, TypedError> {
        const H: &str = "User-to-User";
        let raw = raw.trim();
        // uui-data = token / quoted-string
        let (data_text, rest) = if let Some(quoted) = raw.strip_prefix('"') {
            let (text, used) = unquote(quoted).map_err(|why| malformed(H, why))?;
            (text, &quoted[used..])
        } else {
            let end = raw.find(';').unwrap_or(raw.len());
            let token = raw[..end].trim_end();
            if !token.chars().all(is_token_char) {
                return Err(malformed(H, "uui-data is not a token or quoted string"));
            }
            (token.to_owned(), &raw[end..])
        };
        if data_text.is_empty() {
            return Err(malformed(H, "empty uui-data"));
        }
        let mut params = parse_params(rest).map_err(|why| malformed(H, why))?;
        let mut take = |name: &str| {
            let v = find_param(&params, name).and_then(|p| p.value.clone());
            params.retain(|p| !p.name.eq_ignore_ascii_case(name));
            v
        };
        let encoding = take("encoding");
        let purpose = take("purpose");
        let content = take("content");
        let data = match encoding.as_deref() {
            Some(e) if e.eq_ignore_ascii_case("hex") => {
                hex_decode(&data_text).ok_or(malformed(H, "encoding=hex but data is not hex"))?
            }
            None => hex_decode(&data_text).unwrap_or_else(|| data_text.as_bytes().to_vec()),
            Some(_) => data_text.as_bytes().to_vec(),
        };
        Ok(UserToUser {
            raw: data_text,
            data,
            encoding,
            purpose,
            content,
            params,
        })
    }

    /// Parses every comma-separated value.
    pub fn parse_all(raw: &str) -> Result<Vec<UserToUser>, TypedError> {
        split_top_level_commas(raw).map(UserToUser::parse).collect()
    }

    /// A hex-encoded value with `encoding=hex` for `data`.
    pub fn from_bytes(data: &[u8], purpose: Option<&str>, content: Option<&str>) -> UserToUser {
        UserToUser {
            raw: hex_encode(data),
            data: data.to_vec(),
            encoding: Some("hex".into()),
            purpose: purpose.map(str::to_owned),
            content: content.map(str::to_owned),
            params: Vec::new(),
        }
    }
}

impl fmt::Display for UserToUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.raw.is_empty() && self.raw.chars().all(is_token_char) {
            f.write_str(&self.raw)?;
        } else {
            let escaped = self.raw.replace('\\', "\\\\").replace('"', "\\\"");
            write!(f, "\"{escaped}\"")?;
        }
        for (name, value) in [
            ("encoding", &self.encoding),
            ("purpose", &self.purpose),
            ("content", &self.content),
        ] {
            if let Some(v) = value {
                write!(f, ";{name}={v}")?;
            }
        }
        write_params(f, &self.params)
    }
}

impl TypedHeader for UserToUser {
    fn name() -> HeaderName {
        HeaderName::UserToUser
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        UserToUser::parse(raw)
    }
}

/// Decodes an even-length string of hex digits (either case).
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            // Two hex digits are at most 0xff.
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// Lower-case hex.
pub fn hex_encode(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_data_is_decoded() {
        let u = UserToUser::parse(
            "7B22636964223A2231227D;encoding=hex;purpose=isdn-uui;content=isdn-uui",
        )
        .unwrap();
        assert_eq!(u.data, br#"{"cid":"1"}"#);
        assert_eq!(u.purpose.as_deref(), Some("isdn-uui"));
        assert_eq!(UserToUser::parse(&u.to_string()).unwrap(), u);
        let bare = UserToUser::parse("7b7d").unwrap();
        assert_eq!(bare.data, b"{}");
        let text = UserToUser::parse("\"hello world\";encoding=text").unwrap();
        assert_eq!(text.data, b"hello world");
        assert_eq!(text.to_string(), "\"hello world\";encoding=text");
        assert!(UserToUser::parse("xyz;encoding=hex").is_err());
        assert!(UserToUser::parse(";encoding=hex").is_err());
        // Fuzz findings: unquoted data must be a token; quoted data is escaped when printed.
        assert!(UserToUser::parse("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{").is_err());
        let q = UserToUser::parse(r#""a \"b\" \\ c";encoding=text"#).unwrap();
        assert_eq!(q.raw, r#"a "b" \ c"#);
        assert_eq!(UserToUser::parse(&q.to_string()).unwrap(), q);
    }

    #[test]
    fn built_values() {
        let u = UserToUser::from_bytes(b"{\"a\":1}", Some("isdn-uui"), None);
        assert_eq!(
            u.to_string(),
            "7b2261223a317d;encoding=hex;purpose=isdn-uui"
        );
        assert_eq!(
            UserToUser::parse(&u.to_string()).unwrap().data,
            b"{\"a\":1}"
        );
        assert_eq!(
            UserToUser::parse_all("00;encoding=hex, 01").unwrap().len(),
            2
        );
    }
}
