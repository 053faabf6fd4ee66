//! The storm's event loop: one thread, one SIP socket, one RTP socket, one timer wheel.
//!
//! Why it is cheap: every call lives in one of [`SLOTS`] wheel slots of [`TICK`], and the
//! wheel turns one slot per tick, so each call is visited exactly once per 20 ms — that visit
//! sends its next RTP packet and checks all of its timers (retransmission, hold time,
//! deadlines). There is no timer per call and no per-packet allocation: packets are
//! rewritten in each call's own buffer and received into one shared buffer. All calls share
//! one RTP socket: the SDP offers all name it, and the node's packets are told apart by their
//! source port (the node sends each call from the port it answered with), looked up in a
//! 65,536-entry table.
//!
//! Only the SIP socket wakes the loop (setup latency is measured to the packet); the RTP
//! socket is drained once per tick. Waking for every media packet cost more in context
//! switches than any other single cost (perf: 21 % of the storm's samples in
//! `finish_task_switch` at 200 calls), and the tick bounds what it adds to the media round
//! trip measured.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};
use voxgate_engine::rtp::packet::is_rtcp;
use voxgate_engine::sdp::{
    build_offer, process_answer, AnswerPolicy, CodecKind, Direction, LocalMedia,
    SessionDescription, SrtpPolicy,
};
use voxgate_engine::sip::message::{parse, Limits, Method, Request, Response, SipMessage};

use crate::call::{Call, Failure, Phase, T1, T2};
use crate::driver::{drive, Load, Slots, HANDBACK_WAIT, HANGUP_TIMEOUT};
use crate::media::{Media, Received, Source};
use crate::report::{Report, Stats};
use crate::signature::{FrameTemplate, Law};
use crate::sip::{Dialog, Endpoint};
use crate::sip_link::{SipLink, Transport};
use crate::talkdesk::TalkdeskOptions;
use crate::tones::OpusBank;
use crate::StormError;

/// Socket buffers asked for (the kernel caps them at net.core.[rw]mem_max).
const SOCKET_BUFFER: usize = 8 << 20;
/// The digit the builtin bot escalates on.
const ESCALATE_DIGIT: char = '0';
/// No call slot (in the by-port table).
const NONE: u32 = u32::MAX;

const SIP: Token = Token(0);

/// What each call of a storm is.
#[derive(Debug, Clone)]
pub enum Mode {
    /// A SIP call (over UDP or TCP) with RTP media; `target` is the node's or proxy's SIP
    /// address.
    Sip,
    /// A Talkdesk voice stream (WebSocket); `target` is the node's HTTP address.
    Talkdesk(TalkdeskOptions),
}

/// The codec a storm's SIP calls offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// PCMU or PCMA, frames signed per call and frame.
    G711(Law),
    /// Opus, a tone pair per call.
    Opus,
}

/// What a storm does.
#[derive(Debug, Clone)]
pub struct Options {
    /// What each call is.
    pub mode: Mode,
    /// Node or proxy address: SIP in SIP mode, HTTP in Talkdesk mode.
    pub target: SocketAddr,
    /// The SIP transport (SIP mode).
    pub transport: Transport,
    /// Most calls in progress at once.
    pub max_concurrent: usize,
    /// New calls per second.
    pub rate: f64,
    /// How long new calls are started.
    pub duration: Duration,
    /// Stop after this many calls (whatever `duration` says).
    pub total: Option<u64>,
    /// How long an answered call lasts before it hangs up or presses the digit.
    pub hold: Duration,
    /// Share of calls (0..=1) that press the escalation digit.
    pub escalate_share: f64,
    /// The codec offered.
    pub codec: Codec,
    /// Dialled number.
    pub did: String,
    /// Local address to bind (its IP goes into Via, Contact and SDP).
    pub local_ip: IpAddr,
    /// How long a call may wait for its final response.
    pub setup_timeout: Duration,
    /// The header carrying the node's BYE reason.
    pub reason_header: String,
    /// The reason an escalating call expects.
    pub escalate_reason: String,
    /// The node's pid, to report its CPU and memory.
    pub node_pid: Option<u32>,
    /// A bare UDP echo that gets a copy of every RTP packet sent (its replies are drained and
    /// counted), to compare CPU per packet in one run.
    pub echo_target: Vec<SocketAddr>,
    /// The echo's pid, to report its CPU.
    pub echo_pid: Option<u32>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Options {
    /// Calls the run will start at most, for the progress bar.
    pub(crate) fn expected_calls(&self) -> u64 {
        let by_time = (self.rate * self.duration.as_secs_f64()).ceil() as u64;
        self.total.map_or(by_time, |t| t.min(by_time.max(1)))
    }

    /// Whether call number `n` (0-based) escalates: spread evenly, exactly the share.
    pub(crate) fn escalates(&self, n: u64) -> bool {
        let p = self.escalate_share.clamp(0.0, 1.0);
        ((n + 1) as f64 * p).floor() > (n as f64 * p).floor()
    }
}

fn udp_socket(ip: IpAddr) -> Result<UdpSocket, StormError> {
    let socket = Socket::new(
        Domain::for_address(SocketAddr::new(ip, 0)),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // Best effort: a smaller buffer only means loss shows up sooner under load.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.bind(&SocketAddr::new(ip, 0).into())?;
    socket.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(StdUdpSocket::from(socket)))
}

/// Sends one RTP packet; `false` when the socket's buffer was full or the peer refused it
/// (the packet is lost, which the receiver's sequence numbers show).
fn send_rtp(socket: &UdpSocket, packet: &[u8], to: SocketAddr) -> Result<bool, StormError> {
    match socket.send_to(packet, to) {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// The running storm.
struct Storm {
    opts: Options,
    endpoint: Endpoint,
    source: Source,
    sip: SipLink,
    rtp: UdpSocket,
    rtp_port: u16,
    run_id: u32,
    /// Calls by slot; a finished call's slot is reused.
    calls: Slots<Call>,
    /// Call slot by the node's RTP source port.
    by_port: Vec<u32>,
    poll: Poll,
    events: Events,
    stats: Stats,
    buf: Vec<u8>,
    /// Socket and addresses of the bare UDP echo (or relays) the RTP is mirrored to.
    mirror: Option<(UdpSocket, Vec<SocketAddr>)>,
}

/// Runs a storm to its end and reports.
pub fn run(opts: Options) -> Result<Report, StormError> {
    if opts.rate.is_nan() || opts.rate <= 0.0 || opts.max_concurrent == 0 {
        return Err(StormError::Options("--rate and --calls must be positive"));
    }
    if let Mode::Talkdesk(td) = &opts.mode {
        let td = td.clone();
        return crate::talkdesk::run(opts, td);
    }
    let sip = match opts.transport {
        Transport::Udp => SipLink::Udp {
            socket: udp_socket(opts.local_ip)?,
            target: opts.target,
        },
        Transport::Tcp => SipLink::connect_tcp(opts.target)?,
    };
    let rtp = udp_socket(opts.local_ip)?;
    let endpoint = Endpoint {
        local: sip.local_addr()?,
        target: opts.target,
        did: opts.did.clone(),
        transport: opts.transport,
    };
    let rtp_port = rtp.local_addr()?.port();
    let mirror = if opts.echo_target.is_empty() {
        None
    } else {
        Some((udp_socket(opts.local_ip)?, opts.echo_target.clone()))
    };
    let mut storm = Storm {
        source: match opts.codec {
            Codec::G711(law) => Source::Signed(FrameTemplate::new(law)),
            Codec::Opus => Source::Tones(OpusBank::new()?),
        },
        endpoint,
        sip,
        rtp,
        rtp_port,
        run_id: std::process::id(),
        calls: Slots::new(),
        by_port: vec![NONE; 1 << 16],
        poll: Poll::new()?,
        events: Events::with_capacity(16),
        stats: Stats::default(),
        buf: vec![0u8; 65_536],
        mirror,
        opts,
    };
    storm.sip.register(storm.poll.registry(), SIP)?;
    let opts = storm.opts.clone();
    let mut report = drive(&mut storm, &opts)?;
    report.transport = match opts.transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    Ok(report)
}

impl Load for Storm {
    type Call = Call;

    fn wait(&mut self, until: Instant) -> Result<(), StormError> {
        let timeout = until.saturating_duration_since(Instant::now());
        self.poll.poll(&mut self.events, Some(timeout))?;
        self.sip.flush(self.poll.registry())?;
        self.drain_sip()?;
        self.drain_rtp()
    }

    fn start_call(&mut self, now: Instant) -> Result<(u32, u64), StormError> {
        self.place_call(now)
    }

    fn visit(&mut self, idx: u32, now: Instant) -> Result<(), StormError> {
        self.visit_call(idx, now)
    }

    fn slots(&self) -> &Slots<Call> {
        &self.calls
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn abandon(&mut self, slot: u32, now: Instant) {
        // finish only fails on socket errors, and it sends nothing.
        let _ = self.finish(slot, Err(Failure::Unfinished), now);
    }
}

impl Storm {
    fn place_call(&mut self, now: Instant) -> Result<(u32, u64), StormError> {
        let n = self.stats.attempted;
        self.stats.attempted += 1;
        let (slot, serial) = self.calls.reserve();
        let call_id = format!("{serial}.{slot}.{}@storm", self.run_id);
        let codec = match self.opts.codec {
            Codec::G711(Law::Ulaw) => CodecKind::Pcmu,
            Codec::G711(Law::Alaw) => CodecKind::Pcma,
            Codec::Opus => CodecKind::Opus,
        };
        let policy = AnswerPolicy {
            codecs: vec![codec],
            telephone_event: true,
            opus_fmtp: None,
            rtcp_mux: true,
            local: LocalMedia {
                address: self.opts.local_ip,
                rtp_port: self.rtp_port,
                session_id: serial,
                session_version: 1,
            },
            srtp: SrtpPolicy::Off,
        };
        let offer = build_offer(&policy, Direction::SendRecv)
            .map_err(|e| StormError::Offer(e.to_string()))?;
        let invite = self.endpoint.invite(&call_id, offer.to_bytes()).to_bytes();
        self.send_sip(&invite)?;
        let call = Call {
            serial,
            call_id,
            escalate: self.opts.escalates(n),
            phase: Phase::Calling,
            invited_at: now,
            answered_at: None,
            deadline: now + self.opts.setup_timeout,
            retransmit_at: now + T1,
            retransmit_every: T1,
            hold_until: now,
            invite,
            offer,
            dialog: Dialog::default(),
            ack: Vec::new(),
            bye: Vec::new(),
            media: None,
        };
        self.calls.put(slot, call, &mut self.stats);
        Ok((slot, serial))
    }

    fn send_sip(&mut self, bytes: &[u8]) -> Result<(), StormError> {
        self.sip.send(bytes, self.poll.registry())
    }

    /// Whether requests are retransmitted (UDP only: a stream delivers them or fails).
    fn retransmits(&self) -> bool {
        self.sip.transport() == Transport::Udp
    }

    /// The call's 20 ms visit: its RTP packet and its timers.
    fn visit_call(&mut self, idx: u32, now: Instant) -> Result<(), StormError> {
        let retransmits = self.retransmits();
        let Some(call) = self.calls.calls[idx as usize].as_mut() else {
            return Ok(());
        };
        match call.phase {
            Phase::Calling | Phase::Ringing => {
                if now >= call.deadline {
                    return self.finish(idx, Err(Failure::SetupTimeout), now);
                }
                if call.phase == Phase::Calling
                    && retransmits
                    && call.retransmit_due(now, Duration::MAX)
                {
                    let invite = std::mem::take(&mut call.invite);
                    self.send_sip(&invite)?;
                    if let Some(call) = self.calls.calls[idx as usize].as_mut() {
                        call.invite = invite;
                    }
                }
            }
            Phase::Up | Phase::AwaitingBye => {
                if call.phase == Phase::AwaitingBye && now >= call.deadline {
                    return self.finish(idx, Err(Failure::NoBye), now);
                }
                if call.phase == Phase::Up && now >= call.hold_until {
                    if call.escalate {
                        let Some(media) = call.media.as_mut().filter(|m| m.can_dtmf()) else {
                            return self.finish(idx, Err(Failure::NoTelephoneEvent), now);
                        };
                        media.press(ESCALATE_DIGIT);
                        call.phase = Phase::AwaitingBye;
                        call.deadline = now + HANDBACK_WAIT;
                    } else {
                        call.bye = self.endpoint.bye(&call.call_id, &call.dialog);
                        call.phase = Phase::Hanging;
                        call.deadline = now + HANGUP_TIMEOUT;
                        call.arm_retransmit(now);
                        let bye = std::mem::take(&mut call.bye);
                        self.send_sip(&bye)?;
                        if let Some(call) = self.calls.calls[idx as usize].as_mut() {
                            call.bye = bye;
                        }
                        return Ok(());
                    }
                }
                if let Some(media) = call.media.as_mut() {
                    let remote = media.remote;
                    let packet = media.next_packet(&self.source, now);
                    send_rtp(&self.rtp, packet, remote)?;
                    self.stats.frames_sent_now += 1;
                    if let Some((socket, targets)) = &self.mirror {
                        // Not empty (see run); the call's serial picks its target.
                        let to = targets[(call.serial % targets.len() as u64) as usize];
                        if send_rtp(socket, packet, to)? {
                            self.stats.echo.sent += 1;
                        }
                    }
                }
            }
            Phase::Hanging => {
                if now >= call.deadline {
                    return self.finish(idx, Err(Failure::ByeTimeout), now);
                }
                if retransmits && call.retransmit_due(now, T2) {
                    let bye = std::mem::take(&mut call.bye);
                    self.send_sip(&bye)?;
                    if let Some(call) = self.calls.calls[idx as usize].as_mut() {
                        call.bye = bye;
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends a call: counts it and frees its slot.
    fn finish(
        &mut self,
        idx: u32,
        verdict: Result<(), Failure>,
        now: Instant,
    ) -> Result<(), StormError> {
        let Some(call) = self.calls.take(idx) else {
            return Ok(());
        };
        if let Some(answered) = call.answered_at {
            self.stats.call_seconds += now.saturating_duration_since(answered).as_secs_f64();
        }
        if let Some(m) = &call.media {
            self.stats.add_media(m);
            let port = usize::from(m.remote.port());
            if self.by_port[port] == idx {
                self.by_port[port] = NONE;
            }
        }
        let verdict = verdict.and_then(|()| call.media_verdict());
        self.stats.count(verdict, call.escalate);
        Ok(())
    }

    /// Counts what the bare UDP echo sent back.
    fn drain_mirror(&mut self) -> Result<(), StormError> {
        let Some((socket, _)) = &self.mirror else {
            return Ok(());
        };
        loop {
            match socket.recv_from(&mut self.buf) {
                Ok(_) => self.stats.echo.received += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn drain_rtp(&mut self) -> Result<(), StormError> {
        self.drain_mirror()?;
        loop {
            let (n, from) = match self.rtp.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e.into()),
            };
            let idx = self.by_port[usize::from(from.port())];
            if idx == NONE || is_rtcp(&self.buf[..n]) {
                continue;
            }
            let Some(media) = self.calls.calls[idx as usize]
                .as_mut()
                .and_then(|c| c.media.as_mut())
                .filter(|m| m.remote == from)
            else {
                continue;
            };
            if let Received::Echo { rtt: Some(rtt) } =
                media.on_packet(&self.source, &self.buf[..n], Instant::now())
            {
                self.stats.rtt(rtt);
            }
        }
    }

    fn drain_sip(&mut self) -> Result<(), StormError> {
        loop {
            let Some(n) = self.sip.next_message(&mut self.buf, self.poll.registry())? else {
                return Ok(());
            };
            // Anything that does not parse is not ours to answer: a UAC ignores it.
            let Ok(msg) = parse(&self.buf[..n], &Limits::DEFAULT) else {
                continue;
            };
            match msg {
                SipMessage::Response(r) => self.on_response(&r)?,
                SipMessage::Request(r) => self.on_request(&r)?,
            }
        }
    }

    /// The live call a Call-ID of ours names (`serial.slot.run@storm`).
    fn call_of(&self, call_id: &str) -> Option<u32> {
        let mut parts = call_id.split(['.', '@']);
        let serial: u64 = parts.next()?.parse().ok()?;
        let slot: u32 = parts.next()?.parse().ok()?;
        let run: u32 = parts.next()?.parse().ok()?;
        let call = self.calls.calls.get(slot as usize)?.as_ref()?;
        (run == self.run_id && call.serial == serial).then_some(slot)
    }

    fn on_response(&mut self, r: &Response) -> Result<(), StormError> {
        let (Ok(call_id), Ok(cseq)) = (r.call_id(), r.cseq()) else {
            return Ok(());
        };
        let Some(idx) = self.call_of(call_id) else {
            return Ok(());
        };
        let now = Instant::now();
        let Some(call) = self.calls.calls[idx as usize].as_mut() else {
            return Ok(());
        };
        match (cseq.method, r.status) {
            (Method::Invite, 100..=199) if call.phase == Phase::Calling => {
                call.phase = Phase::Ringing;
            }
            // A late or retransmitted provisional after that changes nothing.
            (Method::Invite, 100..=199) => {}
            (Method::Invite, 200..=299) => {
                if call.answered_at.is_some() {
                    // A retransmitted 2xx: our ACK was lost or is still on its way.
                    let ack = std::mem::take(&mut call.ack);
                    self.send_sip(&ack)?;
                    if let Some(call) = self.calls.calls[idx as usize].as_mut() {
                        call.ack = ack;
                    }
                    return Ok(());
                }
                call.answered_at = Some(now);
                let setup = now.saturating_duration_since(call.invited_at);
                call.dialog = Dialog::from_2xx(r, &self.endpoint);
                call.ack = self.endpoint.ack_2xx(&call.call_id, &call.dialog);
                let ack = std::mem::take(&mut call.ack);
                self.stats.setup(setup);
                self.send_sip(&ack)?;
                let Some(call) = self.calls.calls[idx as usize].as_mut() else {
                    return Ok(());
                };
                call.ack = ack;
                let negotiated = SessionDescription::parse(&r.body)
                    .ok()
                    .and_then(|answer| process_answer(&call.offer, &answer).ok());
                let Some((neg, remote)) =
                    negotiated.and_then(|n| n.remote_rtp.map(|remote| (n, remote)))
                else {
                    // Answered but unusable: hang up so the node does not hold it.
                    call.bye = self.endpoint.bye(&call.call_id, &call.dialog);
                    let bye = std::mem::take(&mut call.bye);
                    self.send_sip(&bye)?;
                    return self.finish(idx, Err(Failure::BadAnswer), now);
                };
                let tag = (call.serial & 0xFFFF) as u16;
                let event = neg
                    .telephone_event
                    .as_ref()
                    .map(|e| (e.payload_type, e.clock_rate));
                call.media = Some(Media::for_source(
                    &self.source,
                    remote,
                    neg.codec.payload_type,
                    event,
                    tag,
                )?);
                call.phase = Phase::Up;
                call.hold_until = now + self.opts.hold;
                self.by_port[usize::from(remote.port())] = idx;
            }
            (Method::Invite, status) => {
                // A final failure: ACK it (hop by hop) so the node stops retransmitting.
                let answered = call.answered_at.is_some();
                if let Ok(SipMessage::Request(invite)) = parse(&call.invite, &Limits::DEFAULT) {
                    let ack = self.endpoint.ack_failure(&invite, r);
                    self.send_sip(&ack)?;
                }
                if !answered {
                    return self.finish(idx, Err(Failure::Status(status)), now);
                }
            }
            (Method::Bye, 200..=299) if call.phase == Phase::Hanging => {
                return self.finish(idx, Ok(()), now);
            }
            (Method::Bye, status) if status >= 300 && call.phase == Phase::Hanging => {
                return self.finish(idx, Err(Failure::ByeStatus(status)), now);
            }
            _ => {}
        }
        Ok(())
    }

    fn on_request(&mut self, r: &Request) -> Result<(), StormError> {
        let status = match r.method {
            Method::Ack => return Ok(()),
            // Re-offers are beyond a load generator: refuse them, the call goes on.
            Method::Invite => 488,
            _ => 200,
        };
        let reason = if status == 200 {
            "OK"
        } else {
            "Not Acceptable Here"
        };
        let response: Response = r.response(status, reason, None);
        self.send_sip(&response.to_bytes())?;
        if r.method != Method::Bye {
            return Ok(());
        }
        let Some(idx) = r.call_id().ok().and_then(|id| self.call_of(id)) else {
            return Ok(());
        };
        let now = Instant::now();
        let Some(call) = self.calls.calls[idx as usize].as_ref() else {
            return Ok(());
        };
        let reason = r.headers.get_named(&self.opts.reason_header);
        let verdict = match call.phase {
            Phase::AwaitingBye if reason == Some(self.opts.escalate_reason.as_str()) => Ok(()),
            Phase::AwaitingBye => Err(Failure::WrongByeReason),
            // Both sides hung up at once: the call ended as planned.
            Phase::Hanging => Ok(()),
            _ => Err(Failure::UnexpectedBye),
        };
        self.finish(idx, verdict, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(share: f64) -> Options {
        Options {
            mode: Mode::Sip,
            target: "127.0.0.1:5060".parse().unwrap(),
            transport: Transport::Udp,
            max_concurrent: 10,
            rate: 10.0,
            duration: Duration::from_secs(2),
            total: None,
            hold: Duration::from_secs(1),
            escalate_share: share,
            codec: Codec::G711(Law::Ulaw),
            did: "+1".into(),
            local_ip: "127.0.0.1".parse().unwrap(),
            setup_timeout: Duration::from_secs(1),
            reason_header: "kore-reason".into(),
            escalate_reason: "TransferToAgent".into(),
            node_pid: None,
            echo_target: Vec::new(),
            echo_pid: None,
            progress: false,
        }
    }

    #[test]
    fn escalation_share_is_exact_and_spread() {
        let o = opts(0.25);
        let picks: Vec<bool> = (0..8).map(|n| o.escalates(n)).collect();
        assert_eq!(picks.iter().filter(|&&p| p).count(), 2);
        assert_eq!(
            picks,
            [false, false, false, true, false, false, false, true]
        );
        assert!((0..100).all(|n| !opts(0.0).escalates(n)));
        assert!((0..100).all(|n| opts(1.0).escalates(n)));
        assert_eq!(opts(0.5).expected_calls(), 20);
    }
}
