//! The metadata handoff API against a real node: `POST /metadata?contactId=ID` and
//! `GET /metadata/ID` with `authorizationToken` — the auth matrix, validation, size limit,
//! JSON errors and the record TTL.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{http_request, wait_until, Node, DEFAULT_TOML};
use serde_json::{json, Value};

const TOKEN: &str = "test-metadata-token-9f2c";
const CONTACT: &str = "5f0c7a52-1111-4a2b-9c3d-00000000beef";

fn config(ttl_secs: u64) -> String {
    DEFAULT_TOML
        .replace(
            "metadata_token = \"demo-metadata-token\"",
            &format!("metadata_token = \"{TOKEN}\""),
        )
        .replace(
            "metadata_ttl_secs = 86400",
            &format!("metadata_ttl_secs = {ttl_secs}"),
        )
}

/// One HTTP/1.0 exchange with the metadata token header: (status, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, String) {
    let headers: Vec<(&str, &str)> = token
        .map(|t| ("authorizationToken", t))
        .into_iter()
        .collect();
    http_request(addr, method, path, &headers, body)
}

fn post(node: &Node, contact: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let path = format!("/metadata?contactId={contact}");
    request(node.http, "POST", &path, token, Some(body))
}

fn get(node: &Node, contact: &str, token: Option<&str>) -> (u16, String) {
    request(
        node.http,
        "GET",
        &format!("/metadata/{contact}"),
        token,
        None,
    )
}

/// Asserts a JSON error `{"error": code, "message": …}` with that status.
fn assert_error(got: (u16, String), status: u16, code: &str) {
    let (got_status, body) = got;
    assert_eq!(got_status, status, "body: {body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["error"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[test]
fn auth_matrix_for_both_endpoints() {
    let node = Node::start(&config(3600));
    let body = br#"{"x_metadata":"Hello"}"#;

    assert_error(post(&node, CONTACT, None, body), 401, "unauthorized");
    assert_error(post(&node, CONTACT, Some("wrong"), body), 403, "forbidden");
    assert_error(
        post(&node, CONTACT, Some(&format!("{TOKEN}x")), body),
        403,
        "forbidden",
    );
    // Refused writes stored nothing.
    assert_error(get(&node, CONTACT, Some(TOKEN)), 404, "not_found");

    let (status, answer) = post(&node, CONTACT, Some(TOKEN), body);
    assert_eq!(status, 200, "{answer}");

    assert_error(get(&node, CONTACT, None), 401, "unauthorized");
    assert_error(
        get(&node, CONTACT, Some("demo-metadata-token")),
        403,
        "forbidden",
    );
    assert_error(get(&node, CONTACT, Some(&TOKEN[..5])), 403, "forbidden");
    let (status, text) = get(&node, CONTACT, Some(TOKEN));
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"x_metadata": "Hello"})
    );
}

#[test]
fn round_trip_replace_and_unknown_id() {
    let node = Node::start(&config(3600));
    let first = json!({
        "kore-instanceSessionId": "abc123",
        "nested": {"a": [1, 2, 3]},
        "text": "caf\u{e9} \u{1f600}",
    });
    let (status, _) = post(&node, CONTACT, Some(TOKEN), first.to_string().as_bytes());
    assert_eq!(status, 200);
    let (_, text) = get(&node, CONTACT, Some(TOKEN));
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), first);

    // A second POST replaces the record.
    let second = json!({"x": 2});
    let (status, _) = post(&node, CONTACT, Some(TOKEN), second.to_string().as_bytes());
    assert_eq!(status, 200);
    let (_, text) = get(&node, CONTACT, Some(TOKEN));
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), second);

    assert_error(get(&node, "no-such-contact", Some(TOKEN)), 404, "not_found");
}

#[test]
fn bad_requests_are_json_400s() {
    let node = Node::start(&config(3600));
    let ok = br#"{"a":1}"#;
    // Bad JSON, and JSON that is not an object.
    assert_error(
        post(&node, CONTACT, Some(TOKEN), b"{not json"),
        400,
        "bad_request",
    );
    assert_error(post(&node, CONTACT, Some(TOKEN), b""), 400, "bad_request");
    assert_error(
        post(&node, CONTACT, Some(TOKEN), b"[1,2]"),
        400,
        "bad_request",
    );
    // Missing, empty or unusable contactId.
    let path_cases = [
        "/metadata",
        "/metadata?contactId=",
        "/metadata?other=1",
        "/metadata?contactId=has%20space",
        "/metadata?contactId=a%2Fb",
    ];
    for path in path_cases {
        let got = request(node.http, "POST", path, Some(TOKEN), Some(ok));
        assert_error(got, 400, "bad_request");
    }
    let long = "a".repeat(200);
    assert_error(get(&node, &long, Some(TOKEN)), 400, "bad_request");
    // Auth is checked before anything else.
    assert_error(
        request(node.http, "POST", "/metadata", None, Some(b"{")),
        401,
        "unauthorized",
    );
    // Wrong methods and paths are JSON too.
    let got = request(
        node.http,
        "DELETE",
        &format!("/metadata/{CONTACT}"),
        Some(TOKEN),
        None,
    );
    assert_error(got, 405, "method_not_allowed");
    assert_error(node.http_get("/nothing-here"), 404, "not_found");
}

#[test]
fn oversized_bodies_get_413() {
    let node = Node::start(&config(3600));
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(70 * 1024));
    assert_error(
        post(&node, CONTACT, Some(TOKEN), big.as_bytes()),
        413,
        "payload_too_large",
    );
    assert_error(get(&node, CONTACT, Some(TOKEN)), 404, "not_found");
    // Just under the limit is fine.
    let fits = format!(r#"{{"blob":"{}"}}"#, "x".repeat(60 * 1024));
    let (status, text) = post(&node, CONTACT, Some(TOKEN), fits.as_bytes());
    assert_eq!(status, 200, "{text}");
}

#[test]
fn records_expire_after_the_configured_ttl() {
    let ttl = Duration::from_secs(2);
    let node = Node::start(&config(ttl.as_secs()));
    let stored_at = Instant::now();
    let (status, _) = post(&node, CONTACT, Some(TOKEN), br#"{"short":"lived"}"#);
    assert_eq!(status, 200);
    let (status, text) = get(&node, CONTACT, Some(TOKEN));
    assert_eq!(status, 200, "read back at once: {text}");

    assert!(
        wait_until(Duration::from_secs(20), || get(&node, CONTACT, Some(TOKEN))
            .0
            == 404),
        "the record did not expire"
    );
    // Expired no earlier than the TTL (the store measures from the write, after `stored_at`).
    assert!(
        stored_at.elapsed() >= ttl,
        "expired after {:?}, before its TTL",
        stored_at.elapsed()
    );
    assert_error(get(&node, CONTACT, Some(TOKEN)), 404, "not_found");
}
