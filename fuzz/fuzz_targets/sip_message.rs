//! Fuzzes the SIP message facade: stream framing, datagram parsing, validation, and the answer
//! the node would send. Whatever the node prints must parse again.
#![no_main]

use voxgate_engine::sip::message::{
    frame_stream, parse, validate_request, validate_response, Contact, Event, FrameResult, Headers,
    Limits, MinSe, RAck, RSeq, Reason, ReferTo, ReferredBy, Replaces, RetryAfter, SessionExpires,
    SipMessage, SubscriptionState, UserToUser,
};

/// Every typed reader on every header value; a value that parses must print and parse again.
fn typed(headers: &Headers) {
    macro_rules! reprint {
        ($($ty:ty),*) => {
            for h in headers.iter() {
                $(
                    if let Ok(v) = <$ty>::parse(&h.value) {
                        let again = <$ty>::parse(&v.to_string());
                        assert!(again.is_ok(), "{} -> {} does not parse", h.value, v);
                    }
                )*
            }
        };
    }
    reprint!(
        Contact,
        Event,
        MinSe,
        RAck,
        RSeq,
        Reason,
        ReferTo,
        ReferredBy,
        Replaces,
        RetryAfter,
        SessionExpires,
        SubscriptionState,
        UserToUser
    );
    for h in headers.iter() {
        if let Ok(r) = ReferTo::parse(&h.value) {
            let _ = (r.uri_headers(), r.replaces());
        }
    }
}

fn reparses(bytes: &[u8]) {
    // Echoed values can make a line a little longer than the inbound limit allowed.
    let roomy = Limits {
        max_line_len: 32 * 1024,
        max_message_bytes: 256 * 1024,
        ..Limits::default()
    };
    match parse(bytes, &roomy) {
        Ok(SipMessage::Response(_)) => {}
        other => panic!("printed response does not parse: {other:?}"),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let FrameResult::Complete(n) = frame_stream(data) {
        assert!(n <= data.len());
    }
    match parse(data, &Limits::default()) {
        Ok(SipMessage::Request(req)) => {
            typed(&req.headers);
            let _ = req.uri_user();
            let answer = match validate_request(&req) {
                Ok(()) => Some(req.response(200, "OK", Some("fuzz"))),
                Err(rejection) => rejection.response(&req, Some("fuzz")),
            };
            if let Some(resp) = answer {
                reparses(&resp.to_bytes());
            }
        }
        Ok(SipMessage::Response(resp)) => {
            if validate_response(&resp).is_ok() {
                let _ = resp.to_bytes();
            }
        }
        Err(e) => {
            if let Some(resp) = e.error_response(Some("fuzz")) {
                reparses(&resp.to_bytes());
            }
        }
    }
});
