//! Talkdesk stream requests are checked before any upgrade: a missing, forged or expired token
//! gets 401, an unknown bot 404, a number without a route 404, a foreign `accountId` 403, each
//! as a JSON error and never a WebSocket; `voxgate talkdesk-url` prints a URL the node admits.

mod common;
use std::process::Command;
use std::time::Duration;

use common::talkdesk::{demo_token, stream_path, Stream};
use common::{Node, DEFAULT_TOML};
use voxgate_engine::auth::jwt;

fn refused(node: &Node, path: &str) -> (u16, serde_json::Value) {
    match Stream::open(node, path) {
        Ok(_) => panic!("{path} was upgraded"),
        Err((status, body)) => (
            status,
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON error body: {body:?}")),
        ),
    }
}

#[test]
fn bad_tokens_and_unknown_bots_get_no_upgrade() {
    let node = Node::start(DEFAULT_TOML);
    let now = jwt::unix_now();
    let forged = jwt::sign("not-the-secret", "demo-client", now, 600).unwrap();
    let expired = jwt::sign("demo-secret", "demo-client", now - 7200, 60).unwrap();
    let other_app = jwt::sign("demo-secret", "someone-else", now, 600).unwrap();

    let (status, body) = refused(
        &node,
        "/audiosocket/talkdesk/?sipuri=%2B15550100&botId=demo&accountId=a",
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    for (token, words) in [
        (forged.as_str(), "signature"),
        (expired.as_str(), "expired"),
        (other_app.as_str(), "another client"),
        ("garbage", "malformed"),
    ] {
        let (status, body) = refused(&node, &stream_path("+15550100", "demo", token, ""));
        assert_eq!(status, 401, "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
    }
    let (status, body) = refused(
        &node,
        &stream_path("+15550100", "nobody", &demo_token(60), ""),
    );
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_bot")));
    let (status, _) = refused(
        &node,
        &stream_path("not-a-number", "demo", &demo_token(60), ""),
    );
    assert_eq!(status, 400);
    assert!(node.metric("voxgate_talkdesk_refused_total{status=\"401\"}") >= 5.0);
    // A plain GET (no upgrade) with a good token is told it is not a WebSocket.
    let (status, body) = node.http_get(&stream_path("+15550100", "demo", &demo_token(60), ""));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("WebSocket"), "{body}");
}

#[test]
fn routes_and_pinned_accounts_are_enforced() {
    let at = DEFAULT_TOML.find("did = \"*\"").unwrap();
    let config = format!(
        "{}did = \"+1777\"{}",
        &DEFAULT_TOML[..at],
        &DEFAULT_TOML[at + 9..]
    )
    .replace(
        "client_secret = \"demo-secret\"",
        "client_secret = \"demo-secret\"\ntalkdesk_account_id = \"acct-test\"",
    );
    let node = Node::start(&config);
    let t = demo_token(60);
    let (status, body) = refused(&node, &stream_path("+1888", "demo", &t, ""));
    assert_eq!((status, body["error"].as_str()), (404, Some("no_route")));
    // stream_path sends accountId=acct-test; a second accountId is not the first one.
    let wrong =
        format!("/audiosocket/talkdesk/?sipuri=%2B1777&token={t}&botId=demo&accountId=acct-other");
    assert_eq!(refused(&node, &wrong).0, 403);
    let mut ok = Stream::open(&node, &stream_path("+1777", "demo", &t, "")).expect("admitted");
    ok.start("MZpinned");
    ok.send_dtmf("0");
    assert!(ok.wait_closed(Duration::from_secs(5)));
    assert_eq!(ok.events("stop").len(), 1);
}

#[test]
fn talkdesk_url_prints_an_admitted_url() {
    let node = Node::start(DEFAULT_TOML);
    let config = node.dir.path().join("voxgate.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_voxgate"))
        .args([
            "talkdesk-url",
            "--bot",
            "demo",
            "--did",
            "+15550100",
            "--ttl",
            "300",
        ])
        .args(["--host", &format!("ws://{}", node.http)])
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap();
    let url = url.trim();
    let prefix = format!("ws://{}", node.http);
    assert!(
        url.starts_with(&format!(
            "{prefix}/audiosocket/talkdesk/?sipuri=%2B15550100&token="
        )),
        "{url}"
    );
    let mut s = Stream::open(&node, &url[prefix.len()..]).expect("the printed URL is admitted");
    s.start("MZurl");
    s.send_dtmf("0");
    assert!(s.wait_closed(Duration::from_secs(5)));
    assert_eq!(s.events("stop")[0]["stop"]["command"], "escalate");

    let bad = Command::new(env!("CARGO_BIN_EXE_voxgate"))
        .args(["talkdesk-url", "--bot", "nobody", "--did", "+1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no bot `nobody`"));
}
