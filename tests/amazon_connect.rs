//! The Amazon Connect profile end to end: the flow's Lambda (docs/examples/connect_lambda.py)
//! reads a running node's metadata API and returns contact attributes; SIPp as Connect's
//! external voice connector escalates with DTMF 0 and finds the metadata stored by the time the
//! BYE arrives.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{scenario_with, session_records, wait_until, Node, Sipp, DEFAULT_TOML};
use serde_json::{json, Value};

const TOKEN: &str = "connect-test-token-41d7";
const CONTACT: &str = "0b6e2d1c-7a3f-4e55-9d21-5c8f0a9b1e44";

fn config() -> String {
    DEFAULT_TOML
        .replace(
            "metadata_token = \"demo-metadata-token\"",
            &format!("metadata_token = \"{TOKEN}\""),
        )
        .replace("profile = \"zoom-cc\"", "profile = \"amazon-connect\"")
}

/// `POST /metadata?contactId=…` with the right token; returns the status.
fn post_metadata(node: &Node, contact: &str, body: &Value) -> u16 {
    let body = body.to_string();
    let mut stream = TcpStream::connect(node.http).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /metadata?contactId={contact} HTTP/1.0\r\nHost: x\r\nauthorizationToken: {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Runs the Lambda's self-test against `node`: (exit code, parsed stdout).
fn run_lambda(node: &Node, token: &str, contact: &str) -> (i32, Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/connect_lambda.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["--self-test", contact])
        .env("VOXGATE_URL", format!("http://{}", node.http))
        .env("VOXGATE_METADATA_TOKEN", token)
        .env("VOXGATE_WAIT_SECS", "0.3")
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let value = serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "lambda printed no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), value)
}

#[test]
fn lambda_returns_the_record_as_contact_attributes() {
    let node = Node::start(&config());
    let record = json!({
        "contactId": CONTACT,
        "kore-instanceSessionId": "sess-42",
        "reason": "TransferToAgent",
        "variables": {"ringGroup": "agents", "priority": 2},
        "metadata": {"x_metadata": "Hello from Kore"},
        "transcriptSummary": "caller: agent please",
        "storedAtMs": 1_718_000_000_000_i64,
    });
    assert_eq!(post_metadata(&node, CONTACT, &record), 200);

    let (code, attrs) = run_lambda(&node, TOKEN, CONTACT);
    assert_eq!(code, 0, "{attrs}");
    assert_eq!(attrs["found"], "true");
    assert_eq!(attrs["kore-instanceSessionId"], "sess-42");
    assert_eq!(attrs["reason"], "TransferToAgent");
    assert_eq!(attrs["ringGroup"], "agents");
    assert_eq!(attrs["priority"], "2");
    assert_eq!(attrs["transcriptSummary"], "caller: agent please");
    assert_eq!(attrs["storedAtMs"], "1718000000000");
    // Every attribute is a string (Connect's string map).
    assert!(
        attrs.as_object().unwrap().values().all(Value::is_string),
        "{attrs}"
    );
    let metadata: Value = serde_json::from_str(attrs["metadata"].as_str().unwrap()).unwrap();
    assert_eq!(metadata["x_metadata"], "Hello from Kore");
    let body: Value = serde_json::from_str(attrs["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, record);
}

#[test]
fn lambda_reports_missing_records_and_refusals() {
    let node = Node::start(&config());
    let (code, attrs) = run_lambda(&node, TOKEN, "never-stored");
    assert_eq!(code, 0, "{attrs}");
    assert_eq!(attrs, json!({"found": "false"}));

    let (code, err) = run_lambda(&node, "wrong-token", CONTACT);
    assert_eq!(code, 1, "{err}");
    assert!(err["error"].as_str().unwrap().contains("403"), "{err}");
}

fn play_digit_zero() -> String {
    "  <nop>\n    <action>\n      <exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_0.pcap\"/>\n    </action>\n  </nop>\n".into()
}

/// SIPp escalates with DTMF 0; `contact_header` goes into X-Amzn-ConnectContactId and
/// `extra` is one more INVITE header line. Returns the metadata API's answer at BYE time.
fn escalate(node: &Node, contact_header: &str, extra: &str) -> (String, Value) {
    let code_file = node.dir.path().join("on_bye.code");
    let body_file = node.dir.path().join("on_bye.json");
    let on_bye = format!(
        "curl -s -o {} -w '%{{http_code}}' -H 'authorizationToken: {TOKEN}' http://{}/metadata/{CONTACT} > {}",
        body_file.display(),
        node.http,
        code_file.display()
    );
    let play = play_digit_zero();
    let (_dir, path) = scenario_with(
        "uac_connect_escalate.xml",
        &[
            ("CONTACT_ID", contact_header),
            ("EXTRA_HEADERS", extra),
            ("CODEC_PT", "0"),
            ("PLAY", &play),
            ("REASON", "TransferToAgent"),
            ("ON_BYE", &on_bye),
        ],
    );
    Sipp::with_scenario_file(&path, node.sip).run_ok();
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(
            &code_file
        )
        .is_ok_and(|c| c.len() == 3)),
        "the on-BYE probe did not run"
    );
    let code = std::fs::read_to_string(&code_file).unwrap();
    let body = std::fs::read_to_string(&body_file).unwrap_or_default();
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn check_stored(node: &Node, code: &str, stored: &Value) {
    assert_eq!(
        code, "200",
        "metadata not in the store when the BYE arrived: {stored}"
    );
    assert!(wait_until(Duration::from_secs(10), || !session_records(
        node
    )
    .is_empty()));
    let record = &session_records(node)[0];
    assert_eq!(record.contact_id.as_deref(), Some(CONTACT));
    assert_eq!(stored["contactId"], CONTACT);
    assert_eq!(stored["kore-instanceSessionId"], record.session_id.as_str());
    assert_eq!(stored["reason"], "TransferToAgent");
    assert_eq!(stored["variables"]["ringGroup"], "agents");
    assert!(stored["transcriptSummary"].is_string(), "{stored}");
    assert_eq!(
        node.metric("voxgate_store_errors_total{what=\"metadata\"}"),
        0.0
    );
}

#[test]
fn escalation_stores_metadata_before_the_bye() {
    let node = Node::start(&config());
    let (code, stored) = escalate(&node, CONTACT, "X-Connector: test");
    check_stored(&node, &code, &stored);
}

#[test]
fn contact_id_from_user_to_user_when_the_header_is_unusable() {
    let node = Node::start(&config());
    let hex: String = format!(r#"{{"contactId":"{CONTACT}"}}"#)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    let uui = format!("User-to-User: {hex};encoding=hex;purpose=isdn-uui");
    // An invalid header value makes the node fall back to the UUI.
    let (code, stored) = escalate(&node, "not a valid id!", &uui);
    check_stored(&node, &code, &stored);
}
