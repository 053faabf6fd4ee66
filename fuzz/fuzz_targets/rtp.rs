#![no_main]
//! RTP parsing and the session receive path on arbitrary datagrams: must never panic.

use std::net::SocketAddr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use voxgate_engine::rtp::{RtpPacket, RtpSession, SessionConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = RtpPacket::parse(data) {
        assert!(p.payload.len() + 12 <= data.len());
    }
    // The same bytes cut into datagrams from two sources, through a session with rtcp-mux
    // (so RTCP demultiplexing is exercised too).
    let mut config = SessionConfig::new(0, 8000, "fuzz");
    config.receive_payload_types = vec![0, 8, 96];
    config.dtmf_payload_type = Some(101);
    config.rtcp_mux = true;
    config.relatch_after = 2;
    config.min_sequential = 1;
    let t0 = Instant::now();
    let mut session = RtpSession::with_seed(config, t0, UNIX_EPOCH, 0);
    let sources: [SocketAddr; 2] = [
        "10.0.0.1:4000".parse().unwrap(),
        "10.0.0.2:4000".parse().unwrap(),
    ];
    let mut now = t0;
    let mut out = [0u8; 1500];
    for (i, chunk) in data.split(|b| *b == 0xff).enumerate() {
        now += Duration::from_millis(7);
        let _ = session.handle_packet(now, sources[i % 5 / 3], chunk);
        session.handle_timeout(now);
        while session.poll_transmit(&mut out).is_some() {}
        while session.poll_event().is_some() {}
    }
    let _ = session.stats();
});
