//! RFC 5118 IPv6 torture messages against the message facade.
//!
//! The files in `shared/testdata/rfc5118/` (see its PROVENANCE.md) are the RFC's archive with
//! bare LF line ends, two of them without the empty line closing the header section, and
//! Content-Length values that do not match the bodies. This test therefore turns LF into CRLF,
//! closes an unterminated header section and rewrites Content-Length to the CRLF body length:
//! what is measured is IPv6 handling, not the RFC's editing slips. That folder has no
//! verdicts.tsv; the verdicts below are PROVENANCE.md's table (only §4.2 is invalid).

use std::path::PathBuf;

use voxgate_engine::sip::message::{
    parse, validate_request, HeaderName, Limits, Request, SipMessage, SipUri, Via,
};

/// (file, RFC section, whether the RFC calls it valid).
const VERDICTS: &[(&str, &str, bool)] = &[
    ("ipv6-good", "4.1", true),
    ("ipv6-bad", "4.2", false),
    ("port-ambiguous", "4.3", true),
    ("port-unambiguous", "4.4", true),
    ("via-received-param-with-delim", "4.5", true),
    ("via-received-param-no-delim", "4.5", true),
    ("ipv6-in-sdp", "4.6", true),
    ("mult-ip-in-header", "4.7", true),
    ("mult-ip-in-sdp", "4.8", true),
    ("ipv4-mapped-ipv6", "4.9", true),
    ("ipv6-bug-abnf-3-colons", "4.10", true),
    ("ipv6-correct-abnf-2-colons", "4.10", true),
];

/// The file as wire bytes: CRLF line ends, a closed header section, a true Content-Length.
fn wire(file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/rfc5118")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h.to_owned(), b.replace('\n', "\r\n")),
        None => (text.trim_end_matches('\n').to_owned(), String::new()),
    };
    let mut out = String::new();
    for line in head.lines() {
        if line.to_ascii_lowercase().starts_with("content-length") {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

fn request(file: &str) -> Request {
    match parse(&wire(file), &Limits::default()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("{file}: {other:?}"),
    }
}

#[test]
fn every_ipv6_torture_message_gets_the_rfc_verdict() {
    let mut passed = 0;
    let mut failures = Vec::new();
    for &(file, section, valid) in VERDICTS {
        let outcome = parse(&wire(file), &Limits::default());
        let verdict = match &outcome {
            Ok(SipMessage::Request(r)) => validate_request(r).map_err(|rej| rej.status),
            Ok(SipMessage::Response(_)) => Err(0),
            Err(e) => Err(e.kind.status().0),
        };
        let ok = if valid {
            verdict.is_ok()
        } else {
            verdict == Err(400)
        };
        println!(
            "{} {file:30} §{section:5} {}",
            if ok { "ok  " } else { "FAIL" },
            match verdict {
                Ok(()) => "accepted".to_owned(),
                Err(s) => format!("refused {s}"),
            }
        );
        if ok {
            passed += 1;
        } else {
            failures.push(file);
        }
    }
    println!(
        "RFC 5118 score: {passed}/{} messages meet the RFC verdict",
        VERDICTS.len()
    );
    assert!(failures.is_empty(), "failed: {failures:?}");
}

#[test]
fn ipv6_references_are_read_right() {
    let amb = request("port-ambiguous").uri;
    let amb = SipUri::parse(&amb).unwrap();
    assert_eq!((amb.host, amb.port), ("[2001:db8::10:5070]", None));
    let unamb = request("port-unambiguous").uri;
    let unamb = SipUri::parse(&unamb).unwrap();
    assert_eq!((unamb.host, unamb.port), ("[2001:db8::10]", Some(5070)));

    for file in [
        "via-received-param-with-delim",
        "via-received-param-no-delim",
    ] {
        let via = request(file).top_via().unwrap();
        assert_eq!(via.host, "2001:db8::9:1");
        assert!(
            via.received().unwrap().contains("2001:db8::9:255"),
            "{file}"
        );
    }

    let multi = request("mult-ip-in-header");
    let vias: Vec<Via> = multi
        .headers
        .get_all(&HeaderName::Via)
        .map(|v| Via::parse(v).unwrap())
        .collect();
    assert_eq!(vias[0].port, Some(6050));
    assert_eq!(vias[1].host, "192.0.2.1");
    assert_eq!(vias[2].received(), Some("192.0.2.200"));

    let mapped = request("ipv4-mapped-ipv6");
    assert_eq!(mapped.top_via().unwrap().host, "::ffff:192.0.2.10");
    assert_eq!(
        mapped.headers.get(&HeaderName::Contact),
        Some("\"T. desk phone\" <sip:ted@[::ffff:192.0.2.2]>")
    );
    assert!(request("ipv6-in-sdp").body.starts_with(b"v=0\r\n"));
}
