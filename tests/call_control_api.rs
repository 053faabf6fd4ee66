//! The call-control API (`/api/v1/calls`) on live SIPp calls: list, transfer (same fields as
//! the bot's `transfer` event), hang-up, with their 400/404 answers; and the token matrix of
//! every HTTP API endpoint (metadata and call control).

mod common;

use std::process::Child;
use std::time::Duration;

use common::{http_request, scenario_with, session_records, wait_until, Node, Sipp, DEFAULT_TOML};
use serde_json::{json, Value};

const API_TOKEN: &str = "call-control-test-token";
const METADATA_TOKEN: &str = "call-control-metadata-token";

fn config() -> String {
    DEFAULT_TOML
        .replace(
            "api_token = \"demo-api-token\"",
            &format!("api_token = \"{API_TOKEN}\""),
        )
        .replace(
            "metadata_token = \"demo-metadata-token\"",
            &format!("metadata_token = \"{METADATA_TOKEN}\""),
        )
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    Header(&'a str, &'a str),
}

fn call(node: &Node, auth: Auth<'_>, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let bearer;
    let headers: Vec<(&str, &str)> = match auth {
        Auth::None => Vec::new(),
        Auth::Bearer(t) => {
            bearer = format!("Bearer {t}");
            vec![("Authorization", bearer.as_str())]
        }
        Auth::Header(name, value) => vec![(name, value)],
    };
    let (status, text) = http_request(node.http, method, path, &headers, body.map(str::as_bytes));
    let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    (status, value)
}

fn api(node: &Node, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    call(node, Auth::Bearer(API_TOKEN), method, path, body)
}

fn assert_error((status, body): (u16, Value), want: u16, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[test]
fn every_api_endpoint_checks_its_token() {
    let node = Node::start(&config());
    // (method, path, body, metadata API?, expected status with the right token)
    let endpoints = [
        (
            "POST",
            "/metadata?contactId=c-1",
            Some(r#"{"a":1}"#),
            true,
            200,
        ),
        ("GET", "/metadata/c-unknown", None, true, 404),
        ("GET", "/api/v1/calls", None, false, 200),
        (
            "POST",
            "/api/v1/calls/no-such-call/transfer",
            Some(r#"{"reason":"TransferToAgent"}"#),
            false,
            404,
        ),
        ("DELETE", "/api/v1/calls/no-such-call", None, false, 404),
    ];
    for (method, path, body, metadata, ok) in endpoints {
        let auth = |token| {
            if metadata {
                Auth::Header("authorizationToken", token)
            } else {
                Auth::Bearer(token)
            }
        };
        let right = if metadata { METADATA_TOKEN } else { API_TOKEN };
        let what = format!("{method} {path}");
        let (status, v) = call(&node, Auth::None, method, path, body);
        assert_eq!(
            (status, v["error"].as_str()),
            (401, Some("unauthorized")),
            "{what}: {v}"
        );
        let (status, v) = call(&node, auth("wrong-token"), method, path, body);
        assert_eq!(
            (status, v["error"].as_str()),
            (403, Some("forbidden")),
            "{what}: {v}"
        );
        // The other API's token is wrong here too.
        let other = if right == API_TOKEN {
            METADATA_TOKEN
        } else {
            API_TOKEN
        };
        let (status, v) = call(&node, auth(other), method, path, body);
        assert_eq!(status, 403, "{what}: {v}");
        let (status, v) = call(&node, auth(right), method, path, body);
        assert_eq!(status, ok, "{what}: {v}");
    }
    // A bearer token under another scheme is no token.
    let (status, _) = call(
        &node,
        Auth::Header("Authorization", &format!("Basic {API_TOKEN}")),
        "GET",
        "/api/v1/calls",
        None,
    );
    assert_eq!(status, 401);
    assert_eq!(
        api(&node, "GET", "/api/v1/calls", None).1,
        json!({ "calls": [] })
    );
}

/// A SIPp caller that stays on the line until the node's BYE carries `kore-reason: reason`.
fn caller(node: &Node, reason: &str) -> (Child, tempfile::TempDir) {
    let (dir, path) = scenario_with(
        "uac_expect_bye.xml",
        &[
            ("CODEC_PT", "0"),
            ("PLAY", ""),
            ("HEADER", "kore-reason"),
            ("REASON", reason),
        ],
    );
    (Sipp::with_scenario_file(&path, node.sip).spawn(), dir)
}

/// The single live call once it is answered.
fn live_call(node: &Node) -> Value {
    let mut found = Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (_, v) = api(node, "GET", "/api/v1/calls", None);
            match v["calls"].as_array().map(Vec::as_slice) {
                Some([c]) if c["state"] == "answered" => {
                    found = c.clone();
                    true
                }
                _ => false,
            }
        }),
        "no answered call listed; log:\n{}",
        node.log()
    );
    found
}

fn sipp_succeeds(mut child: Child) {
    assert!(
        wait_until(Duration::from_secs(20), || matches!(
            child.try_wait(),
            Ok(Some(_))
        )),
        "SIPp did not finish"
    );
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "SIPp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn list_transfer_and_hang_up_live_calls() {
    let node = Node::start(&config());

    let (sipp, _dir) = caller(&node, "TransferToAgent");
    let c = live_call(&node);
    assert_eq!(c["did"], "+15550100");
    assert_eq!(c["bot"], "demo");
    assert_eq!(c["trunk"], "local");
    assert!(
        c["start_ms"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "{c}"
    );
    let id = c["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{c}");
    assert!(!c["call_id"].as_str().unwrap().is_empty());
    let transfer = format!("/api/v1/calls/{id}/transfer");

    assert_error(
        api(&node, "POST", &transfer, Some("{not json")),
        400,
        "bad_request",
    );
    assert_error(
        api(&node, "POST", &transfer, Some(r#"{"target":"100"}"#)),
        400,
        "bad_request",
    );
    assert_error(
        api(&node, "POST", &transfer, Some(r#"{"reason":"  "}"#)),
        400,
        "bad_request",
    );
    assert_error(
        api(
            &node,
            "POST",
            "/api/v1/calls/nope/transfer",
            Some(r#"{"reason":"X"}"#),
        ),
        404,
        "not_found",
    );
    let body = json!({
        "reason": "TransferToAgent",
        "headers": {"X-Api-Case": "77"},
        "variables": {"ringGroup": "api-agents"},
        "metadata": {"note": "from the API"},
    })
    .to_string();
    let (status, v) = api(&node, "POST", &transfer, Some(&body));
    assert_eq!((status, &v["status"]), (202, &json!("transferring")), "{v}");
    sipp_succeeds(sipp);

    assert!(wait_until(Duration::from_secs(10), || !session_records(
        &node
    )
    .is_empty()));
    let esc = session_records(&node)[0]
        .escalation
        .clone()
        .expect("escalation");
    assert_eq!(esc.reason, "TransferToAgent");
    assert_eq!(esc.variables["ringGroup"], "api-agents");
    assert!(wait_until(Duration::from_secs(10), || {
        api(&node, "GET", "/api/v1/calls", None).1 == json!({ "calls": [] })
    }));

    // Hang-up, addressed by the SIP Call-ID this time, with a reason.
    let (sipp, _dir) = caller(&node, "OperatorHangUp");
    let c = live_call(&node);
    let path = format!("/api/v1/calls/{}", c["call_id"].as_str().unwrap());
    assert_error(api(&node, "DELETE", &path, Some("[1,")), 400, "bad_request");
    let (status, v) = api(
        &node,
        "DELETE",
        &path,
        Some(r#"{"reason":"OperatorHangUp"}"#),
    );
    assert_eq!((status, &v["status"]), (202, &json!("hanging_up")), "{v}");
    sipp_succeeds(sipp);
    assert!(
        wait_until(Duration::from_secs(10), || api(
            &node, "DELETE", &path, None
        )
        .0 == 404),
        "the ended call is still addressable"
    );
}
