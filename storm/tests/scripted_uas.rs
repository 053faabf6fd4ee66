//! The storm against a UAS scripted here over real UDP sockets, to pin the UAC duties a node
//! does not exercise on demand: a retransmitted 200 OK is acknowledged again, the UAS's BYE is
//! answered 200 and judged by its reason header, and the echoed frames are checked by content.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use voxgate_engine::sip::message::{parse, HeaderName, Limits, Method, SipMessage};
use voxgate_storm::{run, Codec, Law, Mode, Options, Transport};

/// What the scripted UAS saw.
#[derive(Default)]
struct Seen {
    acks: HashMap<String, usize>,
    byes_answered: usize,
    ok_to_our_bye: usize,
}

/// A UAS that answers every INVITE with 200 (sent twice: the second one a retransmission),
/// echoes RTP, ends escalating calls (a telephone-event arrives) with a BYE carrying
/// `reason`, and answers BYE with 200.
fn scripted_uas(reason: &'static str, stop: Arc<AtomicBool>) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    sip.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let addr = sip.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let seen2 = Arc::clone(&seen);
    thread::spawn(move || {
        // Call-ID → (the 200 OK bytes, the caller's SIP address, the caller's From/To/Via).
        let mut calls: HashMap<String, (Vec<u8>, SocketAddr, String, String)> = HashMap::new();
        let mut byes_sent: HashMap<String, bool> = HashMap::new();
        // One RTP socket per call, as a node has.
        let mut media: Vec<(UdpSocket, String)> = Vec::new();
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            // Media: echo everything; a telephone-event (PT 101) asks for the escalation BYE.
            for (rtp, id) in &media {
                while let Ok((n, from)) = rtp.recv_from(&mut buf) {
                    if buf[1] & 0x7f != 101 {
                        rtp.send_to(&buf[..n], from).unwrap();
                        continue;
                    }
                    if byes_sent.insert(id.clone(), true).is_some() {
                        continue;
                    }
                    let (_, caller, from_hdr, to_hdr) = &calls[id];
                    let bye = format!(
                        "BYE sip:storm@{caller} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKuas{id}\r\n\
                         From: {to_hdr}\r\nTo: {from_hdr}\r\nCall-ID: {id}\r\nCSeq: 1 BYE\r\n\
                         kore-reason: {reason}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                    );
                    sip.send_to(bye.as_bytes(), caller).unwrap();
                }
            }
            let Ok((n, from)) = sip.recv_from(&mut buf) else {
                continue;
            };
            match parse(&buf[..n], &Limits::DEFAULT).unwrap() {
                SipMessage::Request(req) if req.method == Method::Invite => {
                    let id = req.call_id().unwrap().to_owned();
                    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
                    rtp.set_nonblocking(true).unwrap();
                    let rtp_port = rtp.local_addr().unwrap().port();
                    media.push((rtp, id.clone()));
                    let mut ok = req.response(200, "OK", Some("uas"));
                    ok.headers
                        .push(HeaderName::Contact, format!("<sip:uas@{addr}>"));
                    ok.headers.push(HeaderName::ContentType, "application/sdp");
                    ok.body = format!(
                        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
                         a=rtcp-mux\r\n"
                    )
                    .into_bytes();
                    let bytes = ok.to_bytes();
                    sip.send_to(&bytes, from).unwrap();
                    let from_hdr = req.headers.get(&HeaderName::From).unwrap().to_owned();
                    let to_hdr = ok.headers.get(&HeaderName::To).unwrap().to_owned();
                    calls.insert(id, (bytes, from, from_hdr, to_hdr));
                }
                SipMessage::Request(req) if req.method == Method::Ack => {
                    let id = req.call_id().unwrap().to_owned();
                    let mut seen = seen2.lock().unwrap();
                    let acks = seen.acks.entry(id.clone()).or_default();
                    *acks += 1;
                    if *acks == 1 {
                        // Pretend the ACK was lost: the 200 goes out again.
                        sip.send_to(&calls[&id].0, from).unwrap();
                    }
                }
                SipMessage::Request(req) if req.method == Method::Bye => {
                    let ok = req.response(200, "OK", None);
                    sip.send_to(&ok.to_bytes(), from).unwrap();
                    seen2.lock().unwrap().byes_answered += 1;
                }
                SipMessage::Response(resp) if resp.cseq().unwrap().method == Method::Bye => {
                    seen2.lock().unwrap().ok_to_our_bye += usize::from(resp.status == 200);
                }
                _ => {}
            }
        }
    });
    (addr, seen)
}

fn options(target: SocketAddr, escalate_share: f64) -> Options {
    Options {
        mode: Mode::Sip,
        target,
        transport: Transport::Udp,
        max_concurrent: 4,
        rate: 20.0,
        duration: Duration::from_secs(2),
        total: Some(2),
        hold: Duration::from_millis(600),
        escalate_share,
        codec: Codec::G711(Law::Ulaw),
        did: "+15550100".into(),
        local_ip: "127.0.0.1".parse().unwrap(),
        setup_timeout: Duration::from_secs(5),
        reason_header: "kore-reason".into(),
        escalate_reason: "TransferToAgent".into(),
        node_pid: None,
        echo_target: Vec::new(),
        echo_pid: None,
        progress: false,
    }
}

#[test]
fn retransmitted_200_is_acked_again_and_both_byes_are_handled() {
    let stop = Arc::new(AtomicBool::new(false));
    let (uas, seen) = scripted_uas("TransferToAgent", Arc::clone(&stop));
    let report = run(options(uas, 0.5)).expect("storm runs");
    // The storm is done once it has sent its 200 to the UAS's BYE; give the UAS thread a
    // moment to read it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.lock().unwrap().ok_to_our_bye == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);

    assert_eq!(report.succeeded, 2, "{report:#?}");
    assert_eq!((report.hung_up, report.escalated), (1, 1));
    assert_eq!(report.rtp.foreign, 0);
    // The UAS echoes from the first packet on: most of 600 ms of frames come back.
    assert!(report.rtp.echoed >= 2 * 20, "{report:#?}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.acks.len(), 2);
    assert!(
        seen.acks.values().all(|&n| n == 2),
        "each 200 (and its retransmission) is acknowledged: {:?}",
        seen.acks
    );
    assert_eq!(seen.byes_answered, 1, "the hanging-up call sends one BYE");
    assert_eq!(seen.ok_to_our_bye, 1, "the UAS's BYE is answered 200");
}

#[test]
fn a_wrong_bye_reason_fails_the_escalating_call() {
    let stop = Arc::new(AtomicBool::new(false));
    let (uas, _seen) = scripted_uas("HangUp", Arc::clone(&stop));
    let report = run(options(uas, 1.0)).expect("storm runs");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(report.succeeded, 0);
    assert_eq!(
        report.failures.get("wrong_bye_reason"),
        Some(&2),
        "{report:#?}"
    );
}
