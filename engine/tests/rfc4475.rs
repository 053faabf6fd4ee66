//! RFC 4475 torture messages against the message facade: framing ([`parse`]) plus the checks
//! a UAS runs before the transaction layer ([`validate_request`] / [`validate_response`]).
//!
//! The messages and the RFC's verdicts live in `shared/testdata/rfc4475/` (bit-exact from RFC
//! 4475 Appendix A; see its PROVENANCE.md). `verdicts.tsv` gives each file's category; the
//! table below says what this node does with it, read from the RFC text quoted there:
//! valid messages parse and validate; invalid ones fail to frame or are refused with the
//! status the RFC names; "may be liberal" ones may go either way but are never answered with
//! anything but 400; §3.3 messages get the RFC's answer.

use std::path::PathBuf;

use voxgate_engine::sip::message::{
    parse, validate_request, validate_response, HeaderName, Limits, NameAddr, ParseError,
    Rejection, SipMessage, SipUri, Via,
};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/rfc4475")
}

/// What the facade did with one message.
#[derive(Debug)]
enum Outcome {
    /// Framed and validated: the message goes to the transaction layer.
    Accepted(SipMessage),
    /// Framed, then refused by validation.
    Refused(SipMessage, Rejection),
    /// Framing failed.
    Unframed(ParseError),
}

impl Outcome {
    fn status(&self) -> Option<u16> {
        match self {
            Outcome::Accepted(_) => None,
            Outcome::Refused(_, r) => Some(r.status),
            Outcome::Unframed(e) => e.partial.as_ref().map(|_| e.kind.status().0),
        }
    }
}

fn run(bytes: &[u8]) -> Outcome {
    match parse(bytes, &Limits::default()) {
        Err(e) => Outcome::Unframed(e),
        Ok(msg) => {
            let checked = match &msg {
                SipMessage::Request(r) => validate_request(r),
                SipMessage::Response(r) => validate_response(r),
            };
            match checked {
                Ok(()) => Outcome::Accepted(msg),
                Err(rej) => Outcome::Refused(msg, rej),
            }
        }
    }
}

/// The behaviour RFC 4475 asks for.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Well formed: parse and pass validation.
    Accept,
    /// Refused: framing fails, or validation answers one of these statuses.
    Refuse(&'static [u16]),
    /// A framing error (the RFC says the message cannot be delimited).
    Unframed,
    /// Parses; validation answers exactly this status.
    Answer(u16),
    /// "May be liberal": accepted, or refused with one of these statuses.
    Either(&'static [u16]),
    /// No RFC verdict (test.dat): only "does not break".
    NoVerdict,
}

const EXPECTED: &[(&str, Expect)] = &[
    ("wsinv.dat", Expect::Accept),
    ("intmeth.dat", Expect::Accept),
    ("esc01.dat", Expect::Accept),
    ("escnull.dat", Expect::Accept),
    ("esc02.dat", Expect::Accept),
    ("lwsdisp.dat", Expect::Accept),
    ("longreq.dat", Expect::Accept),
    ("dblreq.dat", Expect::Accept),
    ("semiuri.dat", Expect::Accept),
    ("transports.dat", Expect::Accept),
    ("mpart01.dat", Expect::Accept),
    ("unreason.dat", Expect::Accept),
    ("noreason.dat", Expect::Accept),
    ("badinv01.dat", Expect::Refuse(&[400])),
    ("clerr.dat", Expect::Unframed),
    ("ncl.dat", Expect::Unframed),
    ("scalar02.dat", Expect::Refuse(&[400])),
    ("scalarlg.dat", Expect::Refuse(&[400])),
    ("quotbal.dat", Expect::Either(&[400])),
    ("ltgtruri.dat", Expect::Either(&[400])),
    ("lwsruri.dat", Expect::Either(&[400])),
    ("lwsstart.dat", Expect::Either(&[400])),
    ("trws.dat", Expect::Either(&[400])),
    ("escruri.dat", Expect::Either(&[400])),
    ("baddate.dat", Expect::Either(&[400])),
    ("regbadct.dat", Expect::Either(&[400])),
    ("badaspec.dat", Expect::Either(&[400])),
    ("baddn.dat", Expect::Either(&[400])),
    ("badvers.dat", Expect::Refuse(&[505])),
    ("mismatch01.dat", Expect::Refuse(&[400])),
    ("mismatch02.dat", Expect::Refuse(&[400, 501])),
    ("bigcode.dat", Expect::Refuse(&[])),
    ("badbranch.dat", Expect::Either(&[400])),
    ("insuf.dat", Expect::Refuse(&[400])),
    ("unkscm.dat", Expect::Answer(416)),
    ("novelsc.dat", Expect::Answer(416)),
    ("unksm2.dat", Expect::Accept),
    ("bext01.dat", Expect::Answer(420)),
    ("invut.dat", Expect::Accept),
    ("regaut01.dat", Expect::Accept),
    ("multi01.dat", Expect::Refuse(&[400])),
    ("mcl01.dat", Expect::Unframed),
    ("bcast.dat", Expect::Accept),
    ("zeromf.dat", Expect::Accept),
    ("cparam01.dat", Expect::Accept),
    ("cparam02.dat", Expect::Accept),
    ("regescrt.dat", Expect::Accept),
    ("sdp01.dat", Expect::Accept),
    ("inv2543.dat", Expect::Accept),
    ("test.dat", Expect::NoVerdict),
];

fn meets(expect: Expect, outcome: &Outcome) -> bool {
    match (expect, outcome) {
        (Expect::NoVerdict, _) => true,
        (Expect::Accept, o) => matches!(o, Outcome::Accepted(_)),
        (Expect::Unframed, o) => matches!(o, Outcome::Unframed(_)),
        (Expect::Refuse(_), Outcome::Unframed(_)) => true,
        (Expect::Refuse(ok), Outcome::Refused(_, r)) => ok.is_empty() || ok.contains(&r.status),
        (Expect::Answer(status), Outcome::Refused(_, r)) => r.status == status,
        (Expect::Either(_), Outcome::Accepted(_) | Outcome::Unframed(_)) => true,
        (Expect::Either(ok), Outcome::Refused(_, r)) => ok.contains(&r.status),
        _ => false,
    }
}

/// Reads verdicts.tsv: file → category.
fn categories() -> Vec<(String, String)> {
    let tsv = std::fs::read_to_string(corpus_dir().join("verdicts.tsv")).expect("verdicts.tsv");
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[0].to_owned(), cols[3].to_owned())
        })
        .collect()
}

fn load(file: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn request(file: &str) -> voxgate_engine::sip::message::Request {
    match run(&load(file)) {
        Outcome::Accepted(SipMessage::Request(r)) => r,
        other => panic!("{file}: {other:?}"),
    }
}

#[test]
fn every_torture_message_gets_the_rfc_verdict() {
    let cats = categories();
    assert_eq!(
        cats.len(),
        EXPECTED.len(),
        "verdicts.tsv and the table differ"
    );
    let mut passed = 0;
    let mut failures = Vec::new();
    for (file, category) in &cats {
        let expect = EXPECTED
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, e)| *e)
            .unwrap_or_else(|| panic!("{file} is not in the table"));
        // The table must agree with the RFC's category.
        match category.as_str() {
            "valid" | "backward-compat" => assert!(matches!(expect, Expect::Accept), "{file}"),
            "invalid" => assert!(!matches!(expect, Expect::Accept), "{file}"),
            _ => {}
        }
        let outcome = run(&load(file));
        // Whatever happened, an answer (if any) must be buildable without panicking.
        match &outcome {
            Outcome::Refused(SipMessage::Request(r), rej) => {
                let _ = rej.response(r, Some("tag1")).map(|resp| resp.to_bytes());
            }
            Outcome::Unframed(e) => {
                let _ = e.error_response(Some("tag1")).map(|resp| resp.to_bytes());
            }
            Outcome::Accepted(SipMessage::Request(r)) => {
                let ok = r.response(200, "OK", Some("tag1")).to_bytes();
                assert!(matches!(
                    parse(&ok, &Limits::default()),
                    Ok(SipMessage::Response(_))
                ));
            }
            _ => {}
        }
        let verdict = match &outcome {
            Outcome::Accepted(_) => "accepted".to_owned(),
            Outcome::Refused(_, r) => format!("refused {} {}", r.status, r.reason),
            Outcome::Unframed(e) => format!("unframed ({}), answer {:?}", e.kind, outcome.status()),
        };
        if meets(expect, &outcome) {
            passed += 1;
            println!("ok   {file:16} {category:22} {verdict}");
        } else {
            println!("FAIL {file:16} {category:22} {verdict}, expected {expect:?}");
            failures.push(file.clone());
        }
    }
    println!(
        "RFC 4475 score: {passed}/{} messages meet the RFC verdict",
        cats.len()
    );
    assert!(failures.is_empty(), "failed: {failures:?}");
}

#[test]
fn valid_messages_are_read_the_way_the_rfc_explains() {
    let wsinv = request("wsinv.dat");
    let vias: Vec<Via> = wsinv
        .headers
        .get_all(&HeaderName::Via)
        .flat_map(voxgate_engine::sip::message::typed::split_top_level_commas)
        .map(|v| Via::parse(v).unwrap())
        .collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].host, "192.168.255.111");
    assert_eq!(wsinv.headers.get(&HeaderName::Subject), Some(""));
    assert_eq!(
        wsinv.headers.get_named("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    let contact = NameAddr::parse(wsinv.headers.get(&HeaderName::Contact).unwrap()).unwrap();
    assert_eq!(contact.display.as_deref(), Some("Quoted string \"\""));
    assert_eq!(contact.q(), Some(0.33));
    assert_eq!(
        wsinv.from().unwrap().display.as_deref(),
        Some("J Rosenberg \\\"")
    );
    assert_eq!(wsinv.from().unwrap().tag(), Some("98asjd8"));
    assert_eq!(wsinv.cseq().unwrap().seq, 9);
    assert_eq!(wsinv.body.len(), 150);

    let intmeth = request("intmeth.dat");
    assert_eq!(
        intmeth.method.as_str(),
        "!interesting-Method0123456789_*+`.%indeed'~"
    );
    assert!(intmeth.to().unwrap().display.unwrap().contains('\0'));

    let esc02 = request("esc02.dat");
    assert_eq!(esc02.headers.get_all(&HeaderName::Contact).count(), 2);
    assert_eq!(esc02.method.as_str(), "RE%47IST%45R");

    let escnull = request("escnull.dat");
    assert_eq!(escnull.headers.get_all(&HeaderName::Contact).count(), 2);

    let dblreq = request("dblreq.dat");
    assert_eq!(dblreq.method.as_str(), "REGISTER");
    assert!(dblreq.body.is_empty());

    let semiuri = request("semiuri.dat");
    assert_eq!(
        SipUri::parse(&semiuri.uri).unwrap().user,
        Some("user;par=u%40example.net")
    );

    let mpart = request("mpart01.dat");
    assert_eq!(mpart.body.len(), 553);
    assert!(mpart.body.contains(&0));

    let transports = request("transports.dat");
    assert_eq!(transports.headers.get_all(&HeaderName::Via).count(), 5);

    let long = request("longreq.dat");
    assert!(long.headers.iter().any(|h| h.value.len() > 500));

    for (file, reason) in [("unreason.dat", "= 2**3 * 5**2 "), ("noreason.dat", "")] {
        match run(&load(file)) {
            Outcome::Accepted(SipMessage::Response(r)) => {
                assert!(r.reason.starts_with(reason), "{file}: {}", r.reason)
            }
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn refusals_carry_what_the_rfc_asks_for() {
    // §3.3.5: 420 with Unsupported listing the Require features (a UAS ignores Proxy-Require).
    let Outcome::Refused(SipMessage::Request(r), rej) = run(&load("bext01.dat")) else {
        panic!("bext01 not refused")
    };
    let resp = rej.response(&r, Some("x")).unwrap();
    assert_eq!(
        resp.headers.get(&HeaderName::Unsupported),
        Some("nothingSupportsThis, nothingSupportsThisEither")
    );
    // §3.1.2.16: 505, even though the Via says SIP/7.0 too.
    let Outcome::Refused(SipMessage::Request(r), rej) = run(&load("badvers.dat")) else {
        panic!("badvers not refused")
    };
    let resp = rej.response(&r, Some("x")).unwrap();
    assert_eq!(
        (resp.status, resp.reason.as_str()),
        (505, "Version Not Supported")
    );
    // §3.2.2: a Content-Length past the end of a datagram is answered 400.
    let Outcome::Unframed(e) = run(&load("clerr.dat")) else {
        panic!("clerr framed")
    };
    let resp = e.error_response(None).unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.headers.get(&HeaderName::CallId),
        Some("clerr.0ha0isndaksdjweiafasdk3")
    );
    // §3.3.1: even without Call-ID, From and To the 400 can be routed by Via and CSeq.
    let Outcome::Refused(SipMessage::Request(r), rej) = run(&load("insuf.dat")) else {
        panic!("insuf not refused")
    };
    assert_eq!(rej.response(&r, None).unwrap().status, 400);
}
