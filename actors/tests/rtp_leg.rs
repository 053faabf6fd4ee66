//! The RTP leg against a peer on real loopback sockets: receive path with reordering and loss,
//! sending with marks, Clear, DTMF in, the inactivity timeout, latching, RTCP and hold; SRTP
//! both ways with forged and plain packets dropped.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::net::UdpSocket;
use voxgate_actors::calls::messages::{
    AudioFrame, Clear, Dtmf, ExitCause, LegExited, Mark, MarkPlayed, StopLeg,
};
use voxgate_actors::calls::transcoder::Downstream;
use voxgate_actors::media::{
    bind_rtp_pair, DirectBot, FrameRing, MediaStats, RtpLeg, RtpLegConfig, RtpLegOwner, RtpPair,
    UpdateMedia,
};
use voxgate_codecs::{AudioFormat, EncodedFrame};
use voxgate_engine::config::PortRange;
use voxgate_engine::rtp::srtp::SrtpTransform;
use voxgate_engine::rtp::{RtpHeader, RtpPacket};
use voxgate_engine::sdp::{
    CodecKind, CryptoSuite, Direction, MasterKey, NegotiatedCodec, NegotiatedMedia, SrtpKeys,
    TelephoneEvent, KEY_MATERIAL_LEN,
};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PORTS: PortRange = PortRange {
    lo: 41_000,
    hi: 48_999,
};

/// What the fake owner received, with arrival times.
#[derive(Default)]
struct Seen {
    frames: Vec<(Instant, EncodedFrame)>,
    dtmf: Vec<Dtmf>,
    marks: Vec<(Instant, String)>,
    stats: Option<MediaStats>,
    exited: Option<LegExited>,
    /// Order of the end messages: `stats` and `exited`.
    ends: Vec<&'static str>,
    downstream: Vec<EncodedFrame>,
}

type Shared = Arc<Mutex<Seen>>;

struct Owner(Shared);

impl Actor for Owner {
    type Context = Context<Self>;
}

impl Handler<AudioFrame> for Owner {
    type Result = ();
    fn handle(&mut self, AudioFrame(f): AudioFrame, _: &mut Context<Self>) {
        self.0.lock().unwrap().frames.push((Instant::now(), f));
    }
}

/// Stands in for the transcoder's bot-side input in the direct-bot test.
impl Handler<Downstream> for Owner {
    type Result = ();
    fn handle(&mut self, Downstream(AudioFrame(f)): Downstream, _: &mut Context<Self>) {
        self.0.lock().unwrap().downstream.push(f);
    }
}

impl Handler<Dtmf> for Owner {
    type Result = ();
    fn handle(&mut self, d: Dtmf, _: &mut Context<Self>) {
        self.0.lock().unwrap().dtmf.push(d);
    }
}

impl Handler<MarkPlayed> for Owner {
    type Result = ();
    fn handle(&mut self, MarkPlayed(m): MarkPlayed, _: &mut Context<Self>) {
        self.0.lock().unwrap().marks.push((Instant::now(), m));
    }
}

impl Handler<MediaStats> for Owner {
    type Result = ();
    fn handle(&mut self, s: MediaStats, _: &mut Context<Self>) {
        let mut seen = self.0.lock().unwrap();
        seen.stats = Some(s);
        seen.ends.push("stats");
    }
}

impl Handler<LegExited> for Owner {
    type Result = ();
    fn handle(&mut self, e: LegExited, _: &mut Context<Self>) {
        let mut seen = self.0.lock().unwrap();
        seen.exited = Some(e);
        seen.ends.push("exited");
    }
}

/// RTP packets the peer received, with arrival times.
#[derive(Default)]
struct PeerLog {
    rtp: Vec<(Instant, SocketAddr, Vec<u8>)>,
    rtcp: Vec<Vec<u8>>,
}

struct Peer {
    pair: RtpPair,
    log: Arc<Mutex<PeerLog>>,
}

impl Peer {
    fn new() -> Arc<Peer> {
        let pair = bind_rtp_pair(PORTS, LOCALHOST).expect("a free port pair");
        let peer = Arc::new(Peer {
            pair,
            log: Arc::default(),
        });
        let p = Arc::clone(&peer);
        actix_rt::spawn(async move {
            let mut buf = [0u8; 2048];
            let mut rtcp_buf = [0u8; 2048];
            loop {
                tokio::select! {
                    r = p.pair.rtp.recv_from(&mut buf) => {
                        let Ok((n, from)) = r else { continue };
                        p.log.lock().unwrap().rtp.push((Instant::now(), from, buf[..n].to_vec()));
                    }
                    r = p.pair.rtcp.recv_from(&mut rtcp_buf) => {
                        let Ok((n, _)) = r else { continue };
                        p.log.lock().unwrap().rtcp.push(rtcp_buf[..n].to_vec());
                    }
                }
            }
        });
        peer
    }

    fn addr(&self) -> SocketAddr {
        self.pair.rtp.local_addr().unwrap()
    }

    fn rtp_count(&self) -> usize {
        self.log.lock().unwrap().rtp.len()
    }

    async fn send(&self, to: SocketAddr, pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) {
        let mut out = [0u8; 1600];
        let header = RtpHeader {
            payload_type: pt,
            marker,
            sequence: seq,
            timestamp: ts,
            ssrc: 0x1234_5678,
        };
        let len = header.build(payload, &mut out).unwrap();
        self.pair.rtp.send_to(&out[..len], to).await.unwrap();
    }
}

fn media(remote: SocketAddr) -> NegotiatedMedia {
    NegotiatedMedia {
        media_index: 0,
        codec: NegotiatedCodec {
            kind: CodecKind::Pcmu,
            payload_type: 0,
            clock_rate: 8000,
            channels: 1,
            fmtp: None,
        },
        telephone_event: Some(TelephoneEvent {
            payload_type: 101,
            clock_rate: 8000,
            fmtp: Some("0-16".into()),
        }),
        remote_rtp: Some(remote),
        ptime: 20,
        direction: Direction::SendRecv,
        rtcp_mux: false,
        srtp: None,
    }
}

struct Harness {
    leg: Addr<RtpLeg>,
    leg_rtp: SocketAddr,
    leg_rtcp: SocketAddr,
    seen: Shared,
}

fn start_leg(config: RtpLegConfig) -> Harness {
    let pair = bind_rtp_pair(PORTS, LOCALHOST).expect("a free port pair");
    let leg_rtp = pair.rtp.local_addr().unwrap();
    let leg_rtcp = pair.rtcp.local_addr().unwrap();
    let seen = Shared::default();
    let owner = Owner(Arc::clone(&seen)).start();
    let leg = RtpLeg::new(
        pair,
        config,
        RtpLegOwner {
            frames: owner.clone().recipient(),
            dtmf: owner.clone().recipient(),
            marks: owner.clone().recipient(),
            stats: owner.clone().recipient(),
            exited: owner.recipient(),
        },
    )
    .start();
    Harness {
        leg,
        leg_rtp,
        leg_rtcp,
        seen,
    }
}

impl Harness {
    /// Whether what the owner saw meets `cond` within `within`.
    async fn seen_within(&self, within: Duration, cond: impl Fn(&Seen) -> bool) -> bool {
        wait_until(within, || cond(&self.seen.lock().unwrap())).await
    }
}

/// Polls `cond` every 5 ms until it holds or `within` has passed; returns whether it held.
async fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn pcmu(fill: u8) -> AudioFrame {
    AudioFrame(EncodedFrame::from_bytes(AudioFormat::Pcmu, &[fill; 160]).unwrap())
}

#[actix::test]
async fn receive_reorders_and_conceals_at_frame_cadence() {
    let peer = Peer::new();
    let h = start_leg(RtpLegConfig::new(media(peer.addr()), "leg@test"));
    // Sequence 11 arrives before 10 (in the same slot), 30 never arrives.
    let mut order: Vec<u16> = (0..50).filter(|&s| s != 30).collect();
    order.swap(10, 11);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let mut i = 0;
    while i < order.len() {
        ticker.tick().await;
        let burst = if order[i] == 11 { 2 } else { 1 };
        for &seq in &order[i..i + burst] {
            let ts = u32::from(seq) * 160;
            peer.send(h.leg_rtp, 0, seq == 0, seq, ts, &[seq as u8; 160])
                .await;
        }
        i += burst;
    }
    let seen = Arc::clone(&h.seen);
    assert!(
        wait_until(Duration::from_secs(3), || seen.lock().unwrap().frames.len()
            >= 50)
        .await,
        "owner got {} frames",
        seen.lock().unwrap().frames.len()
    );
    let seen = h.seen.lock().unwrap();
    let ids: Vec<Option<u8>> = seen
        .frames
        .iter()
        .map(|(_, f)| (!f.bytes().is_empty()).then(|| f.bytes()[0]))
        .collect();
    let expected: Vec<Option<u8>> = (0..50u8).map(|s| (s != 30).then_some(s)).collect();
    assert_eq!(ids, expected);
    assert!(seen
        .frames
        .iter()
        .all(|(_, f)| f.format() == AudioFormat::Pcmu));
    let first = seen.frames[0].0;
    let last = seen.frames[49].0;
    let mean = (last - first) / 49;
    assert!(
        (Duration::from_millis(17)..=Duration::from_millis(25)).contains(&mean),
        "mean frame interval {mean:?}"
    );
}

#[actix::test]
async fn sends_queued_frames_and_answers_the_mark() {
    let peer = Peer::new();
    let h = start_leg(RtpLegConfig::new(media(peer.addr()), "leg@test"));
    for i in 0..25u8 {
        h.leg.do_send(pcmu(i));
    }
    h.leg.do_send(Mark("end-of-prompt".into()));
    assert!(
        h.seen_within(Duration::from_secs(3), |s| !s.marks.is_empty())
            .await
    );
    // Packets in flight on loopback land within a few ms.
    let p = Arc::clone(&peer);
    assert!(wait_until(Duration::from_secs(1), || p.rtp_count() >= 25).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = peer.log.lock().unwrap();
    assert_eq!(log.rtp.len(), 25, "no packet beyond the queued frames");
    let packets: Vec<RtpPacket<'_>> = log
        .rtp
        .iter()
        .map(|(_, from, b)| {
            assert_eq!(*from, h.leg_rtp);
            RtpPacket::parse(b).unwrap()
        })
        .collect();
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.payload_type, 0);
        assert_eq!(p.payload, &[i as u8; 160][..]);
        assert_eq!(p.marker, i == 0, "marker only on the first packet");
        assert_eq!(p.ssrc, packets[0].ssrc);
        assert_eq!(p.sequence, packets[0].sequence.wrapping_add(i as u16));
        assert_eq!(
            p.timestamp,
            packets[0].timestamp.wrapping_add(160 * i as u32)
        );
    }
    let seen = h.seen.lock().unwrap();
    assert_eq!(seen.marks.len(), 1);
    let (mark_at, name) = &seen.marks[0];
    assert_eq!(name, "end-of-prompt");
    // Answered on the tick that sent the 25th packet: after the 24th arrived, near the 25th.
    assert!(*mark_at > log.rtp[23].0, "mark before the 24th packet");
    let gap = if *mark_at > log.rtp[24].0 {
        *mark_at - log.rtp[24].0
    } else {
        log.rtp[24].0 - *mark_at
    };
    assert!(
        gap < Duration::from_millis(15),
        "mark {gap:?} away from the 25th packet"
    );
}

#[actix::test]
async fn clear_stops_queued_audio_at_once() {
    let peer = Peer::new();
    let h = start_leg(RtpLegConfig::new(media(peer.addr()), "leg@test"));
    for i in 0..100u8 {
        h.leg.do_send(pcmu(i));
    }
    h.leg.do_send(Mark("never-played".into()));
    let p = Arc::clone(&peer);
    assert!(wait_until(Duration::from_secs(3), || p.rtp_count() >= 5).await);
    h.leg.do_send(Clear);
    let at_clear = peer.rtp_count();
    // The pending mark is answered as played by the Clear.
    assert!(
        h.seen_within(Duration::from_secs(1), |s| !s.marks.is_empty())
            .await
    );
    let p = Arc::clone(&peer);
    let more = wait_until(Duration::from_millis(300), || p.rtp_count() > at_clear + 2).await;
    assert!(!more, "{} packets after Clear", peer.rtp_count() - at_clear);
    // New audio after the Clear starts a talkspurt.
    let before = peer.rtp_count();
    h.leg.do_send(pcmu(200));
    let p = Arc::clone(&peer);
    assert!(wait_until(Duration::from_secs(1), || p.rtp_count() > before).await);
    let log = peer.log.lock().unwrap();
    let pkt = RtpPacket::parse(&log.rtp[before].2).unwrap();
    assert_eq!(pkt.payload[0], 200);
    assert!(pkt.marker);
}

#[actix::test]
async fn dtmf_key_press_is_reported_once() {
    let peer = Peer::new();
    let h = start_leg(RtpLegConfig::new(media(peer.addr()), "leg@test"));
    // Digit 0: start (marker), two updates, three end packets; all at timestamp 8000.
    let event = |end: bool, duration: u16| {
        let d = duration.to_be_bytes();
        [0u8, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
    };
    let packets = [
        (true, event(false, 160)),
        (false, event(false, 320)),
        (false, event(false, 480)),
        (false, event(true, 800)),
        (false, event(true, 800)),
        (false, event(true, 800)),
    ];
    for (i, (marker, payload)) in packets.iter().enumerate() {
        peer.send(h.leg_rtp, 101, *marker, 100 + i as u16, 8000, payload)
            .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        h.seen_within(Duration::from_secs(2), |s| !s.dtmf.is_empty())
            .await
    );
    // Long enough for an overdue-end report or a late duplicate to show up.
    let seen = Arc::clone(&h.seen);
    let twice = wait_until(Duration::from_millis(800), || {
        seen.lock().unwrap().dtmf.len() > 1
    })
    .await;
    assert!(!twice);
    let seen = h.seen.lock().unwrap();
    assert_eq!(
        seen.dtmf,
        vec![Dtmf {
            digit: '0',
            duration_ms: 100
        }]
    );
}

#[actix::test]
async fn media_timeout_ends_the_leg_with_stats() {
    let peer = Peer::new();
    let mut config = RtpLegConfig::new(media(peer.addr()), "leg@test");
    config.inactivity_timeout = Duration::from_millis(300);
    let h = start_leg(config);
    for seq in 0..5u16 {
        peer.send(
            h.leg_rtp,
            0,
            seq == 0,
            seq,
            u32::from(seq) * 160,
            &[0xff; 160],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        h.seen_within(Duration::from_secs(3), |s| s.exited.is_some())
            .await
    );
    {
        let seen = h.seen.lock().unwrap();
        assert_eq!(
            seen.exited.as_ref().unwrap().cause,
            ExitCause::Failed("media timeout".into())
        );
        assert_eq!(seen.ends, ["stats", "exited"]);
        let stats = seen.stats.as_ref().unwrap();
        assert_eq!(stats.packets_received, 5);
        assert_eq!(stats.octets_received, 800);
        assert_eq!(stats.codec, "PCMU");
        assert_eq!(stats.remote, Some(peer.addr()));
    }
    // It ended on its clock, outside any handler: the actor stops all the same.
    assert!(wait_until(Duration::from_secs(3), || !h.leg.connected()).await);
}

#[actix::test]
async fn latches_to_the_source_actually_seen() {
    let dead = {
        let s = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        s.local_addr().unwrap()
    };
    let peer = Peer::new();
    let h = start_leg(RtpLegConfig::new(media(dead), "leg@test"));
    for seq in 0..3u16 {
        peer.send(
            h.leg_rtp,
            0,
            seq == 0,
            seq,
            u32::from(seq) * 160,
            &[0x7f; 160],
        )
        .await;
    }
    assert!(
        h.seen_within(Duration::from_secs(2), |s| !s.frames.is_empty())
            .await
    );
    for i in 0..5u8 {
        h.leg.do_send(pcmu(i));
    }
    let p = Arc::clone(&peer);
    assert!(
        wait_until(Duration::from_secs(2), || p.rtp_count() >= 5).await,
        "the peer got {} packets",
        peer.rtp_count()
    );
    h.leg.do_send(StopLeg);
    assert!(
        h.seen_within(Duration::from_secs(2), |s| s.exited.is_some())
            .await
    );
    let seen = h.seen.lock().unwrap();
    assert_eq!(
        seen.exited.as_ref().unwrap().cause,
        ExitCause::Normal("stopped".into())
    );
    let stats = seen.stats.as_ref().unwrap();
    assert_eq!(stats.remote, Some(peer.addr()));
    assert_eq!(stats.packets_sent, 5);
}

/// RTCP packet types in a compound packet.
fn rtcp_types(mut b: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while b.len() >= 4 {
        types.push(b[1]);
        let len = (usize::from(u16::from_be_bytes([b[2], b[3]])) + 1) * 4;
        b = &b[len.min(b.len())..];
    }
    types
}

#[actix::test]
async fn sends_sender_reports_and_a_bye() {
    let peer = Peer::new();
    let mut config = RtpLegConfig::new(media(peer.addr()), "leg@test");
    config.rtcp_interval = Duration::from_millis(500);
    let h = start_leg(config);
    for i in 0..100u8 {
        h.leg.do_send(pcmu(i));
    }
    let p = Arc::clone(&peer);
    let sr = wait_until(Duration::from_secs(2), || {
        p.log
            .lock()
            .unwrap()
            .rtcp
            .iter()
            .any(|c| rtcp_types(c).first() == Some(&200))
    })
    .await;
    assert!(sr, "no SR within 2 s");
    h.leg.do_send(StopLeg);
    let p = Arc::clone(&peer);
    let bye = wait_until(Duration::from_secs(2), || {
        p.log
            .lock()
            .unwrap()
            .rtcp
            .iter()
            .any(|c| rtcp_types(c).contains(&203))
    })
    .await;
    assert!(bye, "no RTCP BYE after StopLeg");
    assert_ne!(h.leg_rtcp, h.leg_rtp);
}

#[actix::test]
async fn hold_stops_audio_and_unhold_resumes_with_a_marker() {
    let peer = Peer::new();
    let mut config = RtpLegConfig::new(media(peer.addr()), "leg@test");
    config.inactivity_timeout = Duration::from_millis(200);
    let h = start_leg(config.clone());
    // The peer holds us (a=sendonly): our direction becomes recvonly... then inactive.
    let mut held = config.media.clone();
    held.direction = Direction::Inactive;
    h.leg.do_send(UpdateMedia(held));
    for i in 0..10u8 {
        h.leg.do_send(pcmu(i));
    }
    h.leg.do_send(Mark("held".into()));
    // Queued frames are discarded as they come due while held; the mark still gets answered.
    assert!(
        h.seen_within(Duration::from_secs(2), |s| !s.marks.is_empty())
            .await
    );
    assert_eq!(peer.rtp_count(), 0);
    // No media for longer than the timeout while inactive: the leg lives on.
    let seen = Arc::clone(&h.seen);
    let exited = wait_until(Duration::from_millis(400), || {
        seen.lock().unwrap().exited.is_some()
    })
    .await;
    assert!(!exited, "inactivity timeout fired on hold");
    h.leg.do_send(UpdateMedia(config.media.clone()));
    for i in 0..3u8 {
        h.leg.do_send(pcmu(i));
    }
    let p = Arc::clone(&peer);
    assert!(wait_until(Duration::from_secs(2), || p.rtp_count() >= 3).await);
    let log = peer.log.lock().unwrap();
    assert!(RtpPacket::parse(&log.rtp[0].2).unwrap().marker);
}

#[actix::test]
async fn sends_dtmf_as_rfc4733_events() {
    let peer = Peer::new();
    let h = start_leg(RtpLegConfig::new(media(peer.addr()), "leg@test"));
    h.leg.do_send(Dtmf {
        digit: '5',
        duration_ms: 100,
    });
    // Start, updates, three end packets: at least 5 packets of one event.
    let p = Arc::clone(&peer);
    let ended = wait_until(Duration::from_secs(2), || {
        p.log
            .lock()
            .unwrap()
            .rtp
            .iter()
            .filter(|(_, _, b)| RtpPacket::parse(b).is_ok_and(|p| p.payload[1] & 0x80 != 0))
            .count()
            >= 3
    })
    .await;
    assert!(ended, "three end packets");
    let log = peer.log.lock().unwrap();
    let events: Vec<RtpPacket<'_>> = log
        .rtp
        .iter()
        .map(|(_, _, b)| RtpPacket::parse(b).unwrap())
        .collect();
    assert!(events.len() >= 5);
    assert!(events[0].marker);
    for e in &events {
        assert_eq!(e.payload_type, 101);
        assert_eq!(e.payload[0], 5);
        assert_eq!(e.timestamp, events[0].timestamp);
    }
    let last = events.last().unwrap().payload;
    assert_eq!(u16::from_be_bytes([last[2], last[3]]), 800);
}

#[actix::test]
async fn codec_change_starts_a_new_stream() {
    let peer = Peer::new();
    let config = RtpLegConfig::new(media(peer.addr()), "leg@test");
    let h = start_leg(config.clone());
    h.leg.do_send(pcmu(1));
    let p = Arc::clone(&peer);
    assert!(wait_until(Duration::from_secs(2), || p.rtp_count() >= 1).await);
    let mut pcma = config.media.clone();
    pcma.codec = NegotiatedCodec {
        kind: CodecKind::Pcma,
        payload_type: 8,
        clock_rate: 8000,
        channels: 1,
        fmtp: None,
    };
    h.leg.do_send(UpdateMedia(pcma));
    // A PCMU frame in flight is not played as PCMA.
    h.leg.do_send(pcmu(2));
    h.leg.do_send(AudioFrame(
        EncodedFrame::from_bytes(AudioFormat::Pcma, &[3; 160]).unwrap(),
    ));
    let p = Arc::clone(&peer);
    assert!(wait_until(Duration::from_secs(2), || p.rtp_count() >= 2).await);
    let p = Arc::clone(&peer);
    assert!(!wait_until(Duration::from_millis(100), || p.rtp_count() > 2).await);
    {
        let log = peer.log.lock().unwrap();
        let first = RtpPacket::parse(&log.rtp[0].2).unwrap();
        let second = RtpPacket::parse(&log.rtp[1].2).unwrap();
        assert_eq!((first.payload_type, first.payload[0]), (0, 1));
        assert_eq!((second.payload_type, second.payload[0]), (8, 3));
        assert_eq!((first.ssrc == second.ssrc, second.marker), (false, true));
    }
    h.leg.do_send(StopLeg);
    assert!(
        h.seen_within(Duration::from_secs(2), |s| s.stats.is_some())
            .await
    );
    let seen = h.seen.lock().unwrap();
    let stats = seen.stats.as_ref().unwrap();
    assert_eq!(
        stats.packets_sent, 2,
        "counters carry over the codec change"
    );
    assert_eq!(stats.codec, "PCMA");
    assert_eq!(stats.frames_dropped_egress, 1);
}

/// The leg's keys and the peer's mirror image (the peer sends with the leg's remote key).
fn srtp_keys(suite: CryptoSuite) -> (SrtpKeys, SrtpKeys) {
    let leg = MasterKey::from_bytes([0x11; KEY_MATERIAL_LEN]);
    let peer = MasterKey::from_bytes([0x22; KEY_MATERIAL_LEN]);
    let ours = SrtpKeys {
        tag: 1,
        suite,
        local: leg.clone(),
        remote: peer.clone(),
    };
    let theirs = SrtpKeys {
        tag: 1,
        suite,
        local: peer,
        remote: leg,
    };
    (ours, theirs)
}

#[actix::test]
async fn srtp_both_ways_and_forgeries_dropped() {
    let peer = Peer::new();
    let (leg_keys, peer_keys) = srtp_keys(CryptoSuite::AesCm128HmacSha1_32);
    let mut m = media(peer.addr());
    m.srtp = Some(leg_keys);
    let h = start_leg(RtpLegConfig::new(m, "leg@test"));
    let mut srtp = SrtpTransform::new(&peer_keys).unwrap();

    // Peer → leg: 20 protected packets, each followed by a plain one and a forged one.
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for seq in 0..20u16 {
        ticker.tick().await;
        let header = RtpHeader {
            payload_type: 0,
            marker: seq == 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 0x1234_5678,
        };
        let mut plain = [0u8; 1600];
        let len = header.build(&[seq as u8; 160], &mut plain).unwrap();
        let wire = srtp.protect(false, &plain[..len]).unwrap();
        peer.pair.rtp.send_to(&wire, h.leg_rtp).await.unwrap();
        // The same packet unprotected, and a protected one with a flipped payload bit.
        peer.pair
            .rtp
            .send_to(&plain[..len], h.leg_rtp)
            .await
            .unwrap();
        let mut forged = wire.to_vec();
        forged[40] ^= 0x01;
        peer.pair.rtp.send_to(&forged, h.leg_rtp).await.unwrap();
    }
    let seen = Arc::clone(&h.seen);
    assert!(
        wait_until(Duration::from_secs(3), || seen
            .lock()
            .unwrap()
            .frames
            .iter()
            .filter(|(_, f)| !f.bytes().is_empty())
            .count()
            >= 20)
        .await
    );
    {
        let seen = h.seen.lock().unwrap();
        let ids: Vec<u8> = seen
            .frames
            .iter()
            .filter(|(_, f)| !f.bytes().is_empty())
            .map(|(_, f)| f.bytes()[0])
            .collect();
        assert_eq!(
            ids,
            (0..20u8).collect::<Vec<_>>(),
            "only the genuine packets"
        );
    }

    // Leg → peer: what it sends is SRTP that the peer's context authenticates and decrypts.
    for i in 0..10u8 {
        h.leg.do_send(pcmu(i));
    }
    let p = Arc::clone(&peer);
    assert!(wait_until(Duration::from_secs(2), || p.rtp_count() >= 10).await);
    let sent: Vec<Vec<u8>> = peer
        .log
        .lock()
        .unwrap()
        .rtp
        .iter()
        .map(|(_, _, b)| b.clone())
        .collect();
    for (i, wire) in sent.iter().take(10).enumerate() {
        // 12-byte header, 160 encrypted bytes, a 4-byte tag (SHA1_32).
        assert_eq!(wire.len(), 12 + 160 + 4);
        assert_ne!(&wire[12..172], &[i as u8; 160][..], "payload in clear");
        let back = srtp.unprotect(false, wire).expect("authenticates");
        let packet = RtpPacket::parse(&back).unwrap();
        assert_eq!(packet.payload, &[i as u8; 160][..]);
    }

    h.leg.do_send(StopLeg);
    assert!(
        h.seen_within(Duration::from_secs(2), |s| s.stats.is_some())
            .await
    );
    let stats = h.seen.lock().unwrap().stats.clone().unwrap();
    assert_eq!(
        stats.packets_received, 20,
        "forged and plain packets never counted"
    );
    // SRTCP: the BYE on stop went out protected (E flag set, 80-bit tag).
    let p = Arc::clone(&peer);
    assert!(
        wait_until(Duration::from_secs(2), || !p
            .log
            .lock()
            .unwrap()
            .rtcp
            .is_empty())
        .await
    );
    let rtcp = peer.log.lock().unwrap().rtcp.clone();
    let last = rtcp.last().unwrap();
    assert!(last[last.len() - 14] & 0x80 != 0, "E flag of SRTCP");
    assert!(srtp.unprotect(true, last).is_ok(), "SRTCP authenticates");
}

/// A PCMU leg toward `remote` wired to a bot through `to_bot` and `from_bot`; `owner` gets
/// everything else (the transcoder's input included).
fn start_direct_leg(
    pair: RtpPair,
    remote: SocketAddr,
    owner: Addr<Owner>,
    to_bot: Arc<FrameRing>,
    from_bot: Arc<FrameRing>,
) -> Addr<RtpLeg> {
    RtpLeg::new(
        pair,
        RtpLegConfig::new(media(remote), "leg@test"),
        RtpLegOwner {
            frames: owner.clone().recipient(),
            dtmf: owner.clone().recipient(),
            marks: owner.clone().recipient(),
            stats: owner.clone().recipient(),
            exited: owner.clone().recipient(),
        },
    )
    .with_direct_bot(DirectBot {
        to_bot,
        from_bot,
        via_transcoder: owner.recipient(),
        clock: None,
    })
    .start()
}

/// A bot in the leg's format gets whole 20 ms frames directly through its ring; a 30 ms
/// packet goes to the transcoder to be re-cut. Bot frames from the return ring are played in
/// order with marks; frames of another format are handed to the transcoder to convert.
#[actix::test]
async fn direct_bot_takes_whole_frames_and_the_transcoder_the_rest() {
    let peer = Peer::new();
    let pair = bind_rtp_pair(PORTS, LOCALHOST).expect("a free port pair");
    let leg_rtp = pair.rtp.local_addr().unwrap();
    let via_transcoder = Shared::default();
    let transcoder = Owner(Arc::clone(&via_transcoder)).start();
    let to_bot = FrameRing::new(AudioFormat::Pcmu, 160, 16);
    let from_bot = FrameRing::new(AudioFormat::Pcmu, 160, 16);
    let leg = start_direct_leg(
        pair,
        peer.addr(),
        transcoder,
        Arc::clone(&to_bot),
        Arc::clone(&from_bot),
    );
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for seq in 0..6u16 {
        ticker.tick().await;
        let len = if seq < 4 { 160 } else { 240 };
        let ts = u32::from(seq) * 160;
        peer.send(leg_rtp, 0, seq == 0, seq, ts, &vec![seq as u8; len])
            .await;
    }
    let t = Arc::clone(&via_transcoder);
    let mut direct = Vec::new();
    assert!(
        wait_until(Duration::from_secs(3), || {
            while let Some(f) = to_bot.pop_with(|b| (b.first().copied(), b.len())) {
                direct.push(f);
            }
            direct.len() >= 4 && t.lock().unwrap().frames.len() >= 2
        })
        .await
    );
    assert_eq!(
        direct[..4],
        [
            (Some(0), 160),
            (Some(1), 160),
            (Some(2), 160),
            (Some(3), 160)
        ]
    );
    let firsts: Vec<(u8, usize)> = via_transcoder
        .lock()
        .unwrap()
        .frames
        .iter()
        .map(|(_, f)| (f.bytes()[0], f.bytes().len()))
        .collect();
    assert_eq!(firsts[..2], [(4, 240), (5, 240)]);

    // Three frames from the bot, then a mark: the mark is played with the third frame, two
    // ticks or more later, not at once.
    for fill in [7, 7, 7] {
        from_bot.push(&[fill; 160]).unwrap();
    }
    let marked = Instant::now();
    leg.do_send(Mark("after-ring".into()));
    let pcma = EncodedFrame::from_bytes(AudioFormat::Pcma, &[9; 160]).unwrap();
    leg.do_send(Downstream(AudioFrame(pcma)));
    let p = Arc::clone(&peer);
    assert!(
        wait_until(Duration::from_secs(3), || p
            .log
            .lock()
            .unwrap()
            .rtp
            .iter()
            .any(
                |(_, _, pkt)| pkt.len() == 172 && pkt[12..].iter().all(|&b| b == 7)
            ))
        .await,
        "the bot's PCMU frame was not played"
    );
    let t = Arc::clone(&via_transcoder);
    assert!(
        wait_until(Duration::from_secs(3), || !t
            .lock()
            .unwrap()
            .marks
            .is_empty())
        .await,
        "the mark was not played"
    );
    let (at, name) = via_transcoder.lock().unwrap().marks[0].clone();
    assert_eq!(name, "after-ring");
    assert!(
        at.duration_since(marked) >= Duration::from_millis(35),
        "the mark overtook the ring's frames ({:?})",
        at.duration_since(marked)
    );
    let t = Arc::clone(&via_transcoder);
    assert!(
        wait_until(Duration::from_secs(3), || t
            .lock()
            .unwrap()
            .downstream
            .iter()
            .any(|f| f.format() == AudioFormat::Pcma))
        .await,
        "the PCMA frame was not handed to the transcoder"
    );
}

/// A bot's marks travel in its return ring between its frames: a mark pushed after three
/// frames and before three more is answered on the tick that plays the third, not after the
/// sixth (a mark beside the ring, on a message, could be overtaken by the frames pushed after
/// it). Marks still in the ring when the bot clears are answered at once.
#[actix::test]
async fn marks_in_the_return_ring_are_played_between_their_frames() {
    let peer = Peer::new();
    let pair = bind_rtp_pair(PORTS, LOCALHOST).expect("a free port pair");
    let seen = Shared::default();
    let owner = Owner(Arc::clone(&seen)).start();
    let from_bot = FrameRing::new(AudioFormat::Pcmu, 160, 16);
    let to_bot = FrameRing::new(AudioFormat::Pcmu, 160, 16);
    let leg = start_direct_leg(pair, peer.addr(), owner, to_bot, Arc::clone(&from_bot));
    for fill in [1, 1, 1] {
        from_bot.push(&[fill; 160]).unwrap();
    }
    from_bot.push_mark("between".into()).unwrap();
    for fill in [2, 2, 2] {
        from_bot.push(&[fill; 160]).unwrap();
    }
    let p = Arc::clone(&peer);
    assert!(
        wait_until(Duration::from_secs(3), || p.rtp_count() >= 6).await,
        "the bot's six frames were not played"
    );
    let arrivals: Vec<(Instant, u8)> = {
        let log = peer.log.lock().unwrap();
        log.rtp.iter().map(|(at, _, pkt)| (*at, pkt[12])).collect()
    };
    let fills: Vec<u8> = arrivals.iter().map(|(_, fill)| *fill).collect();
    assert_eq!(fills[..6], [1, 1, 1, 2, 2, 2]);
    let seen_marks = seen.lock().unwrap().marks.clone();
    assert_eq!(seen_marks.len(), 1, "{seen_marks:?}");
    let (mark_at, name) = &seen_marks[0];
    assert_eq!(name, "between");
    assert!(
        *mark_at > arrivals[1].0,
        "the mark came before the second frame"
    );
    assert!(
        *mark_at < arrivals[3].0,
        "the mark was overtaken by the frames pushed after it"
    );

    // Cleared before it plays: answered at once, with the audio around it dropped.
    for fill in [3, 3, 3] {
        from_bot.push(&[fill; 160]).unwrap();
    }
    from_bot.push_mark("cleared".into()).unwrap();
    leg.do_send(Clear);
    assert!(
        marks_within(&seen, Duration::from_secs(3), 2).await,
        "the cleared mark was not answered"
    );
    assert_eq!(seen.lock().unwrap().marks[1].1, "cleared");
}

/// Whether the owner has seen `n` marks within `within`.
async fn marks_within(seen: &Shared, within: Duration, n: usize) -> bool {
    wait_until(within, || seen.lock().unwrap().marks.len() >= n).await
}

/// The leg reads its socket once per 20 ms tick; the RFC 3550 jitter estimate must still see
/// when each packet arrived. A peer at 10 ms ptime sends two packets per tick: read-time
/// arrivals would put both at the tick (transit differences of ±10 ms, jitter near 10 ms),
/// kernel arrival stamps keep the estimate near the sender's own pacing jitter.
#[actix::test]
async fn jitter_estimate_uses_arrival_times_not_tick_reads() {
    let peer = Peer::new();
    let h = start_leg(RtpLegConfig::new(media(peer.addr()), "leg@test"));
    let start = tokio::time::Instant::now();
    let packets = 60u16;
    for seq in 0..packets {
        // An absolute schedule: one late wake-up does not shift the ones after it.
        tokio::time::sleep_until(start + Duration::from_millis(10) * u32::from(seq)).await;
        peer.send(
            h.leg_rtp,
            0,
            seq == 0,
            seq,
            u32::from(seq) * 80,
            &[0xff; 80],
        )
        .await;
    }
    h.leg.do_send(StopLeg);
    assert!(
        h.seen_within(Duration::from_secs(3), |s| s.stats.is_some())
            .await
    );
    let seen = h.seen.lock().unwrap();
    let stats = seen.stats.as_ref().unwrap();
    assert_eq!(stats.packets_received, u64::from(packets));
    assert!(
        stats.jitter_max_ms < 5.0,
        "jitter {:.2} ms (mean {:.2} ms): arrivals quantised to the tick",
        stats.jitter_max_ms,
        stats.jitter_mean_ms
    );
}

/// Packets and ticks are handled in the order they happened even when the leg reads its socket
/// late: with the arbiter stalled across a tick deadline, a packet that arrived before the
/// deadline is in the jitter buffer for that tick and one that arrived after it is not, so a
/// new stream (two frames of buffering) starts playing one tick after the deadline, not when
/// the stalled arbiter reads both packets at once. (The sleeps here make the stall and place
/// the packets in time: they are the stimulus, not a wait for a result.)
#[actix::test]
async fn a_late_read_keeps_packets_and_ticks_in_arrival_order() {
    let sock = std::net::UdpSocket::bind((LOCALHOST, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let h = start_leg(RtpLegConfig::new(
        media(sock.local_addr().unwrap()),
        "leg@test",
    ));
    // The leg sends one queued frame per tick: their arrival gives the tick grid.
    for _ in 0..8 {
        h.leg.do_send(pcmu(0x55));
    }
    let to = h.leg_rtp;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut seen = Vec::new();
        while seen.len() < 6 {
            if sock.recv_from(&mut buf).is_err() {
                break;
            }
            seen.push(Instant::now());
        }
        let _ = tx.send((seen, sock));
    });
    let mut got = None;
    assert!(
        wait_until(Duration::from_secs(3), || {
            got = rx.try_recv().ok();
            got.is_some()
        })
        .await
    );
    let (seen, sock) = got.unwrap();
    assert_eq!(seen.len(), 6, "the leg did not send its queued frames");
    // The earliest phase seen (late wake-ups only push arrivals later), half a ms early.
    let period = Duration::from_millis(20);
    let first = seen[0];
    let phase = seen
        .iter()
        .map(|t| {
            Duration::from_nanos((t.duration_since(first).as_nanos() % period.as_nanos()) as u64)
        })
        .map(|p| {
            if p > period / 2 {
                p.saturating_sub(period)
            } else {
                p
            }
        })
        .min()
        .unwrap_or_default();
    let mut deadline = first + phase - Duration::from_micros(500);
    while deadline < Instant::now() + Duration::from_millis(40) {
        deadline += period;
    }
    // A new stream: seq 0 just before the deadline, seq 1 just after, both while stalled.
    let sender = std::thread::spawn(move || {
        let send = |seq: u16, at: Instant| {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            let mut out = [0u8; 1600];
            let header = RtpHeader {
                payload_type: 0,
                marker: seq == 0,
                sequence: 1000 + seq,
                timestamp: 8000 + u32::from(seq) * 160,
                ssrc: 0x0bad_cafe,
            };
            let len = header.build(&[0x11; 160], &mut out).unwrap();
            sock.send_to(&out[..len], to).unwrap();
        };
        send(0, deadline - Duration::from_millis(4));
        send(1, deadline + Duration::from_millis(4));
    });
    tokio::time::sleep_until((deadline - Duration::from_millis(8)).into()).await;
    // Stall the arbiter (this test's thread) across the deadline.
    std::thread::sleep(
        (deadline + Duration::from_millis(10)).saturating_duration_since(Instant::now()),
    );
    sender.join().unwrap();
    assert!(
        h.seen_within(Duration::from_secs(2), |s| s
            .frames
            .iter()
            .any(|(_, f)| f.bytes().first() == Some(&0x11)))
            .await
    );
    let seen = h.seen.lock().unwrap();
    let (played, _) = seen
        .frames
        .iter()
        .find(|(_, f)| f.bytes().first() == Some(&0x11))
        .unwrap();
    let after = played.saturating_duration_since(deadline);
    assert!(
        after >= Duration::from_millis(14),
        "played {after:?} after the deadline: the late packet was counted for the stalled tick"
    );
}
