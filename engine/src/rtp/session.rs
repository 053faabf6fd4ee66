//! One RTP session (one media stream of a SIP leg) without I/O: symmetric RTP latching,
//! payload-type filtering, receive statistics, our sender, RTCP timing and reports, and the
//! media inactivity timeout.
//!
//! The actor feeds it with [`RtpSession::handle_packet`] / [`RtpSession::handle_rtcp`] for every
//! datagram, calls [`RtpSession::send_frame`] on its 20 ms tick, and after each of these or at
//! [`RtpSession::poll_timeout`] calls [`RtpSession::handle_timeout`] and drains
//! [`RtpSession::poll_transmit`] and [`RtpSession::poll_event`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use super::packet::{is_rtcp, RtpPacket};
use super::rtcp::{
    from_ntp_short, ntp_middle, ntp_timestamp, parse_compound, to_ntp_short, ReportBlock,
    RtcpPacket, RtcpWriter, SenderInfo,
};
use super::sender::{Sender, SenderConfig};
use super::sequence::SeqUpdate;
use super::stats::{arrival_units, ReceiveStats};
use super::RtpError;

/// Configuration of one session, from the SDP negotiation and the node config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Clock rate of the negotiated audio codec (and of telephone-event), in Hz.
    pub clock_rate: u32,
    /// Payload type we send audio with.
    pub payload_type: u8,
    /// Audio payload types accepted on receive (the negotiated codecs); others are dropped.
    pub receive_payload_types: Vec<u8>,
    /// Negotiated telephone-event payload type (sent and accepted), if any.
    pub dtmf_payload_type: Option<u8>,
    /// Our SSRC; drawn from the session's RNG when `None`.
    pub ssrc: Option<u32>,
    /// Our SDES CNAME.
    pub cname: String,
    /// RTP address from the remote SDP; we send there until a packet latches us elsewhere.
    pub remote: Option<SocketAddr>,
    /// RTCP address from the remote SDP (`a=rtcp`); defaults to the RTP port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP and RTCP share one port (RFC 5761).
    pub rtcp_mux: bool,
    /// Accept media only from the IP in `remote` (any port); off by default because NATs
    /// rewrite addresses, which is what latching is for.
    pub restrict_to_signalled_ip: bool,
    /// Consecutive valid packets from a new address needed to re-latch to it (1 = at once).
    pub relatch_after: u32,
    /// Sequential packets a new SSRC needs before it is valid (RFC 3550 A.1 `MIN_SEQUENTIAL`).
    pub min_sequential: u16,
    /// Nominal RTCP report interval (randomised 0.5–1.5×; the first one is halved).
    pub rtcp_interval: Duration,
    /// No valid media for this long raises [`Event::Inactive`]; `None` disables it (hold).
    /// RTCP does not count as media.
    pub inactivity_timeout: Option<Duration>,
}

impl SessionConfig {
    /// A configuration with the defaults: RFC 3550 probation of 2, re-latch after 5 packets,
    /// RTCP every ~5 s, 30 s inactivity timeout, no rtcp-mux.
    pub fn new(payload_type: u8, clock_rate: u32, cname: impl Into<String>) -> Self {
        Self {
            clock_rate,
            payload_type,
            receive_payload_types: vec![payload_type],
            dtmf_payload_type: None,
            ssrc: None,
            cname: cname.into(),
            remote: None,
            remote_rtcp: None,
            rtcp_mux: false,
            restrict_to_signalled_ip: false,
            relatch_after: 5,
            min_sequential: 2,
            rtcp_interval: Duration::from_secs(5),
            inactivity_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// Which socket a datagram belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The RTP port.
    Rtp,
    /// The RTCP port (the RTP port too with rtcp-mux).
    Rtcp,
}

/// A datagram the actor must send; its bytes are the first `len` of the buffer it passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// From which socket.
    pub channel: Channel,
    /// Its length in the caller's buffer.
    pub len: usize,
}

/// What kind of payload a received packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// Audio of one of the negotiated codecs.
    Audio,
    /// An RFC 4733 telephone-event payload, for `voxgate_codecs::rfc4733`.
    TelephoneEvent,
}

/// A valid media packet, borrowing the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// Audio or telephone-event.
    pub kind: MediaKind,
    /// Payload type.
    pub payload_type: u8,
    /// Marker bit (talkspurt or event start).
    pub marker: bool,
    /// 16-bit sequence number.
    pub sequence: u16,
    /// Extended sequence number (for ordering in the jitter buffer).
    pub extended_sequence: u32,
    /// RTP timestamp (for events: the event start).
    pub timestamp: u32,
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Arrived after a higher sequence number.
    pub late: bool,
    /// The payload.
    pub payload: &'a [u8],
}

/// Something the actor should know about.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The first valid packet fixed the remote media address.
    Latched {
        /// The address now used.
        remote: SocketAddr,
    },
    /// Media moved to a new address and we followed.
    Relatched {
        /// The previous address.
        from: SocketAddr,
        /// The address now used.
        to: SocketAddr,
    },
    /// The remote source (SSRC) we receive from became valid or changed.
    SourceChanged {
        /// The previous SSRC, if any.
        old: Option<u32>,
        /// The new SSRC.
        new: u32,
    },
    /// No valid media arrived for the configured inactivity timeout.
    Inactive {
        /// Time since the last valid media packet (or the session start).
        silent_for: Duration,
    },
    /// The peer reported on our stream (RR or SR report block).
    ReportReceived {
        /// Fraction of our packets lost in its last interval (/256).
        fraction_lost: u8,
        /// Cumulative packets of ours lost.
        cumulative_lost: i32,
        /// Its jitter estimate of our stream, in ms.
        jitter_ms: f64,
        /// Round-trip time, when the block referenced one of our SRs.
        rtt: Option<Duration>,
    },
    /// The remote source sent an RTCP BYE.
    Bye {
        /// The SSRC leaving.
        ssrc: u32,
    },
}

/// Counters for the session record and the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionStats {
    /// RTP packets we sent.
    pub packets_sent: u64,
    /// Payload octets we sent.
    pub octets_sent: u64,
    /// Valid RTP packets received (all remote sources).
    pub packets_received: u64,
    /// Payload octets of those.
    pub octets_received: u64,
    /// Packets lost (cumulative over remote sources, never negative).
    pub packets_lost: u64,
    /// Packets that arrived out of order.
    pub late: u64,
    /// Duplicate packets dropped.
    pub duplicates: u64,
    /// Current interarrival jitter, ms.
    pub jitter_ms: f64,
    /// Largest jitter estimate seen, ms.
    pub max_jitter_ms: f64,
    /// Mean jitter estimate, ms.
    pub mean_jitter_ms: f64,
    /// The SSRC we currently receive from.
    pub remote_ssrc: Option<u32>,
    /// The address media is latched to.
    pub latched: Option<SocketAddr>,
    /// Last round-trip time from RTCP.
    pub rtt: Option<Duration>,
    /// Packets dropped for an unexpected payload type.
    pub dropped_payload_type: u64,
    /// Packets dropped for coming from an address we are not latched to.
    pub dropped_source: u64,
    /// Datagrams that were not valid RTP or RTCP.
    pub malformed: u64,
}

/// Counters carried over from remote sources we no longer receive from.
#[derive(Debug, Clone, Copy, Default)]
struct PriorSources {
    lost: i64,
    late: u64,
    duplicates: u64,
}

/// One RTP session; see the module documentation for how to drive it.
pub struct RtpSession {
    config: SessionConfig,
    /// Bit `pt` set ⇔ audio payload type `pt` accepted.
    accepted: u128,
    sender: Sender,
    rng: Box<dyn RngCore + Send>,
    start: Instant,
    wallclock_start: SystemTime,

    latched: Option<SocketAddr>,
    relatch_candidate: Option<(SocketAddr, u32)>,
    rtcp_source: Option<SocketAddr>,

    source: Option<ReceiveStats>,
    source_candidate: Option<ReceiveStats>,
    prior: PriorSources,
    packets_received: u64,
    octets_received: u64,
    jitter_max_ms: f64,
    jitter_sum_ms: f64,
    jitter_samples: u64,
    dropped_payload_type: u64,
    dropped_source: u64,
    malformed: u64,

    last_sr: Option<(u32, Instant)>,
    rtt: Option<Duration>,
    last_frame: Option<(Instant, u32)>,
    sent_this_interval: bool,
    sent_last_interval: bool,
    received_this_interval: bool,
    next_rtcp: Instant,
    report_due: Option<Instant>,
    closing: bool,
    closed: bool,

    last_media: Instant,
    inactive_reported: bool,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for RtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpSession")
            .field("ssrc", &self.sender.ssrc())
            .field("latched", &self.latched)
            .field("remote_ssrc", &self.source.as_ref().map(ReceiveStats::ssrc))
            .field("next_rtcp", &self.next_rtcp)
            .finish_non_exhaustive()
    }
}

impl RtpSession {
    /// Starts a session at `now`; `wallclock` is the wall-clock time at `now` (for SR NTP
    /// timestamps) and `rng` draws our SSRC, initial sequence and timestamp and the RTCP
    /// randomisation, so a seeded RNG makes the session deterministic.
    pub fn new(
        config: SessionConfig,
        now: Instant,
        wallclock: SystemTime,
        mut rng: Box<dyn RngCore + Send>,
    ) -> Self {
        let ssrc = config.ssrc.unwrap_or_else(|| rng.next_u32());
        let sender = Sender::new(SenderConfig {
            ssrc,
            payload_type: config.payload_type,
            dtmf_payload_type: config.dtmf_payload_type,
            initial_sequence: rng.gen(),
            initial_timestamp: rng.gen(),
        });
        let accepted = pt_set(&config.receive_payload_types);
        // RFC 3550 §6.2: the first report goes out after half the minimum interval.
        let first = config.rtcp_interval.mul_f64(0.5 * rng.gen_range(0.5..1.5));
        Self {
            accepted,
            sender,
            rng,
            start: now,
            wallclock_start: wallclock,
            latched: None,
            relatch_candidate: None,
            rtcp_source: None,
            source: None,
            source_candidate: None,
            prior: PriorSources::default(),
            packets_received: 0,
            octets_received: 0,
            jitter_max_ms: 0.0,
            jitter_sum_ms: 0.0,
            jitter_samples: 0,
            dropped_payload_type: 0,
            dropped_source: 0,
            malformed: 0,
            last_sr: None,
            rtt: None,
            last_frame: None,
            sent_this_interval: false,
            sent_last_interval: false,
            received_this_interval: false,
            next_rtcp: now + first,
            report_due: None,
            closing: false,
            closed: false,
            last_media: now,
            inactive_reported: false,
            events: VecDeque::new(),
            config,
        }
    }

    /// [`new`](Self::new) with a seeded standard RNG (pass OS entropy in production, a fixed
    /// seed in tests).
    pub fn with_seed(
        config: SessionConfig,
        now: Instant,
        wallclock: SystemTime,
        seed: u64,
    ) -> Self {
        Self::new(
            config,
            now,
            wallclock,
            Box::new(StdRng::seed_from_u64(seed)),
        )
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.sender.ssrc()
    }

    /// Our outgoing stream (sequence, timestamp, counters).
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The address media currently goes to: the latched one, else the signalled one.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.latched.or(self.config.remote)
    }

    /// A new signalled remote address (re-INVITE): latching starts over.
    pub fn set_remote(&mut self, remote: Option<SocketAddr>, remote_rtcp: Option<SocketAddr>) {
        self.config.remote = remote;
        self.config.remote_rtcp = remote_rtcp;
        self.latched = None;
        self.relatch_candidate = None;
        self.rtcp_source = None;
    }

    /// Changes the inactivity timeout (e.g. `None` while the call is on hold); the silence
    /// is measured again from `now`.
    pub fn set_inactivity_timeout(&mut self, now: Instant, timeout: Option<Duration>) {
        self.config.inactivity_timeout = timeout;
        self.last_media = now;
        self.inactive_reported = false;
    }

    /// Handles a datagram from the RTP socket (with rtcp-mux, RTCP is recognised and handled
    /// too). Returns the media packet when it is valid and for us; `Ok(None)` when it was
    /// consumed or dropped by policy (counted in [`SessionStats`]); an error when malformed.
    pub fn handle_packet<'a>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        buf: &'a [u8],
    ) -> Result<Option<Received<'a>>, RtpError> {
        if self.config.rtcp_mux && is_rtcp(buf) {
            self.handle_rtcp(now, source, buf)?;
            return Ok(None);
        }
        let packet = RtpPacket::parse(buf).inspect_err(|_| self.malformed += 1)?;
        let kind = if Some(packet.payload_type) == self.config.dtmf_payload_type {
            MediaKind::TelephoneEvent
        } else if packet.payload_type < 128 && self.accepted & (1 << packet.payload_type) != 0 {
            MediaKind::Audio
        } else {
            self.dropped_payload_type += 1;
            return Ok(None);
        };
        if !self.accept_source(source) {
            self.dropped_source += 1;
            return Ok(None);
        }
        let arrival = arrival_units(
            now.saturating_duration_since(self.start),
            self.config.clock_rate,
        );
        let timed = kind == MediaKind::Audio;
        let update = self.update_source(&packet, arrival, timed);
        let (extended_sequence, late) = match update {
            SeqUpdate::InOrder { extended } | SeqUpdate::Restarted { extended } => {
                (extended, false)
            }
            SeqUpdate::Late { extended } => (extended, true),
            SeqUpdate::Duplicate | SeqUpdate::Probation | SeqUpdate::BadJump => return Ok(None),
        };
        self.packets_received += 1;
        self.octets_received += packet.payload.len() as u64;
        self.received_this_interval = true;
        self.last_media = now;
        self.inactive_reported = false;
        Ok(Some(Received {
            kind,
            payload_type: packet.payload_type,
            marker: packet.marker,
            sequence: packet.sequence,
            extended_sequence,
            timestamp: packet.timestamp,
            ssrc: packet.ssrc,
            late,
            payload: packet.payload,
        }))
    }

    /// Latching (symmetric RTP): whether a packet from `source` is accepted.
    fn accept_source(&mut self, source: SocketAddr) -> bool {
        if self.config.restrict_to_signalled_ip {
            if let Some(remote) = self.config.remote {
                if remote.ip() != source.ip() {
                    return false;
                }
            }
        }
        let Some(latched) = self.latched else {
            self.latched = Some(source);
            self.events.push_back(Event::Latched { remote: source });
            return true;
        };
        if latched == source {
            self.relatch_candidate = None;
            return true;
        }
        // The address the peer signalled wins at once over one learned from packets: a
        // stream still arriving from a port's previous owner (a stale call, another node
        // that reused the range) must not keep the port latched away from its real peer.
        if self.config.remote == Some(source) {
            self.latched = Some(source);
            self.relatch_candidate = None;
            self.events.push_back(Event::Relatched {
                from: latched,
                to: source,
            });
            return true;
        }
        let count = match self.relatch_candidate {
            Some((addr, n)) if addr == source => n + 1,
            _ => 1,
        };
        if count >= self.config.relatch_after.max(1) {
            self.latched = Some(source);
            self.relatch_candidate = None;
            self.events.push_back(Event::Relatched {
                from: latched,
                to: source,
            });
            true
        } else {
            self.relatch_candidate = Some((source, count));
            false
        }
    }

    /// Sequence and SSRC handling; a new SSRC must pass probation before it replaces the
    /// current one, so stray packets of an old source cannot flip the stream back and forth.
    fn update_source(&mut self, packet: &RtpPacket<'_>, arrival: u32, timed: bool) -> SeqUpdate {
        if let Some(current) = self.source.as_mut().filter(|s| s.ssrc() == packet.ssrc) {
            let before = current.jitter().samples();
            let update = current.on_packet(packet.sequence, packet.timestamp, arrival, timed);
            if current.jitter().samples() > before {
                let j = current.jitter().jitter_ms();
                self.jitter_max_ms = self.jitter_max_ms.max(j);
                self.jitter_sum_ms += j;
                self.jitter_samples += 1;
            }
            return update;
        }
        let min_sequential = self.config.min_sequential;
        let clock_rate = self.config.clock_rate;
        let candidate = match &mut self.source_candidate {
            Some(c) if c.ssrc() == packet.ssrc => c,
            slot => slot.insert(ReceiveStats::new(
                packet.ssrc,
                packet.sequence,
                min_sequential,
                clock_rate,
            )),
        };
        let update = candidate.on_packet(packet.sequence, packet.timestamp, arrival, timed);
        if update.is_valid() {
            let new = self.source_candidate.take();
            let old = std::mem::replace(&mut self.source, new);
            if let Some(old) = &old {
                self.prior.lost += old.sequence().lost();
                self.prior.late += old.sequence().late();
                self.prior.duplicates += old.sequence().duplicates();
            }
            self.events.push_back(Event::SourceChanged {
                old: old.map(|o| o.ssrc()),
                new: packet.ssrc,
            });
        }
        update
    }

    /// Handles a datagram from the RTCP socket (or a demultiplexed one with rtcp-mux).
    /// The valid packets before a malformed one are still used.
    pub fn handle_rtcp(
        &mut self,
        now: Instant,
        source: SocketAddr,
        buf: &[u8],
    ) -> Result<(), RtpError> {
        if let Some(latched) = self.latched {
            if latched.ip() != source.ip() {
                self.dropped_source += 1;
                return Ok(());
            }
        }
        if !self.config.rtcp_mux {
            self.rtcp_source = Some(source);
        }
        let ours = self.sender.ssrc();
        let remote_ssrc = self.source.as_ref().map(ReceiveStats::ssrc);
        for packet in parse_compound(buf) {
            let packet = packet.inspect_err(|_| self.malformed += 1)?;
            match packet {
                RtcpPacket::SenderReport(sr) => {
                    if Some(sr.ssrc) == remote_ssrc || remote_ssrc.is_none() {
                        self.last_sr = Some((ntp_middle(sr.info.ntp_timestamp), now));
                    }
                    for block in sr.report_blocks().filter(|b| b.ssrc == ours) {
                        self.on_report_block(now, &block);
                    }
                }
                RtcpPacket::ReceiverReport(rr) => {
                    for block in rr.report_blocks().filter(|b| b.ssrc == ours) {
                        self.on_report_block(now, &block);
                    }
                }
                RtcpPacket::Bye(bye) => {
                    for ssrc in bye.ssrcs().filter(|s| Some(*s) == remote_ssrc) {
                        self.events.push_back(Event::Bye { ssrc });
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn on_report_block(&mut self, now: Instant, block: &ReportBlock) {
        let rtt = (block.last_sr != 0)
            .then(|| {
                let arrival = ntp_middle(self.ntp_at(now));
                let units = arrival
                    .wrapping_sub(block.last_sr)
                    .wrapping_sub(block.delay_since_last_sr);
                // A "negative" RTT means clock trouble or a bogus block: ignore it.
                (units < 0x8000_0000).then(|| from_ntp_short(units))
            })
            .flatten();
        if rtt.is_some() {
            self.rtt = rtt;
        }
        self.events.push_back(Event::ReportReceived {
            fraction_lost: block.fraction_lost,
            cumulative_lost: block.cumulative_lost,
            jitter_ms: f64::from(block.jitter) * 1000.0 / f64::from(self.config.clock_rate.max(1)),
            rtt,
        });
    }

    /// The 20 ms tick: one frame of media time. Writes the frame's packet (audio, a DTMF event
    /// packet, or nothing for `None`/silence) into `out` and says where to send it. The
    /// timestamp advances by `samples` either way (see [`Sender::next_packet`]).
    pub fn send_frame(
        &mut self,
        now: Instant,
        audio: Option<&[u8]>,
        samples: u32,
        out: &mut [u8],
    ) -> Result<Option<Transmit>, RtpError> {
        let destination = match self.remote() {
            Some(d) if !self.closing => d,
            _ => {
                self.sender.skip(samples);
                return Ok(None);
            }
        };
        let timestamp = self.sender.timestamp();
        let sent = self.sender.next_packet(audio, samples, out)?;
        let Some(len) = sent.packet_len() else {
            return Ok(None);
        };
        self.last_frame = Some((now, timestamp));
        self.sent_this_interval = true;
        Ok(Some(Transmit {
            destination,
            channel: Channel::Rtp,
            len,
        }))
    }

    /// Starts sending DTMF `event` for `duration` timestamp units (see [`Sender::send_dtmf`]).
    pub fn send_dtmf(&mut self, event: u8, duration: u32, volume: u8) -> Result<(), RtpError> {
        self.sender.send_dtmf(event, duration, volume)
    }

    /// Marks the next audio packet as a talkspurt start (the audio source changed).
    pub fn start_talkspurt(&mut self) {
        self.sender.start_talkspurt();
    }

    /// Ends the session: the next [`poll_transmit`](Self::poll_transmit) yields a final report
    /// with an RTCP BYE, after which the session sends nothing more.
    pub fn close(&mut self, now: Instant) {
        if !self.closing {
            self.closing = true;
            self.report_due = Some(now);
        }
    }

    /// Advances timers to `now`: schedules RTCP reports and raises [`Event::Inactive`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        if now >= self.next_rtcp {
            self.report_due = Some(now);
            let factor = self.rng.gen_range(0.5..1.5);
            self.next_rtcp = now + self.config.rtcp_interval.mul_f64(factor);
        }
        if let Some(deadline) = self.inactivity_deadline() {
            if now >= deadline {
                self.inactive_reported = true;
                self.events.push_back(Event::Inactive {
                    silent_for: now.saturating_duration_since(self.last_media),
                });
            }
        }
    }

    fn inactivity_deadline(&self) -> Option<Instant> {
        if self.inactive_reported {
            return None;
        }
        self.config.inactivity_timeout.map(|t| self.last_media + t)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closing {
            return None;
        }
        let rtcp = Some(self.next_rtcp);
        match (rtcp, self.inactivity_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Writes a due RTCP compound packet (SR or RR, SDES CNAME, and BYE when closing) into
    /// `buf` (1500 bytes is plenty) and says where to send it.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let at = self.report_due.take()?;
        if self.closed {
            return None;
        }
        let destination = self.rtcp_destination()?;
        let len = match self.write_report(at, buf) {
            Ok(len) => len,
            // Only a too small buffer fails; the report is skipped rather than sent truncated.
            Err(_) => return None,
        };
        if self.closing {
            self.closed = true;
        }
        Some(Transmit {
            destination,
            channel: Channel::Rtcp,
            len,
        })
    }

    fn rtcp_destination(&self) -> Option<SocketAddr> {
        if self.config.rtcp_mux {
            return self.remote();
        }
        self.rtcp_source.or(self.config.remote_rtcp).or_else(|| {
            let mut rtp = self.remote()?;
            rtp.set_port(rtp.port().checked_add(1)?);
            Some(rtp)
        })
    }

    fn write_report(&mut self, at: Instant, buf: &mut [u8]) -> Result<usize, RtpError> {
        let mut block = [ReportBlock::default(); 1];
        let blocks: &[ReportBlock] = match self.source.as_mut() {
            Some(source) if self.received_this_interval => {
                let (lsr, dlsr) = match self.last_sr {
                    Some((lsr, received)) => {
                        (lsr, to_ntp_short(at.saturating_duration_since(received)))
                    }
                    None => (0, 0),
                };
                block[0] = source.report_block(lsr, dlsr);
                &block
            }
            _ => &[],
        };
        let ssrc = self.sender.ssrc();
        let mut w = RtcpWriter::new(buf);
        if self.sent_this_interval || self.sent_last_interval {
            let info = SenderInfo {
                ntp_timestamp: self.ntp_at(at),
                rtp_timestamp: self.rtp_timestamp_at(at),
                // The SR fields are 32-bit counters that wrap by definition.
                packet_count: self.sender.packets_sent() as u32,
                octet_count: self.sender.octets_sent() as u32,
            };
            w.sender_report(ssrc, &info, blocks)?;
        } else {
            w.receiver_report(ssrc, blocks)?;
        }
        w.sdes_cname(ssrc, &self.config.cname)
            .or_else(|_| w.sdes_cname(ssrc, "voxgate"))?;
        if self.closing {
            w.bye(&[ssrc], None)?;
        }
        self.sent_last_interval = self.sent_this_interval;
        self.sent_this_interval = false;
        self.received_this_interval = false;
        Ok(w.finish())
    }

    fn ntp_at(&self, at: Instant) -> u64 {
        ntp_timestamp(self.wallclock_start + at.saturating_duration_since(self.start))
    }

    /// The RTP timestamp of our stream at `at`, extrapolated from the last frame sent.
    fn rtp_timestamp_at(&self, at: Instant) -> u32 {
        match self.last_frame {
            Some((sent, ts)) => ts.wrapping_add(arrival_units(
                at.saturating_duration_since(sent),
                self.config.clock_rate,
            )),
            None => self.sender.timestamp(),
        }
    }

    /// The counters for the session record.
    pub fn stats(&self) -> SessionStats {
        let current = self.source.as_ref();
        let lost = self.prior.lost + current.map_or(0, |s| s.sequence().lost());
        SessionStats {
            packets_sent: self.sender.packets_sent(),
            octets_sent: self.sender.octets_sent(),
            packets_received: self.packets_received,
            octets_received: self.octets_received,
            packets_lost: u64::try_from(lost).unwrap_or(0),
            late: self.prior.late + current.map_or(0, |s| s.sequence().late()),
            duplicates: self.prior.duplicates + current.map_or(0, |s| s.sequence().duplicates()),
            jitter_ms: current.map_or(0.0, |s| s.jitter().jitter_ms()),
            max_jitter_ms: self.jitter_max_ms,
            mean_jitter_ms: if self.jitter_samples == 0 {
                0.0
            } else {
                self.jitter_sum_ms / self.jitter_samples as f64
            },
            remote_ssrc: current.map(ReceiveStats::ssrc),
            latched: self.latched,
            rtt: self.rtt,
            dropped_payload_type: self.dropped_payload_type,
            dropped_source: self.dropped_source,
            malformed: self.malformed,
        }
    }
}

fn pt_set(pts: &[u8]) -> u128 {
    pts.iter()
        .filter(|pt| **pt < 128)
        .fold(0, |set, pt| set | (1u128 << pt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::{parse_compound, RtcpPacket};
    use crate::rtp::RtpHeader;
    use std::time::UNIX_EPOCH;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn config() -> SessionConfig {
        let mut c = SessionConfig::new(0, 8000, "test@voxgate");
        c.dtmf_payload_type = Some(101);
        c.remote = Some(addr("10.0.0.2:4000"));
        c
    }

    fn session(c: SessionConfig, now: Instant, seed: u64) -> RtpSession {
        let wallclock = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        RtpSession::with_seed(c, now, wallclock, seed)
    }

    fn rtp(seq: u16, ts: u32, ssrc: u32, pt: u8) -> Vec<u8> {
        let mut buf = vec![0u8; 200];
        let header = RtpHeader {
            payload_type: pt,
            marker: false,
            sequence: seq,
            timestamp: ts,
            ssrc,
        };
        let len = header.build(&[0xd5; 160], &mut buf).unwrap();
        buf.truncate(len);
        buf
    }

    fn events(s: &mut RtpSession) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    /// Feeds packets `seqs` of `ssrc` from `from`, 20 ms apart starting at `t`; returns how many
    /// were delivered.
    fn feed(
        s: &mut RtpSession,
        t: &mut Instant,
        from: SocketAddr,
        ssrc: u32,
        seqs: &[u16],
    ) -> usize {
        let mut delivered = 0;
        for &seq in seqs {
            let p = rtp(seq, u32::from(seq).wrapping_mul(160), ssrc, 0);
            if s.handle_packet(*t, from, &p).unwrap().is_some() {
                delivered += 1;
            }
            *t += Duration::from_millis(20);
        }
        delivered
    }

    #[test]
    fn latches_to_the_first_source_and_sends_there() {
        let t0 = Instant::now();
        let mut s = session(config(), t0, 1);
        let mut out = [0u8; 1500];
        let tx = s
            .send_frame(t0, Some(&[0; 160]), 160, &mut out)
            .unwrap()
            .unwrap();
        assert_eq!(tx.destination, addr("10.0.0.2:4000"));
        let nat = addr("192.0.2.9:5000");
        let mut t = t0;
        assert_eq!(feed(&mut s, &mut t, nat, 7, &[100, 101, 102]), 2);
        assert_eq!(
            events(&mut s),
            [
                Event::Latched { remote: nat },
                Event::SourceChanged { old: None, new: 7 }
            ]
        );
        let tx = s
            .send_frame(t, Some(&[0; 160]), 160, &mut out)
            .unwrap()
            .unwrap();
        assert_eq!(tx.destination, nat);
        assert_eq!(s.stats().latched, Some(nat));
        assert_eq!(s.stats().remote_ssrc, Some(7));
    }

    #[test]
    fn relatching_needs_consecutive_packets_from_the_new_address() {
        let t0 = Instant::now();
        let mut s = session(config(), t0, 1);
        let a = addr("192.0.2.1:5000");
        let b = addr("192.0.2.2:6000");
        let mut t = t0;
        feed(&mut s, &mut t, a, 7, &[1, 2, 3]);
        events(&mut s);
        // A spoofer interleaved with the genuine stream never reaches 5 in a row.
        assert_eq!(feed(&mut s, &mut t, b, 7, &[4, 5, 6, 7]), 0);
        assert_eq!(feed(&mut s, &mut t, a, 7, &[8]), 1);
        assert_eq!(feed(&mut s, &mut t, b, 7, &[9, 10, 11, 12]), 0);
        assert!(events(&mut s).is_empty());
        assert_eq!(s.remote(), Some(a));
        // The stream really moved: the fifth consecutive packet re-latches.
        assert_eq!(feed(&mut s, &mut t, b, 7, &[13, 14]), 2);
        assert_eq!(events(&mut s), [Event::Relatched { from: a, to: b }]);
        assert_eq!(s.remote(), Some(b));
        assert_eq!(s.stats().dropped_source, 8);
        // Now the old address is the stranger.
        assert_eq!(feed(&mut s, &mut t, a, 7, &[15]), 0);
    }

    #[test]
    fn the_signalled_address_takes_over_from_a_stale_stream_at_once() {
        let t0 = Instant::now();
        let mut s = session(config(), t0, 1);
        let signalled = addr("10.0.0.2:4000");
        let stale = addr("192.0.2.7:7000");
        let mut t = t0;
        // A stream meant for the port's previous owner arrives first and is latched.
        feed(&mut s, &mut t, stale, 9, &[1, 2, 3]);
        assert_eq!(s.remote(), Some(stale));
        events(&mut s);
        // The first packet from the address in the SDP moves the latch back to it ...
        feed(&mut s, &mut t, signalled, 7, &[50]);
        assert_eq!(
            events(&mut s).first(),
            Some(&Event::Relatched {
                from: stale,
                to: signalled
            })
        );
        assert_eq!(s.remote(), Some(signalled));
        // ... and the stale stream, interleaved with it, never takes it back.
        let mut delivered = 0;
        for seq in 0..10u16 {
            assert_eq!(feed(&mut s, &mut t, stale, 9, &[4 + seq]), 0);
            delivered += feed(&mut s, &mut t, signalled, 7, &[51 + seq]);
        }
        assert_eq!(s.remote(), Some(signalled));
        // Its packets are the stream now (the new SSRC passes probation on the first two).
        assert!(delivered >= 9, "{delivered}");
    }

    #[test]
    fn restricting_to_the_signalled_ip_ignores_other_hosts() {
        let t0 = Instant::now();
        let mut c = config();
        c.restrict_to_signalled_ip = true;
        let mut s = session(c, t0, 1);
        let mut t = t0;
        assert_eq!(
            feed(&mut s, &mut t, addr("192.0.2.1:4000"), 7, &[1, 2, 3]),
            0
        );
        assert_eq!(s.stats().latched, None);
        // Same IP, other port (a NAT keeping the address): latched.
        assert_eq!(
            feed(&mut s, &mut t, addr("10.0.0.2:4444"), 7, &[4, 5, 6]),
            2
        );
        assert_eq!(s.remote(), Some(addr("10.0.0.2:4444")));
    }

    #[test]
    fn payload_types_are_filtered_and_events_classified() {
        let t0 = Instant::now();
        let mut c = config();
        c.min_sequential = 1;
        let mut s = session(c, t0, 1);
        let from = addr("10.0.0.2:4000");
        assert!(s
            .handle_packet(t0, from, &rtp(1, 0, 7, 8))
            .unwrap()
            .is_none());
        assert_eq!(s.stats().dropped_payload_type, 1);
        // A packet with a wrong payload type does not latch.
        assert_eq!(s.stats().latched, None);
        let audio = rtp(2, 160, 7, 0);
        let audio = s.handle_packet(t0, from, &audio).unwrap().unwrap();
        assert_eq!(audio.kind, MediaKind::Audio);
        let event = rtp(3, 320, 7, 101);
        let r = s.handle_packet(t0, from, &event).unwrap().unwrap();
        assert_eq!(r.kind, MediaKind::TelephoneEvent);
        assert_eq!(r.timestamp, 320);
        assert_eq!(r.payload.len(), 160);
        assert!(s.handle_packet(t0, from, &[1, 2, 3]).is_err());
        assert_eq!(s.stats().malformed, 1);
    }

    #[test]
    fn ssrc_change_switches_after_probation_and_keeps_totals() {
        let t0 = Instant::now();
        let mut s = session(config(), t0, 1);
        let from = addr("10.0.0.2:4000");
        let mut t = t0;
        // Source 7: valid from seq 2, 5 and 6 lost.
        feed(&mut s, &mut t, from, 7, &[1, 2, 3, 4, 7, 8]);
        assert_eq!(s.stats().packets_lost, 2);
        events(&mut s);
        // Source 9 replaces it (e.g. the far end switched media servers).
        assert_eq!(feed(&mut s, &mut t, from, 9, &[500]), 0);
        assert_eq!(s.stats().remote_ssrc, Some(7));
        assert_eq!(feed(&mut s, &mut t, from, 9, &[501, 502]), 2);
        assert_eq!(
            events(&mut s),
            [Event::SourceChanged {
                old: Some(7),
                new: 9
            }]
        );
        // A stray packet of the old source does not flip back.
        assert_eq!(feed(&mut s, &mut t, from, 7, &[9]), 0);
        assert_eq!(feed(&mut s, &mut t, from, 9, &[503, 505]), 2);
        let st = s.stats();
        assert_eq!(st.remote_ssrc, Some(9));
        assert_eq!(st.packets_lost, 3);
        assert_eq!(st.packets_received, 5 + 4);
    }

    #[test]
    fn loss_reordering_and_duplicates_across_sequence_wrap() {
        let t0 = Instant::now();
        let mut s = session(config(), t0, 1);
        let from = addr("10.0.0.2:4000");
        let mut t = t0;
        let seqs = [65531, 65532, 65533, 65535, 0, 65534, 2, 2, 3, 5];
        // 65531 is probation; 1 and 4 are lost; 65534 is late; one 2 is a duplicate.
        assert_eq!(feed(&mut s, &mut t, from, 7, &seqs), 8);
        let st = s.stats();
        assert_eq!(st.packets_lost, 2);
        assert_eq!(st.late, 1);
        assert_eq!(st.duplicates, 1);
        let late = rtp(4, 4 * 160, 7, 0);
        let r = s.handle_packet(t, from, &late).unwrap().unwrap();
        assert!(r.late);
        assert_eq!(r.extended_sequence, 65536 + 4);
        assert_eq!(s.stats().packets_lost, 1);
    }

    #[test]
    fn jitter_in_ms_from_arrival_times() {
        let t0 = Instant::now();
        let mut c = config();
        c.min_sequential = 1;
        let mut s = session(c, t0, 1);
        let from = addr("10.0.0.2:4000");
        // Transit in ms: 0, 1.25, 0, 2.5 → in 8 kHz units 0, 10, 0, 20 (the stats.rs vector).
        for (i, extra_us) in [0u64, 1250, 0, 2500].into_iter().enumerate() {
            let at = t0 + Duration::from_millis(20 * i as u64) + Duration::from_micros(extra_us);
            s.handle_packet(at, from, &rtp(i as u16, 160 * i as u32, 7, 0))
                .unwrap();
        }
        let st = s.stats();
        assert!(
            (st.jitter_ms - 2.385_253_906_25 / 8.0).abs() < 1e-9,
            "{}",
            st.jitter_ms
        );
        assert!((st.max_jitter_ms - st.jitter_ms).abs() < 1e-12);
        let mean = (0.625 + 1.210_937_5 + 2.385_253_906_25) / 3.0 / 8.0;
        assert!((st.mean_jitter_ms - mean).abs() < 1e-9);
    }

    fn rtcp_schedule(seed: u64, reports: usize) -> Vec<Duration> {
        let t0 = Instant::now();
        let mut c = config();
        c.inactivity_timeout = None;
        let mut s = session(c, t0, seed);
        let mut buf = [0u8; 1500];
        let mut last = t0;
        let mut gaps = Vec::new();
        while gaps.len() < reports {
            let at = s.poll_timeout().unwrap();
            s.handle_timeout(at);
            let tx = s.poll_transmit(&mut buf).unwrap();
            assert_eq!(tx.channel, Channel::Rtcp);
            assert_eq!(tx.destination, addr("10.0.0.2:4001"));
            gaps.push(at - last);
            last = at;
        }
        gaps
    }

    #[test]
    fn rtcp_interval_is_randomised_within_bounds_and_deterministic() {
        let mut min = Duration::MAX;
        let mut max = Duration::ZERO;
        for seed in 0..50 {
            let gaps = rtcp_schedule(seed, 20);
            let first = gaps[0];
            assert!(first >= Duration::from_millis(1250) && first < Duration::from_millis(3750));
            for g in &gaps[1..] {
                assert!(*g >= Duration::from_millis(2500) && *g < Duration::from_millis(7500));
                min = min.min(*g);
                max = max.max(*g);
            }
            assert_eq!(gaps, rtcp_schedule(seed, 20));
        }
        // The spread is really used, not a constant.
        assert!(min < Duration::from_millis(3000) && max > Duration::from_millis(7000));
        assert_ne!(rtcp_schedule(1, 5), rtcp_schedule(2, 5));
    }

    #[test]
    fn inactivity_timeout_fires_once_and_rearms_on_media() {
        let t0 = Instant::now();
        let mut c = config();
        c.inactivity_timeout = Some(Duration::from_secs(10));
        c.rtcp_interval = Duration::from_secs(600);
        c.min_sequential = 1;
        let mut s = session(c, t0, 1);
        s.handle_timeout(t0 + Duration::from_millis(9999));
        assert!(events(&mut s).is_empty());
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        s.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(
            events(&mut s),
            [Event::Inactive {
                silent_for: Duration::from_secs(10)
            }]
        );
        s.handle_timeout(t0 + Duration::from_secs(11));
        assert!(events(&mut s).is_empty());
        // Media resumes, then stops again.
        let t1 = t0 + Duration::from_secs(12);
        s.handle_packet(t1, addr("10.0.0.2:4000"), &rtp(1, 0, 7, 0))
            .unwrap();
        events(&mut s);
        assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(10)));
        s.handle_timeout(t1 + Duration::from_secs(10));
        assert!(matches!(events(&mut s)[..], [Event::Inactive { .. }]));
        // On hold the actor disables it.
        s.set_inactivity_timeout(t1, None);
        s.handle_timeout(t1 + Duration::from_secs(100));
        assert!(!events(&mut s)
            .iter()
            .any(|e| matches!(e, Event::Inactive { .. })));
    }

    #[test]
    fn sender_report_timestamp_is_extrapolated_from_the_last_frame() {
        let t0 = Instant::now();
        let mut s = session(config(), t0, 3);
        let mut out = [0u8; 1500];
        let ts0 = s.sender().timestamp();
        for i in 0..10 {
            s.send_frame(
                t0 + Duration::from_millis(20 * i),
                Some(&[0; 160]),
                160,
                &mut out,
            )
            .unwrap();
        }
        let at = t0 + Duration::from_millis(180 + 25);
        s.close(at);
        let tx = s.poll_transmit(&mut out).unwrap();
        let packets: Vec<_> = parse_compound(&out[..tx.len])
            .collect::<Result<_, _>>()
            .unwrap();
        let RtcpPacket::SenderReport(sr) = &packets[0] else {
            panic!("{packets:?}")
        };
        assert_eq!(sr.ssrc, s.ssrc());
        assert_eq!(sr.info.rtp_timestamp, ts0.wrapping_add(9 * 160 + 200));
        assert_eq!(sr.info.packet_count, 10);
        assert_eq!(sr.info.octet_count, 1600);
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(205);
        assert_eq!(sr.info.ntp_timestamp, ntp_timestamp(wall));
        assert!(matches!(&packets[1], RtcpPacket::Sdes(_)));
        assert!(matches!(&packets[2], RtcpPacket::Bye(_)));
        // Closed: nothing more goes out.
        assert!(s
            .send_frame(at, Some(&[0; 160]), 160, &mut out)
            .unwrap()
            .is_none());
        s.handle_timeout(at + Duration::from_secs(30));
        assert!(s.poll_transmit(&mut out).is_none());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn rtcp_mux_demultiplexes_and_reports_to_the_rtp_address() {
        let t0 = Instant::now();
        let mut c = config();
        c.rtcp_mux = true;
        c.min_sequential = 1;
        let mut s = session(c, t0, 1);
        let from = addr("10.0.0.2:4000");
        s.handle_packet(t0, from, &rtp(1, 0, 7, 0)).unwrap();
        let mut buf = [0u8; 64];
        let mut w = RtcpWriter::new(&mut buf);
        w.bye(&[7], None).unwrap();
        let len = w.finish();
        assert!(s.handle_packet(t0, from, &buf[..len]).unwrap().is_none());
        assert!(events(&mut s).contains(&Event::Bye { ssrc: 7 }));
        let at = s.poll_timeout().unwrap();
        s.handle_timeout(at);
        let mut out = [0u8; 1500];
        let tx = s.poll_transmit(&mut out).unwrap();
        assert_eq!(tx.destination, from);
        assert_eq!(tx.channel, Channel::Rtcp);
    }

    #[test]
    fn frames_without_a_destination_are_not_counted() {
        let t0 = Instant::now();
        let mut c = config();
        c.remote = None;
        let mut s = session(c, t0, 1);
        let mut out = [0u8; 1500];
        let ts = s.sender().timestamp();
        assert!(s
            .send_frame(t0, Some(&[0; 160]), 160, &mut out)
            .unwrap()
            .is_none());
        assert_eq!(s.stats().packets_sent, 0);
        assert_eq!(s.sender().timestamp(), ts.wrapping_add(160));
    }

    #[test]
    fn dtmf_goes_out_through_the_session() {
        let t0 = Instant::now();
        let mut s = session(config(), t0, 1);
        let mut out = [0u8; 1500];
        s.send_dtmf(0, 320, 10).unwrap();
        let mut kinds = Vec::new();
        for i in 0..6 {
            let tx = s
                .send_frame(
                    t0 + Duration::from_millis(20 * i),
                    Some(&[0; 160]),
                    160,
                    &mut out,
                )
                .unwrap()
                .unwrap();
            kinds.push(RtpPacket::parse(&out[..tx.len]).unwrap().payload_type);
        }
        assert_eq!(kinds, [101, 101, 101, 101, 0, 0]);
    }

    /// Two sessions talking over a virtual network with a fixed one-way delay and loss.
    #[test]
    fn two_peers_exchange_reports_with_rtt_and_loss() {
        let t0 = Instant::now();
        let a_addr = addr("10.0.0.1:4000");
        let b_addr = addr("10.0.0.2:5000");
        let mut ca = config();
        ca.remote = Some(b_addr);
        ca.ssrc = Some(0xaaaa);
        let mut cb = config();
        cb.remote = Some(a_addr);
        cb.ssrc = Some(0xbbbb);
        let mut peers = [session(ca, t0, 11), session(cb, t0, 22)];
        let addrs = [a_addr, b_addr];
        let delay = Duration::from_millis(30);
        // (deliver at, to peer, from address, channel, bytes)
        let mut wire: Vec<(Instant, usize, SocketAddr, Channel, Vec<u8>)> = Vec::new();
        let mut out = [0u8; 1500];
        let mut sent_by_a = 0u32;
        let mut reports = [Vec::new(), Vec::new()];
        for ms in 0..12_000u64 {
            let now = t0 + Duration::from_millis(ms);
            let (due, later): (Vec<_>, Vec<_>) = wire.drain(..).partition(|w| w.0 <= now);
            wire = later;
            for (_, to, from, channel, bytes) in due {
                match channel {
                    Channel::Rtp => {
                        peers[to].handle_packet(now, from, &bytes).unwrap();
                    }
                    Channel::Rtcp => peers[to].handle_rtcp(now, from, &bytes).unwrap(),
                }
            }
            for i in 0..2 {
                if ms % 20 == 0 {
                    if let Some(tx) = peers[i]
                        .send_frame(now, Some(&[0x55; 160]), 160, &mut out)
                        .unwrap()
                    {
                        // Every 10th packet from A is lost.
                        if i == 0 {
                            sent_by_a += 1;
                        }
                        if !(i == 0 && sent_by_a.is_multiple_of(10)) {
                            wire.push((
                                now + delay,
                                1 - i,
                                addrs[i],
                                tx.channel,
                                out[..tx.len].to_vec(),
                            ));
                        }
                    }
                }
                if peers[i].poll_timeout().is_some_and(|t| t <= now) {
                    peers[i].handle_timeout(now);
                }
                while let Some(tx) = peers[i].poll_transmit(&mut out) {
                    assert_eq!(tx.destination.port(), addrs[1 - i].port() + 1);
                    let mut from = addrs[i];
                    from.set_port(from.port() + 1);
                    wire.push((now + delay, 1 - i, from, tx.channel, out[..tx.len].to_vec()));
                }
                while let Some(e) = peers[i].poll_event() {
                    if let Event::ReportReceived { .. } = e {
                        reports[i].push(e);
                    }
                }
            }
        }
        // B lost every 10th of A's packets: about 10 %.
        let b = peers[1].stats();
        assert_eq!(b.remote_ssrc, Some(0xaaaa));
        assert_eq!(b.latched, Some(a_addr));
        let expected_lost = u64::from(sent_by_a / 10);
        assert!(
            b.packets_lost.abs_diff(expected_lost) <= 1,
            "{} vs {expected_lost}",
            b.packets_lost
        );
        assert_eq!(b.jitter_ms, 0.0);
        // A heard about it, with an RTT of twice the one-way delay.
        assert!(reports[0].len() >= 2, "{:?}", reports[0]);
        let Some(Event::ReportReceived {
            fraction_lost,
            cumulative_lost,
            rtt,
            ..
        }) = reports[0].last()
        else {
            panic!()
        };
        assert!((20..=32).contains(fraction_lost), "{fraction_lost}");
        assert!(*cumulative_lost > 0);
        let rtt = rtt.unwrap();
        assert!(
            rtt.abs_diff(2 * delay) < Duration::from_millis(1),
            "{rtt:?}"
        );
        assert_eq!(peers[0].stats().rtt, Some(rtt));
        // B's stream had no loss.
        assert_eq!(peers[0].stats().packets_lost, 0);
    }
}
