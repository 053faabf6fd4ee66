//! Forwarding of `message_created` to a bot webhook: a tiny HTTP server started by the test
//! plays the bot, failing on purpose to exercise the retries with backoff and the dead letter.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{access_token, add_credential, http_exchange, wait_until, Node};
use serde_json::{json, Value};

/// A webhook that answers the scripted statuses in turn (then 200) and records every body.
struct Hook {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Hook {
    fn start(script: Vec<u16>) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                let status = script.next().unwrap_or(200);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Hook { addr, bodies }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

fn node_for(hook: &Hook, attempts: u32) -> (Node, String) {
    let config = common::DEFAULT_TOML
        .replace(
            "webhook_url = \"\"",
            &format!("webhook_url = \"http://{}/bot/messages\"", hook.addr),
        )
        .replace(
            "webhook_max_attempts = 5",
            &format!("webhook_max_attempts = {attempts}"),
        )
        .replace("webhook_backoff_ms = 500", "webhook_backoff_ms = 50");
    let node = Node::start(&config);
    let (id, secret) = add_credential(&node, "td");
    let token = access_token(&node, &id, &secret);
    (node, token)
}

fn post(node: &Node, token: &str, action: &str, body: &Value) -> u16 {
    common::post_event(node, token, action, body).status
}

/// The webhook delivery counter with this `result` label.
fn deliveries(node: &Node, result: &str) -> f64 {
    node.metric(&format!(
        "voxgate_dc_webhook_deliveries_total{{result=\"{result}\"}}"
    ))
}

fn start_conversation(node: &Node, token: &str, id: &str) {
    let started = json!({
        "event_type": "conversation_started", "conversation_id": id, "timestamp": "t",
        "payload": {"contact_person": {"email": "a@b.c"}, "user": {"name": "Ann"},
                    "touchpoint": {"id": "tp"}}
    });
    assert_eq!(post(node, token, "conversation_started", &started), 200);
    let assigned = json!({
        "event_type": "conversation_assigned", "conversation_id": id,
        "interaction_id": format!("i-{id}"), "user_id": "u", "timestamp": "t"
    });
    assert_eq!(post(node, token, "conversation_assigned", &assigned), 200);
}

fn message(conv: &str, id: &str, text: &str) -> Value {
    json!({
        "event_type": "message_created", "conversation_id": conv, "timestamp": "t",
        "payload": {"id": id, "content": text, "created_at": "2026-11-29T10:00:00Z",
                    "author": {"name": "Ann", "type": "contact"}}
    })
}

/// Two failures, then success: the message arrives three times (the same body), is counted
/// as delivered once, and a redelivered event is not forwarded again.
#[test]
fn message_is_retried_until_delivered() {
    let hook = Hook::start(vec![500, 503]);
    let (node, token) = node_for(&hook, 5);
    start_conversation(&node, &token, "c-w");
    assert_eq!(
        post(
            &node,
            &token,
            "message_created",
            &message("c-w", "m-1", "Hi bot")
        ),
        200
    );
    assert!(
        wait_until(Duration::from_secs(10), || deliveries(&node, "delivered")
            == 1.0),
        "not delivered; hook saw {:?}",
        hook.bodies()
    );
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert_eq!(bodies[0]["event_type"], "message_created");
    assert_eq!(bodies[0]["conversation_id"], "c-w");
    assert_eq!(bodies[0]["interaction_id"], "i-c-w");
    assert_eq!(bodies[0]["message"]["id"], "m-1");
    assert_eq!(bodies[0]["message"]["content"], "Hi bot");
    assert_eq!(bodies[0]["message"]["author"]["type"], "contact");
    assert_eq!(deliveries(&node, "retry"), 2.0);

    // A redelivery changes nothing, so nothing is forwarded; a new message is.
    assert_eq!(
        post(
            &node,
            &token,
            "message_created",
            &message("c-w", "m-1", "Hi bot")
        ),
        200
    );
    assert_eq!(
        post(
            &node,
            &token,
            "message_created",
            &message("c-w", "m-2", "Still there?")
        ),
        200
    );
    assert!(wait_until(Duration::from_secs(10), || hook.bodies().len() == 4));
    assert_eq!(hook.bodies()[3]["message"]["id"], "m-2");
    // Forwarding is spawned in event order, so a forwarded redelivery would have reached the
    // hook before m-2: with both deliveries counted, the hook has seen exactly m-1 ×3 and m-2.
    assert!(wait_until(Duration::from_secs(5), || deliveries(
        &node,
        "delivered"
    ) == 2.0));
    assert_eq!(hook.bodies().len(), 4);
}

/// A webhook that always fails: after the configured attempts the message is dead-lettered,
/// counted, and noted on the conversation.
#[test]
fn message_is_dead_lettered_after_the_attempts() {
    let hook = Hook::start(vec![500; 100]);
    let (node, token) = node_for(&hook, 3);
    start_conversation(&node, &token, "c-dead");
    assert_eq!(
        post(
            &node,
            &token,
            "message_created",
            &message("c-dead", "m-x", "hello")
        ),
        200
    );
    assert!(
        wait_until(Duration::from_secs(10), || deliveries(&node, "dead_letter")
            == 1.0),
        "no dead letter; hook saw {} attempts",
        hook.bodies().len()
    );
    assert_eq!(hook.bodies().len(), 3);
    let read = || {
        http_exchange(
            node.http,
            "GET",
            "/api/v1/conversations/c-dead",
            &[("Authorization", "Bearer demo-api-token")],
            None,
        )
        .json()
    };
    assert!(
        wait_until(Duration::from_secs(5), || read()["attributes"]
            ["webhook_dead_letters"]
            .is_array()),
        "dead letter not noted: {}",
        read()
    );
    let note = &read()["attributes"]["webhook_dead_letters"][0];
    assert_eq!(note["message_id"], "m-x");
    assert_eq!(note["attempts"], 3);
    assert_eq!(note["error"], "HTTP 500");
    // The message itself is stored all the same.
    assert_eq!(read()["messages"][0]["text"], "hello");
}
