//! The caller really talks to the builtin bot: a UA written here sends a PCMU call with a
//! 440 Hz tone; what comes back is first the greeting (loud, not our tone), then our own audio,
//! byte for byte (µ-law → L16 → µ-law is lossless), and the RTP stream is continuous (one SSRC,
//! sequence numbers without gaps, timestamps stepping 160).

mod common;
use std::collections::HashSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::Node;
use voxgate_codecs::g711;

fn tone_frame(n: usize) -> Vec<u8> {
    (0..160)
        .map(|i| {
            let t = (n * 160 + i) as f64 / 8000.0;
            let s = (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
            g711::ulaw_encode_sample(s)
        })
        .collect()
}

fn rms(payload: &[u8]) -> f64 {
    let sum: f64 = payload
        .iter()
        .map(|&b| f64::from(g711::ulaw_decode_sample(b)).powi(2))
        .sum();
    (sum / payload.len() as f64).sqrt()
}

#[test]
fn greeting_then_our_own_audio_comes_back() {
    let node = Node::start_default();
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (sip_port, media_port) = (
        sip.local_addr().unwrap().port(),
        media.local_addr().unwrap().port(),
    );
    let invite = format!(
        "INVITE sip:+15550100@{n} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKecho;rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=e1\r\nTo: <sip:+15550100@{n}>\r\nCall-ID: echo-content\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:{sip_port}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\
         c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {media_port} RTP/AVP 0\r\na=ptime:20\r\n",
        n = node.sip
    );
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sip.send_to(invite.as_bytes(), node.sip).unwrap();
    let mut buf = [0u8; 4096];
    let ok = loop {
        let (n, _) = sip.recv_from(&mut buf).expect("200 OK");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
    };
    let to = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .unwrap()
        .to_owned();
    let ack = format!(
        "ACK sip:voxgate@{n} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKack;rport\r\n\
         From: <sip:caller@127.0.0.1>;tag=e1\r\n{to}\r\nCall-ID: echo-content\r\nCSeq: 1 ACK\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        n = node.sip
    );
    sip.send_to(ack.as_bytes(), node.sip).unwrap();
    let port: u16 = ok
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("answer port");

    // Send 150 frames (3 s) paced at 20 ms; between sends, read what comes back. The pacing
    // is the read timeout, not a sleep.
    let mut sent = HashSet::new();
    let mut received: Vec<Vec<u8>> = Vec::new();
    let mut headers: Vec<(u16, u32, u32)> = Vec::new();
    let start = Instant::now();
    let mut next = 0usize;
    let frames = 150;
    while start.elapsed() < Duration::from_millis(frames as u64 * 20 + 1000) {
        let due = start + Duration::from_millis(next as u64 * 20);
        if next < frames && Instant::now() >= due {
            let payload = tone_frame(next);
            let mut pkt = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d];
            pkt[2..4].copy_from_slice(&(next as u16 + 1).to_be_bytes());
            pkt[4..8].copy_from_slice(&(next as u32 * 160).to_be_bytes());
            pkt.extend_from_slice(&payload);
            media.send_to(&pkt, ("127.0.0.1", port)).unwrap();
            sent.insert(payload);
            next += 1;
            continue;
        }
        let wait = due
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        media.set_read_timeout(Some(wait)).unwrap();
        if let Ok((n, _)) = media.recv_from(&mut buf) {
            if n > 12 && buf[1] & 0x7f == 0 {
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                headers.push((seq, ts, ssrc));
                received.push(buf[12..n].to_vec());
            }
        }
    }

    assert!(
        received.len() >= 120,
        "only {} packets came back",
        received.len()
    );
    // The greeting comes first: audible, and not our tone.
    let greeting = &received[..10];
    assert!(
        greeting.iter().all(|p| !sent.contains(p)),
        "the greeting must come first"
    );
    assert!(
        greeting.iter().map(|p| rms(p)).fold(0.0, f64::max) > 1000.0,
        "greeting is silent"
    );
    // Then our own audio, exactly.
    let echoed = received.iter().filter(|p| sent.contains(*p)).count();
    assert!(echoed >= 80, "only {echoed} of our frames came back");
    // One continuous stream: same SSRC, consecutive sequence numbers, 160-step timestamps.
    assert!(headers.windows(2).all(|w| w[0].2 == w[1].2), "SSRC changed");
    for w in headers.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "sequence gap");
        assert_eq!(w[1].1.wrapping_sub(w[0].1) % 160, 0, "timestamp step");
    }
}
