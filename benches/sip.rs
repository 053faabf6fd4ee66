//! SIP message facade throughput: a typical trunk INVITE with SDP (984 bytes), parsed; and the
//! whole receive path a UAS runs for it (parse, validate, build the 200 OK with
//! a To tag, print it).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use voxgate_engine::sip::message::{parse, validate_request, Limits, SipMessage};

/// An INVITE as a contact-center SIP trunk sends it.
const INVITE: &str = "INVITE sip:+15551234567@voxgate.example.com:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-524287-1---5a1b2c3d4e5f6a7b;rport\r\n\
Max-Forwards: 69\r\n\
Contact: <sip:+14155550123@203.0.113.10:5060;transport=udp>\r\n\
To: <sip:+15551234567@voxgate.example.com>\r\n\
From: \"Caller Name\" <sip:+14155550123@203.0.113.10>;tag=7a9f3c21\r\n\
Call-ID: 3c26700b6a5f4e2b9c1d8e7f6a5b4c3d@203.0.113.10\r\n\
CSeq: 102 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE, PRACK\r\n\
Supported: timer, replaces, 100rel\r\n\
Session-Expires: 1800;refresher=uac\r\n\
User-Agent: ContactCenter-SBC/4.2\r\n\
X-Amzn-ConnectContactId: 0d6f3b4e-1a2b-4c3d-9e8f-7a6b5c4d3e2f\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 264\r\n\
\r\n\
v=0\r\n\
o=- 3917193853 3917193853 IN IP4 203.0.113.10\r\n\
s=SBC\r\n\
c=IN IP4 203.0.113.10\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 0 8 9 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

fn bench(c: &mut Criterion) {
    let bytes = INVITE.as_bytes();
    let limits = Limits::default();
    // The fixture must be a valid, answerable INVITE or the numbers mean nothing.
    match parse(bytes, &limits) {
        Ok(SipMessage::Request(r)) => {
            assert_eq!(r.body.len(), 264, "fix Content-Length of the fixture");
            validate_request(&r).expect("fixture validates");
        }
        other => panic!("fixture does not parse: {other:?}"),
    }

    let mut group = c.benchmark_group("sip_invite");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| parse(black_box(bytes), &limits));
    });
    group.bench_function("parse_validate_200ok_print", |b| {
        b.iter(|| {
            let Ok(SipMessage::Request(req)) = parse(black_box(bytes), &limits) else {
                unreachable!("checked above")
            };
            validate_request(&req).ok();
            let ok = req.response(200, "OK", Some("vx-8c1f2e"));
            black_box(ok.to_bytes())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
