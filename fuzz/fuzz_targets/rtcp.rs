#![no_main]
//! RTCP compound parsing and the session's RTCP handling on arbitrary datagrams: must never
//! panic.

use std::net::SocketAddr;
use std::time::{Instant, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use voxgate_engine::rtp::rtcp::{parse_compound, RtcpPacket};
use voxgate_engine::rtp::{RtpSession, SessionConfig};

fuzz_target!(|data: &[u8]| {
    for packet in parse_compound(data) {
        match packet {
            Ok(RtcpPacket::SenderReport(sr)) => sr.report_blocks().for_each(drop),
            Ok(RtcpPacket::ReceiverReport(rr)) => rr.report_blocks().for_each(drop),
            Ok(RtcpPacket::Sdes(sdes)) => sdes.cnames().for_each(drop),
            Ok(RtcpPacket::Bye(bye)) => {
                bye.ssrcs().for_each(drop);
                let _ = bye.reason();
            }
            _ => {}
        }
    }
    let t0 = Instant::now();
    let mut session = RtpSession::with_seed(SessionConfig::new(0, 8000, "fuzz"), t0, UNIX_EPOCH, 0);
    let from: SocketAddr = "10.0.0.1:4001".parse().unwrap();
    let _ = session.handle_rtcp(t0, from, data);
    while session.poll_event().is_some() {}
});
