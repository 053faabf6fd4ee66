//! Property tests of the framing pass: it never panics, whatever the bytes, and what the model
//! prints parses back to the same message.

use proptest::prelude::*;

use super::*;

const INVITE: &str = "INVITE sip:+15551234@voxgate.example;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@a.example>;tag=1928\r\n\
To: <sip:+15551234@voxgate.example>\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@10.0.0.1:5060>;expires=60\r\n\
Require: timer\r\n\
Session-Expires: 1800;refresher=uac\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 10\r\n\r\nv=0\r\no=- 1";

/// Runs everything the transport would run on received bytes.
fn exercise(bytes: &[u8]) {
    if let FrameResult::Complete(n) = frame_stream(bytes) {
        assert!(n <= bytes.len());
    }
    match parse(bytes, &Limits::default()) {
        Ok(SipMessage::Request(req)) => {
            let _ = req.uri_user();
            let answer = match validate_request(&req) {
                Ok(()) => Some(req.response(200, "OK", Some("t"))),
                Err(rej) => rej.response(&req, Some("t")),
            };
            if let Some(resp) = answer {
                let roomy = Limits {
                    max_line_len: 1 << 20,
                    max_message_bytes: 1 << 20,
                    ..Limits::default()
                };
                assert!(parse(&resp.to_bytes(), &roomy).is_ok());
            }
            for h in req.headers.iter() {
                let _ = (
                    ReferTo::parse(&h.value),
                    Replaces::parse(&h.value),
                    SessionExpires::parse(&h.value),
                    RAck::parse(&h.value),
                    SubscriptionState::parse(&h.value),
                    UserToUser::parse(&h.value),
                    Reason::parse(&h.value),
                    RetryAfter::parse(&h.value),
                    Contact::parse(&h.value),
                );
            }
        }
        Ok(SipMessage::Response(resp)) => {
            let _ = validate_response(&resp);
        }
        Err(e) => {
            let _ = e.error_response(Some("t")).map(|r| r.to_bytes());
        }
    }
}

/// Bytes that matter to a SIP parser, for insertions.
const INTERESTING: &[u8] = b"\r\n \t:;,\"<>%@?=[]\\\x00\xff0";

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), prop::sample::select(INTERESTING))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 1usize..80).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip(i, b) if !bytes.is_empty() => bytes[i % len] = b,
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Delete(i, n) if !bytes.is_empty() => {
                let at = i % len;
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Duplicate(i, n) if !bytes.is_empty() => {
                let at = i % len;
                let end = (at + n).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            Mutation::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
            _ => {}
        }
    }
    bytes
}

/// A few torture messages when the shared corpus is present, and always our INVITE.
fn seeds() -> Vec<Vec<u8>> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/rfc4475");
    let mut seeds = vec![INVITE.as_bytes().to_vec()];
    for f in [
        "wsinv.dat",
        "esc01.dat",
        "mpart01.dat",
        "unreason.dat",
        "bext01.dat",
    ] {
        if let Ok(bytes) = std::fs::read(dir.join(f)) {
            seeds.push(bytes);
        }
    }
    seeds
}

fn header_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        prop::sample::select(vec![
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
            HeaderName::Contact,
            HeaderName::Subject,
            HeaderName::ReferTo,
            HeaderName::UserToUser,
            HeaderName::SessionExpires,
        ]),
        "X-[A-Za-z0-9.!%*_+`'~-]{1,12}".prop_map(|n| HeaderName::Other(n.into())),
    ]
}

/// A header value as the parser stores it: no CR/LF, no surrounding whitespace.
fn header_value() -> impl Strategy<Value = String> {
    "([!-~\u{a0}-\u{3000}]([ -~\u{a0}-\u{3000}]{0,40}[!-~])?)?"
}

fn headers() -> impl Strategy<Value = Headers> {
    prop::collection::vec((header_name(), header_value()), 0..12).prop_map(|fields| {
        let mut h = Headers::new();
        for (name, value) in fields {
            h.push(name, value);
        }
        h
    })
}

fn message() -> impl Strategy<Value = SipMessage> {
    let method = prop_oneof![
        prop::sample::select(vec![
            Method::Invite,
            Method::Ack,
            Method::Bye,
            Method::Refer
        ]),
        "X[A-Z]{1,8}".prop_map(|t| Method::from_token(&t)),
    ];
    let body = prop::collection::vec(any::<u8>(), 0..200);
    let request = (
        method,
        "sip:[a-z0-9+]{1,10}@[a-z0-9.]{1,20}",
        headers(),
        body.clone(),
    )
        .prop_map(|(method, uri, headers, body)| {
            let mut r = Request::new(method, uri);
            r.headers = headers;
            r.body = body;
            SipMessage::Request(r)
        });
    let response = (100u16..700, "([!-~]( ?[!-~]){0,20})?", headers(), body).prop_map(
        |(status, reason, headers, body)| {
            SipMessage::Response(Response {
                status,
                reason,
                version: Version::default(),
                headers,
                body,
            })
        },
    );
    prop_oneof![request, response]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1500)) {
        exercise(&bytes);
    }

    #[test]
    fn sip_shaped_text_never_panics(text in "[A-Z]{1,8} [a-z:@.;=%\\[\\]0-9]{0,30} SIP/2\\.0\r\n([A-Za-z-]{1,12} ?: ?[ -~]{0,40}\r\n( [ -~]{0,20}\r\n)?){0,10}(\r\n)?[ -~]{0,40}") {
        exercise(text.as_bytes());
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        seed in prop::sample::select(seeds()),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        exercise(&apply(seed, &mutations));
    }

    #[test]
    fn printed_messages_parse_back_the_same(msg in message()) {
        let bytes = msg.to_bytes();
        let parsed = parse(&bytes, &Limits::default());
        prop_assert_eq!(parsed.as_ref(), Ok(&msg), "{}", String::from_utf8_lossy(&bytes));
    }
}
