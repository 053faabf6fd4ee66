//! Talkdesk Digital Connect events against a real node: OAuth2 tokens from the node's token
//! endpoint (client made with the real CLI), the five actions with valid and invalid bodies,
//! the auth matrix (no / unknown / expired / revoked token), redeliveries, the state-machine
//! refusals, and the conversation as `GET /api/v1/conversations/{id}` shows it.

mod common;

use std::time::Duration;

use common::{
    access_token, add_credential, http_exchange, http_post_json, voxgate_cli, wait_until, Node,
    DEFAULT_TOML,
};
use serde_json::{json, Value};

const EVENTS: &str = "/api/digital-connect/talkdesk/conversations/events";
const API_TOKEN: &str = "demo-api-token";

fn config(token_ttl_secs: u64) -> String {
    DEFAULT_TOML.replace(
        "token_ttl_secs = 3600",
        &format!("token_ttl_secs = {token_ttl_secs}"),
    )
}

/// A node with one credential and a token for it.
fn node_with_token(ttl: u64) -> (Node, String, String, String) {
    let node = Node::start(&config(ttl));
    let (id, secret) = add_credential(&node, "talkdesk");
    let token = access_token(&node, &id, &secret);
    (node, id, secret, token)
}

use common::post_event as post;

fn conversation(node: &Node, id: &str) -> common::HttpReply {
    let auth = format!("Bearer {API_TOKEN}");
    http_exchange(
        node.http,
        "GET",
        &format!("/api/v1/conversations/{id}"),
        &[("Authorization", &auth)],
        None,
    )
}

fn started(conv: &str) -> Value {
    json!({
        "event_type": "conversation_started",
        "conversation_id": conv,
        "timestamp": "2026-11-29T10:00:00Z",
        "payload": {
            "contact_person": {"email": "ann@example.com"},
            "user": {"name": "Ann"},
            "touchpoint": {"id": "tp-1"},
            "subject": "Billing"
        }
    })
}

fn assigned(conv: &str, interaction: &str, user: &str) -> Value {
    json!({
        "event_type": "conversation_assigned",
        "conversation_id": conv,
        "interaction_id": interaction,
        "user_id": user,
        "timestamp": "2026-11-29T10:00:05Z",
        "properties": {"queue": "billing"}
    })
}

fn message(conv: &str, id: &str, text: &str) -> Value {
    json!({
        "event_type": "message_created",
        "conversation_id": conv,
        "timestamp": "2026-11-29T10:00:10Z",
        "payload": {
            "id": id,
            "content": text,
            "created_at": "2026-11-29T10:00:10Z",
            "author": {"name": "Ann", "type": "contact"}
        }
    })
}

fn ended(conv: &str) -> Value {
    json!({"event_type": "conversation_ended", "conversation_id": conv,
           "timestamp": "2026-11-29T10:05:00Z"})
}

fn terminated(interaction: &str) -> Value {
    json!({"event_type": "conversation_terminated", "interaction_id": interaction,
           "timestamp": "2026-11-29T10:06:00Z", "properties": {"reason": "timeout"}})
}

/// Every action with a valid body answers 200 and the conversation reads back as applied.
#[test]
fn every_action_is_applied_and_readable() {
    let (node, _, _, token) = node_with_token(3600);
    let steps = [
        ("conversation_started", started("c-1"), "started"),
        (
            "conversation_assigned",
            assigned("c-1", "i-1", "agent-7"),
            "assigned",
        ),
        (
            "message_created",
            message("c-1", "m-1", "Hello there"),
            "assigned",
        ),
        (
            "message_created",
            message("c-1", "m-2", "My bill is wrong"),
            "assigned",
        ),
        ("conversation_ended", ended("c-1"), "ended"),
    ];
    for (action, body, state) in &steps {
        let r = post(&node, &token, action, body);
        assert_eq!(r.status, 200, "{action}: {}", r.body);
        let v = r.json();
        assert_eq!(v["status"], "applied", "{action}");
        assert_eq!(v["state"], *state, "{action}");
        assert_eq!(v["conversation_id"], "c-1");
    }
    // conversation_terminated names the conversation by its interaction id only.
    assert_eq!(
        post(&node, &token, "conversation_started", &started("c-2")).status,
        200
    );
    assert_eq!(
        post(
            &node,
            &token,
            "conversation_assigned",
            &assigned("c-2", "i-2", "a")
        )
        .status,
        200
    );
    let r = post(&node, &token, "conversation_terminated", &terminated("i-2"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["conversation_id"], "c-2");
    assert_eq!(r.json()["state"], "terminated");

    let c = conversation(&node, "c-1");
    assert_eq!(c.status, 200, "{}", c.body);
    let c = c.json();
    assert_eq!(c["state"], "ended");
    assert_eq!(c["interaction_id"], "i-1");
    assert_eq!(c["attributes"]["contact_email"], "ann@example.com");
    assert_eq!(c["attributes"]["touchpoint_id"], "tp-1");
    assert_eq!(c["attributes"]["subject"], "Billing");
    assert_eq!(c["attributes"]["user_id"], "agent-7");
    assert_eq!(c["attributes"]["assigned_properties"]["queue"], "billing");
    assert_eq!(c["attributes"]["ended_at"], "2026-11-29T10:05:00Z");
    let texts: Vec<_> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["message_id"].as_str().unwrap(),
                m["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(texts, [("m-1", "Hello there"), ("m-2", "My bill is wrong")]);
    assert_eq!(c["messages"][0]["author"], "contact");
    assert_eq!(conversation(&node, "c-2").json()["state"], "terminated");
    assert_eq!(
        conversation(&node, "c-2").json()["attributes"]["terminated_properties"]["reason"],
        "timeout"
    );
}

/// Every path to a required field, for each action's valid body.
fn required_paths(body: &Value, prefix: &str, schema: &Value, out: &mut Vec<String>) {
    let Some(required) = schema["required"].as_array() else {
        return;
    };
    for name in required {
        let name = name.as_str().unwrap();
        let path = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        };
        out.push(path.clone());
        if let Some(child) = schema["properties"].get(name) {
            required_paths(&body[name], &path, child, out);
        }
    }
}

fn remove_path(body: &mut Value, path: &str) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap();
    let mut at = body;
    for p in parts {
        at = &mut at[p];
    }
    at.as_object_mut().unwrap().remove(last);
}

/// Removing any required field (at any depth) is a 400 that names its dotted path; so is an
/// extra property, at the top and nested.
#[test]
fn schema_violations_name_the_field() {
    let (node, _, _, token) = node_with_token(3600);
    let valid = [
        ("conversation_started", started("c-v")),
        ("conversation_assigned", assigned("c-v", "i-v", "u")),
        ("conversation_ended", ended("c-v")),
        ("conversation_terminated", terminated("i-v")),
        ("message_created", message("c-v", "m", "x")),
    ];
    let root = env!("CARGO_MANIFEST_DIR");
    let mut checked = 0;
    for (action, body) in &valid {
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{root}/config/schemas/{action}.json")).unwrap(),
        )
        .unwrap();
        let mut paths = Vec::new();
        required_paths(body, "", &schema, &mut paths);
        assert!(paths.len() >= 3, "{action}: {paths:?}");
        for path in paths {
            let mut broken = body.clone();
            remove_path(&mut broken, &path);
            let r = post(&node, &token, action, &broken);
            assert_eq!(r.status, 400, "{action} without {path}: {}", r.body);
            let v = r.json();
            assert_eq!(v["error"], "invalid_event");
            assert!(
                v["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["field"] == path.as_str() && f["problem"] == "required"),
                "{action} without {path}: {v}"
            );
            assert!(v["message"].as_str().unwrap().contains(&path), "{v}");
            checked += 1;
        }
        let mut extra = body.clone();
        extra["unexpected"] = json!(1);
        let r = post(&node, &token, action, &extra);
        assert_eq!(r.status, 400, "{action} with extra: {}", r.body);
        assert_eq!(r.json()["fields"][0]["field"], "unexpected");
        assert_eq!(r.json()["fields"][0]["problem"], "additionalProperties");
    }
    // started 4 + 3 + 3 nested, assigned 5, ended 3, terminated 3, message 4 + 4 + 2.
    assert_eq!(checked, 31);

    let mut nested = message("c-v", "m", "x");
    nested["payload"]["author"]["avatar"] = json!("a.png");
    let r = post(&node, &token, "message_created", &nested);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["fields"][0]["field"], "payload.author.avatar");

    let mut wrong_type = started("c-v");
    wrong_type["payload"]["subject"] = json!(5);
    let r = post(&node, &token, "conversation_started", &wrong_type);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["fields"][0]["field"], "payload.subject");
    assert_eq!(r.json()["fields"][0]["problem"], "type");

    let auth = format!("Bearer {token}");
    let r = http_exchange(
        node.http,
        "POST",
        &format!("{EVENTS}/conversation_started"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(b"{not json"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_json");

    let huge = message("c-v", "m", &"x".repeat(300 * 1024));
    let r = post(&node, &token, "message_created", &huge);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"], "payload_too_large");

    let r = post(&node, &token, "conversation_paused", &started("c-v"));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "unknown_action");
    // Nothing above created a conversation.
    assert_eq!(conversation(&node, "c-v").status, 404);
}

/// No token, a made-up one, an expired one and one whose client was revoked: all 401.
#[test]
fn access_tokens_are_checked() {
    let (node, id, secret, token) = node_with_token(2);
    let r = http_post_json(
        node.http,
        &format!("{EVENTS}/conversation_started"),
        &[],
        &started("c-a"),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_token");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert_eq!(
        post(&node, "made-up", "conversation_started", &started("c-a")).status,
        401
    );

    // Valid now, expired after the configured 2 s.
    assert_eq!(
        post(&node, &token, "conversation_started", &started("c-a")).status,
        200
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            // A redelivery: harmless while the token is valid.
            post(&node, &token, "conversation_started", &started("c-a")).status == 401
        }),
        "the token never expired"
    );
    assert_eq!(conversation(&node, "c-a").json()["state"], "started");

    // A fresh token works until the client is revoked with the CLI.
    let fresh = access_token(&node, &id, &secret);
    assert_eq!(
        post(&node, &fresh, "conversation_ended", &ended("c-a")).status,
        200
    );
    let out = voxgate_cli(
        node.dir.path(),
        &["credentials", "revoke", &id, "--config", "voxgate.toml"],
    );
    assert!(out.status.success(), "{out:?}");
    let r = post(&node, &fresh, "message_created", &message("c-a", "m", "x"));
    assert_eq!(r.status, 401, "{}", r.body);
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let r = http_exchange(
        node.http,
        "POST",
        "/security/oauth/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(form.as_bytes()),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
}

/// The token endpoint: HTTP Basic, the answer's fields and headers, and RFC 6749 §5.2 errors.
#[test]
fn token_endpoint_follows_rfc_6749() {
    let node = Node::start(&config(600));
    let (id, secret) = add_credential(&node, "td");
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let basic = |id: &str, secret: &str| {
        use std::io::Write as _;
        let mut raw = Vec::new();
        write!(raw, "{id}:{secret}").unwrap();
        format!("Basic {}", base64_encode(&raw))
    };
    let token = |headers: &[(&str, &str)], body: &str| {
        http_exchange(
            node.http,
            "POST",
            "/security/oauth/token",
            headers,
            Some(body.as_bytes()),
        )
    };

    let auth = basic(&id, &secret);
    let r = token(
        &[form, ("Authorization", &auth)],
        "grant_type=client_credentials",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 600);
    assert!(v["access_token"].as_str().unwrap().len() >= 40);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Two requests, two different tokens, both valid.
    let other = access_token(&node, &id, &secret);
    assert_ne!(other, v["access_token"].as_str().unwrap());
    assert_eq!(
        post(&node, &other, "conversation_started", &started("t")).status,
        200
    );

    let bad = basic(&id, "wrong");
    let r = token(
        &[form, ("Authorization", &bad)],
        "grant_type=client_credentials",
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    let r = token(
        &[form],
        "grant_type=client_credentials&client_id=vgc_nobody&client_secret=x",
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, json!("invalid_client"))
    );
    let r = token(&[form, ("Authorization", &auth)], "grant_type=password");
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("unsupported_grant_type"))
    );
    let r = token(&[form, ("Authorization", &auth)], "scope=x");
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("invalid_request"))
    );
    let r = token(
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        "{\"grant_type\":\"client_credentials\"}",
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("invalid_request"))
    );
}

fn base64_encode(raw: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// At-least-once delivery: every event delivered twice changes nothing the second time.
#[test]
fn redeliveries_change_nothing() {
    let (node, _, _, token) = node_with_token(3600);
    let events = [
        ("conversation_started", started("c-d")),
        ("conversation_assigned", assigned("c-d", "i-d", "u-1")),
        ("message_created", message("c-d", "m-1", "once")),
        ("conversation_terminated", terminated("i-d")),
    ];
    for (action, body) in &events {
        let first = post(&node, &token, action, body);
        assert_eq!(
            first.json()["status"],
            "applied",
            "{action}: {}",
            first.body
        );
        let before = conversation(&node, "c-d").body;
        let again = post(&node, &token, action, body);
        assert_eq!(again.status, 200, "{action}: {}", again.body);
        assert_eq!(again.json()["status"], "duplicate", "{action}");
        assert_eq!(
            conversation(&node, "c-d").body,
            before,
            "{action} changed the conversation"
        );
    }
    // Late redeliveries of earlier events after the close are still no-ops, not errors.
    for (action, body) in &events[..3] {
        let r = post(&node, &token, action, body);
        assert_eq!(
            (r.status, r.json()["status"].clone()),
            (200, json!("duplicate")),
            "{action}"
        );
    }
    let c = conversation(&node, "c-d").json();
    assert_eq!(c["messages"].as_array().unwrap().len(), 1);
    assert_eq!(c["state"], "terminated");
}

/// Events that make no sense in the conversation's state are refused with 409 and a reason;
/// the first close wins.
#[test]
fn state_machine_refusals() {
    let (node, _, _, token) = node_with_token(3600);
    for (action, body) in [
        ("conversation_assigned", assigned("c-x", "i-x", "u")),
        ("message_created", message("c-x", "m", "x")),
        ("conversation_ended", ended("c-x")),
        ("conversation_terminated", terminated("i-unknown")),
    ] {
        let r = post(&node, &token, action, &body);
        assert_eq!(r.status, 409, "{action}: {}", r.body);
        assert_eq!(r.json()["error"], "unknown_conversation", "{action}");
    }
    assert_eq!(conversation(&node, "c-x").status, 404);

    assert_eq!(
        post(&node, &token, "conversation_started", &started("c-y")).status,
        200
    );
    assert_eq!(
        post(
            &node,
            &token,
            "conversation_assigned",
            &assigned("c-y", "i-y", "u1")
        )
        .status,
        200
    );
    // Reassignment to another agent while open is a change.
    let r = post(
        &node,
        &token,
        "conversation_assigned",
        &assigned("c-y", "i-y", "u2"),
    );
    assert_eq!(r.json()["status"], "applied");
    assert_eq!(
        post(&node, &token, "conversation_terminated", &terminated("i-y")).status,
        200
    );
    let r = post(
        &node,
        &token,
        "message_created",
        &message("c-y", "late", "hello?"),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"], "conversation_closed");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("already terminated"));
    let r = post(
        &node,
        &token,
        "conversation_assigned",
        &assigned("c-y", "i-y", "u3"),
    );
    assert_eq!(r.status, 409);
    let r = post(&node, &token, "conversation_ended", &ended("c-y"));
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("duplicate"))
    );
    let c = conversation(&node, "c-y").json();
    assert_eq!(c["state"], "terminated");
    assert_eq!(c["attributes"]["user_id"], "u2");
    assert!(c["messages"].as_array().unwrap().is_empty());
}

/// `GET /api/v1/conversations/{id}` is behind the API token.
#[test]
fn conversation_api_needs_the_api_token() {
    let node = Node::start(&config(3600));
    let path = "/api/v1/conversations/anything";
    let r = http_exchange(node.http, "GET", path, &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthorized");
    let r = http_exchange(
        node.http,
        "GET",
        path,
        &[("Authorization", "Bearer wrong")],
        None,
    );
    assert_eq!(r.status, 403);
    let r = conversation(&node, "anything");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
}

/// The same event delivered by several connections at once is applied exactly once: the
/// conversation's actor takes them one after the other.
#[test]
fn concurrent_redeliveries_apply_once() {
    let (node, _, _, token) = node_with_token(3600);
    assert_eq!(
        post(&node, &token, "conversation_started", &started("c-race")).status,
        200
    );
    let body = message("c-race", "m-race", "only once");
    let statuses: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| post(&node, &token, "message_created", &body)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let r = h.join().unwrap();
                assert_eq!(r.status, 200, "{}", r.body);
                r.json()["status"].as_str().unwrap().to_owned()
            })
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| *s == "applied").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 7);
    let c = conversation(&node, "c-race").json();
    assert_eq!(c["messages"].as_array().unwrap().len(), 1);
}

/// Conversations live in the store: a node restarted on the same store continues them,
/// including the interaction mapping that `conversation_terminated` needs.
#[test]
fn conversations_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let config = config(3600).replace(
        "path = \"voxgate.db\"",
        &format!("path = \"{}\"", db.display()),
    );
    let first = Node::start(&config);
    let (id, secret) = add_credential(&first, "td");
    let token = access_token(&first, &id, &secret);
    assert_eq!(
        post(&first, &token, "conversation_started", &started("c-r")).status,
        200
    );
    assert_eq!(
        post(
            &first,
            &token,
            "conversation_assigned",
            &assigned("c-r", "i-r", "u")
        )
        .status,
        200
    );
    assert_eq!(
        post(
            &first,
            &token,
            "message_created",
            &message("c-r", "m-1", "before")
        )
        .status,
        200
    );
    drop(first);

    let second = Node::start(&config);
    // The access token is in the store too.
    let r = post(
        &second,
        &token,
        "message_created",
        &message("c-r", "m-1", "before"),
    );
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("duplicate"))
    );
    assert_eq!(
        post(
            &second,
            &token,
            "message_created",
            &message("c-r", "m-2", "after")
        )
        .status,
        200
    );
    let r = post(
        &second,
        &token,
        "conversation_terminated",
        &terminated("i-r"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["conversation_id"], "c-r");
    let c = conversation(&second, "c-r").json();
    assert_eq!(c["state"], "terminated");
    let texts: Vec<_> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["before", "after"]);
}
