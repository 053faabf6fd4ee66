//! The Amazon Connect contact id of an incoming call.
//!
//! Connect's external voice connector names the contact in `X-Amzn-ConnectContactId`. Some
//! set-ups (an SBC in between, or a flow that sets user-to-user data) carry it instead in a
//! `User-to-User` header (RFC 7433) whose data is hex-encoded JSON with a `contactId` member.
//! The header wins; the UUI is the fallback. Whatever comes from the wire is checked before it
//! becomes a store key: anything that is not a plausible id is ignored, never a panic.

use crate::sip::message::{HeaderName, Headers, UserToUser};

/// The header Amazon Connect puts the contact id in.
pub const CONTACT_ID_HEADER: &str = "X-Amzn-ConnectContactId";

/// Longest contact id accepted (Connect's are 36-character UUIDs).
pub const MAX_CONTACT_ID_LEN: usize = 128;

/// The contact id of an INVITE: `X-Amzn-ConnectContactId`, else `contactId` of the JSON in a
/// `User-to-User` header. `None` when neither carries a valid id.
pub fn from_headers(headers: &Headers) -> Option<String> {
    if let Some(id) = headers
        .get_named(CONTACT_ID_HEADER)
        .and_then(|v| valid_contact_id(v.trim()))
    {
        return Some(id.to_owned());
    }
    headers
        .get_all(&HeaderName::UserToUser)
        .find_map(from_user_to_user)
}

/// The `contactId` in one `User-to-User` header field (possibly several comma-separated
/// values); `None` when no value decodes to a JSON object with a valid `contactId`.
pub fn from_user_to_user(field: &str) -> Option<String> {
    // A malformed value costs only itself: the others of the field are still tried.
    let values = UserToUser::parse_all(field)
        .ok()
        .or_else(|| UserToUser::parse(field).ok().map(|v| vec![v]))?;
    values.iter().find_map(|uui| {
        let json: serde_json::Value = serde_json::from_slice(&uui.data).ok()?;
        let id = json.as_object()?.iter().find_map(|(key, value)| {
            key.eq_ignore_ascii_case("contactId")
                .then(|| value.as_str())
                .flatten()
        })?;
        valid_contact_id(id.trim()).map(str::to_owned)
    })
}

/// `id` if it is a plausible contact id: 1 to [`MAX_CONTACT_ID_LEN`] characters of ASCII
/// letters, digits, `-`, `_`, `.` or `:`. Keeps odd bytes out of store keys, logs and URLs.
pub fn valid_contact_id(id: &str) -> Option<&str> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CONTACT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::typed::hex_encode;

    const ID: &str = "a1b2c3d4-0000-4000-8000-123456789abc";

    fn headers(fields: &[(&str, &str)]) -> Headers {
        let mut h = Headers::default();
        for (name, value) in fields {
            h.push(HeaderName::from_wire(name), *value);
        }
        h
    }

    fn uui_hex(json: &str) -> String {
        format!(
            "{};encoding=hex;purpose=isdn-uui;content=isdn-uui",
            hex_encode(json.as_bytes())
        )
    }

    #[test]
    fn header_is_read_case_insensitively() {
        let h = headers(&[("x-amzn-connectcontactid", &format!(" {ID} "))]);
        assert_eq!(from_headers(&h).as_deref(), Some(ID));
    }

    #[test]
    fn header_wins_over_uui() {
        let other = uui_hex(r#"{"contactId":"from-uui"}"#);
        let h = headers(&[("User-to-User", &other), (CONTACT_ID_HEADER, ID)]);
        assert_eq!(from_headers(&h).as_deref(), Some(ID));
    }

    #[test]
    fn uui_hex_json_is_the_fallback() {
        let value = uui_hex(&format!(r#"{{"contactId":"{ID}","queue":"sales"}}"#));
        let h = headers(&[("User-to-User", &value)]);
        assert_eq!(from_headers(&h).as_deref(), Some(ID));
        // Without `encoding`, hex data is still hex (RFC 7433's one encoding).
        let bare = hex_encode(format!(r#"{{"ContactId":"{ID}"}}"#).as_bytes());
        assert_eq!(from_user_to_user(&bare).as_deref(), Some(ID));
    }

    #[test]
    fn an_invalid_header_falls_back_to_uui() {
        let value = uui_hex(&format!(r#"{{"contactId":"{ID}"}}"#));
        let h = headers(&[
            (CONTACT_ID_HEADER, "bad id; drop"),
            ("User-to-User", &value),
        ]);
        assert_eq!(from_headers(&h).as_deref(), Some(ID));
    }

    #[test]
    fn the_first_usable_uui_value_counts() {
        let field = format!(
            "{}, {}",
            uui_hex(r#"{"other":1}"#),
            uui_hex(&format!(r#"{{"contactId":"{ID}"}}"#))
        );
        assert_eq!(from_user_to_user(&field).as_deref(), Some(ID));
    }

    #[test]
    fn malformed_uui_is_ignored() {
        for field in [
            "",
            ";encoding=hex",
            "zz;encoding=hex",
            "abc;encoding=hex",
            "7b7d;encoding=hex", // {}
            &uui_hex("not json"),
            &uui_hex("[1,2]"),
            &uui_hex(r#"{"contactId":42}"#),
            &uui_hex(r#"{"contactId":""}"#),
            &uui_hex(r#"{"contactId":"a\r\nVia: x"}"#),
            &uui_hex(&format!(r#"{{"contactId":"{}"}}"#, "a".repeat(200))),
            "\"unterminated",
            "\u{00e9}\u{00e9};encoding=hex",
        ] {
            assert_eq!(from_user_to_user(field), None, "{field:?}");
        }
        assert_eq!(from_headers(&headers(&[])), None);
        let h = headers(&[("User-to-User", "zz;encoding=hex")]);
        assert_eq!(from_headers(&h), None);
    }

    #[test]
    fn contact_id_validation() {
        assert_eq!(valid_contact_id(ID), Some(ID));
        assert_eq!(valid_contact_id("arn:aws:x.y_z"), Some("arn:aws:x.y_z"));
        assert_eq!(valid_contact_id(""), None);
        assert_eq!(valid_contact_id("a b"), None);
        assert_eq!(valid_contact_id("a/b"), None);
        assert_eq!(valid_contact_id(&"a".repeat(129)), None);
        assert!(valid_contact_id(&"a".repeat(128)).is_some());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,80}", hex in "[0-9a-f;=,\"]{0,80}") {
            for v in [s.as_str(), hex.as_str()] {
                let _ = from_user_to_user(v);
                let _ = from_headers(&headers(&[(CONTACT_ID_HEADER, v), ("User-to-User", v)]));
            }
        }
    }
}
