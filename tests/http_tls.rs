//! HTTPS and WSS on the HTTP listener (`[http] tls_cert`/`tls_key`), with certificates made at
//! test time by `openssl`: the metadata API answers over HTTPS, a Talkdesk voice stream runs
//! over `wss://` with a real WebSocket client (the demo bot echoes the caller's tone and the
//! stream ends with a session record), and plain HTTP on the same port gets no answer.

mod common;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::pki::Pki;
use common::talkdesk::{demo_token, stream_path, Stream};
use common::{http_exchange_over, session_records, tone_frame, wait_until, Node};
use voxgate_engine::store::IngressKind;

#[test]
fn api_over_https() {
    let pki = Pki::new();
    let node = Node::start(&pki.https_config());
    let https = |method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>| {
        http_exchange_over(
            pki.connect(node.http),
            node.http,
            method,
            path,
            headers,
            body,
        )
    };

    let health = https("GET", "/healthz", &[], None);
    assert_eq!(health.status, 200, "{health:?}");

    let token = [("authorizationToken", "demo-metadata-token")];
    let json = [
        ("authorizationToken", "demo-metadata-token"),
        ("Content-Type", "application/json"),
    ];
    let body = br#"{"x_metadata":"over TLS"}"#;
    let put = https("POST", "/metadata?contactId=tls-1", &json, Some(body));
    assert!((200..300).contains(&put.status), "{put:?}");
    let got = https("GET", "/metadata/tls-1", &token, None);
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.json()["x_metadata"], "over TLS");
    let refused = https("GET", "/metadata/tls-1", &[], None);
    assert_eq!(refused.status, 401, "{refused:?}");

    // Plain HTTP on the HTTPS port: the TLS server sees no ClientHello and answers no HTTP.
    let mut plain = TcpStream::connect(node.http).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply);
    assert!(
        !reply.starts_with(b"HTTP/"),
        "plain HTTP answered: {:?}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn talkdesk_stream_over_wss() {
    let pki = Pki::new();
    let node = Node::start(&pki.https_config());
    let path = stream_path("+15550100", "demo", &demo_token(600), "");
    let mut s = Stream::open_tls(&node, &path, &pki).expect("stream admitted over wss");
    s.start("MZtls");
    // 2 s of tone: the greeting (660 ms) plays first, then the echo.
    s.play(100, tone_frame);
    s.pump(Duration::from_millis(300));
    let sent: HashSet<Vec<u8>> = (0..100).map(tone_frame).collect();
    let media = s.media_payloads();
    let echoed = media.iter().filter(|p| sent.contains(*p)).count();
    assert!(
        echoed >= 40,
        "{echoed} of {} media frames over wss are the caller's tone",
        media.len()
    );
    s.send_stop();
    assert!(s.wait_closed(Duration::from_secs(5)), "closed after stop");
    assert!(
        wait_until(Duration::from_secs(5), || session_records(&node)
            .iter()
            .any(
                |r| r.ingress == IngressKind::Talkdesk && r.call_id == "CA-MZtls"
            )),
        "no session record:\n{}",
        node.log()
    );

    // A bad token is still refused before the upgrade, over TLS too.
    let bad = stream_path("+15550100", "demo", "not-a-jwt", "");
    match Stream::open_tls(&node, &bad, &pki) {
        Err((status, _)) => assert_eq!(status, 401),
        Ok(_) => panic!("a stream with a bad token was admitted"),
    }
}
