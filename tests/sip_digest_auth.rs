//! Trunk digest authentication and abuse resistance, against the real node:
//! SIPp answers the challenge (MD5) and gets its call; a raw client with SHA-256 credentials
//! gets its call; every DID, routed or not, gets the same challenge (no number enumeration);
//! repeated wrong passwords get the source throttled (403); a flooding source is answered 503
//! while another source keeps calling; known scanners get no answer at all.

mod common;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{wait_until, Node, Sipp, DEFAULT_TOML};
use voxgate_engine::auth::digest::{parse_credentials, Algorithm, ClientDigest};

/// The default config with one trunk that demands digest credentials and routes one DID only.
fn auth_config(algorithms: &str) -> String {
    DEFAULT_TOML
        .replace("did = \"*\"", "did = \"+15550100\"")
        .replace(
            "# DID routes: the Request-URI",
            &format!(
                "[trunks.auth]\nrealm = \"voxgate-test\"\nalgorithms = {algorithms}\n\
                 [trunks.auth.users]\nzoom = \"s3cret\"\n\n# DID routes: the Request-URI"
            ),
        )
        .replace(
            "auth_failures_per_window = 10",
            "auth_failures_per_window = 3",
        )
        .replace("exempt = [\"127.0.0.0/8\", \"::1/128\"]", "exempt = []")
}

fn invite(did: &str, call_id: &str, cseq: u32, local: SocketAddr, auth: Option<&str>) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:{did}@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}x{cseq};rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=f{call_id}\r\nTo: <sip:{did}@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nMax-Forwards: 70\r\n\
         Contact: <sip:caller@{local}>\r\n{auth}\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// Sends `msg` and returns the first final response (1xx skipped), if one comes in 5 s.
fn final_response(sock: &UdpSocket, target: SocketAddr, msg: &str) -> Option<String> {
    sock.send_to(msg.as_bytes(), target).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 65535];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("SIP/2.0 1") {
                return Some(text);
            }
        }
    }
    None
}

fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn header_values<'a>(resp: &'a str, name: &str) -> Vec<&'a str> {
    resp.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

/// The `Authorization` value answering `challenge` for `password`.
fn authorization(challenge: &str, did: &str, password: &str) -> String {
    // The challenge has the same parameter syntax as credentials.
    let c = parse_credentials(&format!(
        "{challenge}, username=\"x\", uri=\"x\", response=\"x\""
    ))
    .expect("challenge parses");
    let algorithm = match c.algorithm.as_deref() {
        Some("SHA-256") => Algorithm::Sha256,
        _ => Algorithm::Md5,
    };
    let uri = format!("sip:{did}@127.0.0.1");
    let response = ClientDigest {
        algorithm,
        username: "zoom",
        realm: &c.realm,
        password,
        method: "INVITE",
        uri: &uri,
        nonce: &c.nonce,
        qop_auth: Some(("00000001", "c0ffee")),
    }
    .response();
    format!(
        "Digest username=\"zoom\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"c0ffee\"",
        c.realm,
        c.nonce,
        algorithm.token()
    )
}

#[test]
fn sipp_answers_the_md5_challenge_and_gets_its_call() {
    let node = Node::start(&auth_config("[\"MD5\"]"));
    Sipp::new("uac_auth_call.xml", node.sip)
        .arg("-au")
        .arg("zoom")
        .arg("-ap")
        .arg("s3cret")
        .run_ok();
    assert_eq!(node.metric("voxgate_sip_auth_total{result=\"ok\"}"), 1.0);
    assert!(wait_until(Duration::from_secs(5), || {
        common::session_records(&node).len() == 1
    }));
}

#[test]
fn sha256_challenge_first_same_answer_for_every_did_and_valid_credentials_pass() {
    let node = Node::start(&auth_config("[\"SHA-256\", \"MD5\"]"));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = sock.local_addr().unwrap();

    // A routed and an unrouted DID: the same 401, the same challenge shape.
    let routed = final_response(&sock, node.sip, &invite("+15550100", "a1", 1, local, None))
        .expect("401 for the routed DID");
    let unrouted = final_response(&sock, node.sip, &invite("+15559999", "a2", 1, local, None))
        .expect("401 for the unrouted DID");
    for r in [&routed, &unrouted] {
        assert_eq!(status(r), 401, "{r}");
        let ch = header_values(r, "WWW-Authenticate");
        assert_eq!(ch.len(), 2, "{r}");
        assert!(ch[0].contains("algorithm=SHA-256"), "{r}");
        assert!(ch[1].contains("algorithm=MD5"), "{r}");
        assert!(ch[0].contains("realm=\"voxgate-test\""), "{r}");
    }

    // The right password with SHA-256: the call is answered.
    let challenge = header_values(&routed, "WWW-Authenticate")[0].to_owned();
    let auth = authorization(&challenge, "+15550100", "s3cret");
    let ok = final_response(
        &sock,
        node.sip,
        &invite("+15550100", "a3", 2, local, Some(&auth)),
    )
    .expect("answer to the authenticated INVITE");
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(node.metric("voxgate_sip_auth_total{result=\"ok\"}"), 1.0);

    // The same credentials in a new INVITE (a captured request played again) are a replay:
    // a fresh challenge with stale=true, and no second call.
    let replay = final_response(
        &sock,
        node.sip,
        &invite("+15550100", "a4", 3, local, Some(&auth)),
    )
    .expect("answer to the replayed INVITE");
    assert_eq!(status(&replay), 401, "{replay}");
    assert!(
        header_values(&replay, "WWW-Authenticate")[0].ends_with("stale=true"),
        "{replay}"
    );
    assert_eq!(
        node.metric("voxgate_sip_auth_total{result=\"replay\"}"),
        1.0
    );
    assert_eq!(node.metric("voxgate_sip_auth_total{result=\"ok\"}"), 1.0);
}

#[test]
fn wrong_passwords_get_the_source_throttled() {
    let node = Node::start(&auth_config("[\"SHA-256\"]"));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = sock.local_addr().unwrap();
    let first = final_response(&sock, node.sip, &invite("+15550100", "b0", 1, local, None))
        .expect("challenge");
    let challenge = header_values(&first, "WWW-Authenticate")[0].to_owned();
    let mut statuses = Vec::new();
    for i in 1..=5 {
        let auth = authorization(&challenge, "+15550100", &format!("guess{i}"));
        let call_id = format!("b{i}");
        let r = final_response(
            &sock,
            node.sip,
            &invite("+15550100", &call_id, 1, local, Some(&auth)),
        )
        .expect("answer");
        statuses.push(status(&r));
    }
    // Three failures are allowed per window (each re-challenged), then 403.
    assert_eq!(statuses, vec![401, 401, 401, 403, 403]);
    // Even the right password is refused while the source is throttled.
    let auth = authorization(&challenge, "+15550100", "s3cret");
    let r = final_response(
        &sock,
        node.sip,
        &invite("+15550100", "b9", 1, local, Some(&auth)),
    )
    .expect("answer");
    assert_eq!(status(&r), 403);
    // Four wrong answers were checked; the rest were refused unchecked.
    assert_eq!(
        node.metric("voxgate_sip_auth_total{result=\"failed\"}"),
        4.0
    );
    assert_eq!(
        node.metric("voxgate_sip_requests_screened_total{reason=\"auth_blocked\"}"),
        2.0
    );
}

#[test]
fn a_flooding_source_gets_503_while_another_keeps_calling() {
    let config = DEFAULT_TOML
        .replace("requests_per_window = 400", "requests_per_window = 20")
        .replace("window_secs = 2\n", "window_secs = 10\n")
        .replace("exempt = [\"127.0.0.0/8\", \"::1/128\"]", "exempt = []");
    let node = Node::start(&config);
    // The flooder speaks from 127.0.0.2, the legitimate caller (SIPp) from 127.0.0.1.
    let flooder = UdpSocket::bind("127.0.0.2:0").unwrap();
    flooder
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut ok = 0;
    let mut busy = 0;
    let mut buf = vec![0u8; 65535];
    for i in 0..40 {
        let msg = format!(
            "OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:9;branch=z9hG4bKfl{i};rport\r\n\
             From: <sip:f@127.0.0.2>;tag=1\r\nTo: <sip:p@127.0.0.1>\r\nCall-ID: flood{i}\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        flooder.send_to(msg.as_bytes(), node.sip).unwrap();
        if let Ok((n, _)) = flooder.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            match status(&text) {
                200 => ok += 1,
                503 => {
                    assert!(text.contains("Retry-After:"), "{text}");
                    busy += 1
                }
                s => panic!("unexpected {s}: {text}"),
            }
        }
    }
    assert_eq!((ok, busy), (20, 20));
    // A call from another address goes through meanwhile.
    Sipp::new("uac_call.xml", node.sip).run_ok();
    assert_eq!(
        node.metric("voxgate_sip_requests_screened_total{reason=\"flood\"}"),
        20.0
    );
}

#[test]
fn known_scanners_get_no_answer() {
    let node = Node::start_default();
    let probe = |n: u32, ua: &str| {
        format!(
            "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKsc{n};rport\r\n\
             From: <sip:100@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: scan{n}\r\n\
             CSeq: 1 OPTIONS\r\n{ua}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(
        probe(1, "User-Agent: friendly-scanner\r\n").as_bytes(),
        node.sip,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        node.metric("voxgate_sip_requests_screened_total{reason=\"scanner\"}") == 1.0
    }));
    // The same probe without the scanner's User-Agent is answered, and that answer is the
    // first datagram this socket gets: the scanner's probe got none.
    sock.send_to(probe(2, "").as_bytes(), node.sip).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = sock.recv_from(&mut buf).expect("answer to a plain OPTIONS");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("SIP/2.0 200"), "{text}");
    assert!(text.contains("Call-ID: scan2"), "{text}");
}
