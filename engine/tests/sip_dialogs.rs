//! Two SIP peers on virtual time, wired by a lossy in-memory link (seeded, so every run is the
//! same): a UAC core and a UAS core built from `TransactionLayer` + `DialogLayer`, running
//! INVITE/200/ACK/BYE, CANCEL/487 and re-INVITE. Each side must see every request exactly once
//! at the TU however many retransmissions the loss caused, and end in the right states.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use voxgate_engine::sip::dialog::{new_tag, DialogEvent, DialogId, DialogLayer, LocalEndpoint};
use voxgate_engine::sip::message::{HeaderName, Method, Request, Response, SipMessage};
use voxgate_engine::sip::transaction::{
    new_branch, Destination, TimerConfig, TransactionKey, TransactionLayer, TransportInfo,
    TransportKind, TuEvent,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// INVITE → 180 → 200 → ACK, then BYE → 200.
    Call,
    /// INVITE → 180, the UAC cancels → 200 (CANCEL), 487 → ACK.
    Cancel,
    /// The UAC cancels before any provisional; the CANCEL waits for the 100.
    CancelAtOnce,
    /// A call, then a re-INVITE with a new Contact, then BYE.
    ReInvite,
}

#[derive(Debug)]
enum Todo {
    Answer200,
    SendBye,
    SendReInvite,
}

/// What the TU of a peer saw.
#[derive(Debug, Default)]
struct Log {
    requests: Vec<Method>,
    responses: Vec<(Method, u16)>,
    /// ACKs that acknowledged a 2xx we were retransmitting.
    acks: usize,
    cancels: usize,
    timeouts: usize,
    ack_timeouts: usize,
    /// The remote target of the dialog when its BYE arrived.
    target_at_bye: Option<String>,
    /// In-dialog BYEs or re-INVITEs that arrived while our 2xx still waited for its ACK (every
    /// ACK was lost; the peer's next request shows it got the 2xx).
    superseded_2xx: usize,
}

impl Log {
    fn count_responses(&self, m: &Method, status: u16) -> usize {
        self.responses
            .iter()
            .filter(|(rm, s)| rm == m && *s == status)
            .count()
    }
}

struct Peer {
    addr: SocketAddr,
    peer_addr: SocketAddr,
    tx: TransactionLayer,
    dialogs: DialogLayer,
    rng: StdRng,
    local: LocalEndpoint,
    scenario: Scenario,
    todo: Vec<(Instant, Todo)>,
    log: Log,
    /// Requests we sent, by client transaction.
    sent: HashMap<TransactionKey, Request>,
    /// UAC: the dialog, and the CSeq numbers of INVITEs whose 2xx we already acted on.
    dialog: Option<DialogId>,
    answered: Vec<u32>,
    cancel_sent: bool,
    /// UAS: the pending initial INVITE and our To tag.
    uas_invite: Option<(TransactionKey, Request, String)>,
}

impl Peer {
    fn new(
        addr: &str,
        peer_addr: &str,
        seed: u64,
        scenario: Scenario,
        kind: TransportKind,
    ) -> Peer {
        let addr: SocketAddr = addr.parse().unwrap();
        Peer {
            addr,
            peer_addr: peer_addr.parse().unwrap(),
            tx: TransactionLayer::new(TimerConfig::default()),
            dialogs: DialogLayer::new(TimerConfig::default()),
            rng: StdRng::seed_from_u64(seed),
            local: LocalEndpoint {
                transport: kind,
                sent_by: addr.to_string(),
                contact: format!("<sip:peer@{addr}>"),
            },
            scenario,
            todo: Vec::new(),
            log: Log::default(),
            sent: HashMap::new(),
            dialog: None,
            answered: Vec::new(),
            cancel_sent: false,
            uas_invite: None,
        }
    }

    fn dest(&self) -> Destination {
        Destination {
            kind: self.local.transport,
            addr: self.peer_addr,
            connection: None,
        }
    }

    fn send(&mut self, now: Instant, req: Request) -> TransactionKey {
        let key = self.tx.send_request(now, req.clone(), self.dest()).unwrap();
        self.sent.insert(key.clone(), req);
        key
    }

    fn start_call(&mut self, now: Instant) {
        let mut r = Request::new(Method::Invite, format!("sip:bot@{}", self.peer_addr));
        let branch = new_branch(&mut self.rng);
        let tag = new_tag(&mut self.rng);
        r.headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                self.local.transport.via_token(),
                self.addr
            ),
        );
        r.headers.push(HeaderName::MaxForwards, "70");
        r.headers.push(
            HeaderName::From,
            format!("<sip:caller@{}>;tag={tag}", self.addr),
        );
        r.headers
            .push(HeaderName::To, format!("<sip:bot@{}>", self.peer_addr));
        r.headers.push(HeaderName::CallId, format!("harness-{tag}"));
        r.headers.push(HeaderName::CSeq, "1 INVITE");
        r.headers
            .push(HeaderName::Contact, self.local.contact.clone());
        let key = self.send(now, r);
        if self.scenario == Scenario::CancelAtOnce {
            self.tx.cancel(now, &key).unwrap();
            self.cancel_sent = true;
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.tx.poll_timeout(),
            self.dialogs.poll_timeout(),
            self.todo.iter().map(|(at, _)| *at).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.dialogs.handle_timeout(now);
        let (due, later): (Vec<_>, Vec<_>) = self.todo.drain(..).partition(|(at, _)| *at <= now);
        self.todo = later;
        for (_, todo) in due {
            self.run_todo(now, &todo);
        }
    }

    /// Drains the TU events of both layers; returns whether there were any.
    fn process_events(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(ev) = self.tx.poll_event() {
            any = true;
            self.on_tx_event(now, ev);
        }
        while let Some(ev) = self.dialogs.poll_event() {
            any = true;
            match ev {
                DialogEvent::Retransmit2xx {
                    invite_key,
                    response,
                    ..
                } => {
                    // The IST may already be gone; then the retransmission is moot.
                    let _ = self.tx.send_response(now, &invite_key, response);
                }
                DialogEvent::AckTimeout { .. } => self.log.ack_timeouts += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        any
    }

    fn on_tx_event(&mut self, now: Instant, ev: TuEvent) {
        match ev {
            TuEvent::NewRequest { key, request, .. } => self.on_request(now, key, request),
            TuEvent::Response { key, response } => self.on_response(now, &key, &response),
            TuEvent::StrayInvite2xx { response } => {
                // Our INVITE transaction is gone but the UAS still retransmits: ACK again.
                self.ack_2xx(&response);
            }
            TuEvent::Ack { request, .. } => {
                if let Ok(Some(id)) = DialogId::for_incoming_request(&request) {
                    if self.dialogs.awaiting_ack(&id) {
                        self.log.acks += 1;
                    }
                }
                self.dialogs.handle_ack(&request);
            }
            TuEvent::CancelReceived { invite_key, .. } => {
                self.log.cancels += 1;
                let (_, invite, tag) = self.uas_invite.clone().unwrap();
                self.tx
                    .send_request_terminated(now, &invite_key, Some(&tag))
                    .unwrap();
                let r487 = invite.response(487, "Request Terminated", Some(&tag));
                let id = DialogId::for_incoming_response(&r487).unwrap().unwrap();
                // The dialog is keyed from our side: local = our To tag.
                let id = DialogId {
                    local_tag: id.remote_tag,
                    remote_tag: id.local_tag,
                    call_id: id.call_id,
                };
                self.dialogs
                    .get_mut(&id)
                    .unwrap()
                    .on_response_sent(&invite, &r487);
                self.dialogs.reap_terminated();
            }
            TuEvent::Timeout { .. } => self.log.timeouts += 1,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn with_contact(&self, mut resp: Response) -> Response {
        resp.headers
            .push(HeaderName::Contact, self.local.contact.clone());
        resp
    }

    // UAS side.
    fn on_request(&mut self, now: Instant, key: TransactionKey, req: Request) {
        self.log.requests.push(req.method.clone());
        let has_to_tag = req.to().unwrap().tag().is_some();
        match req.method {
            Method::Invite if !has_to_tag => {
                let tag = new_tag(&mut self.rng);
                let ringing = self.with_contact(req.response(180, "Ringing", Some(&tag)));
                self.tx.send_response(now, &key, ringing.clone()).unwrap();
                self.dialogs
                    .create_uas(&req, &ringing, self.local.clone())
                    .unwrap();
                if matches!(self.scenario, Scenario::Call | Scenario::ReInvite) {
                    self.todo
                        .push((now + Duration::from_millis(300), Todo::Answer200));
                }
                self.uas_invite = Some((key, req, tag));
            }
            _ => {
                let awaiting_ack = DialogId::for_incoming_request(&req)
                    .ok()
                    .flatten()
                    .is_some_and(|id| self.dialogs.awaiting_ack(&id));
                if matches!(req.method, Method::Bye | Method::Invite) && awaiting_ack {
                    self.log.superseded_2xx += 1;
                }
                let response = match self.dialogs.match_request(&req) {
                    Err(rejection) => rejection.response(&req),
                    Ok(dialog) => {
                        if req.method == Method::Bye {
                            self.log.target_at_bye = Some(dialog.remote_target().to_owned());
                        }
                        let mut ok = req.response(200, "OK", None);
                        if req.method == Method::Invite {
                            ok.headers
                                .push(HeaderName::Contact, self.local.contact.clone());
                        }
                        dialog.on_response_sent(&req, &ok);
                        if req.method == Method::Invite {
                            let id = dialog.id().clone();
                            self.dialogs.start_2xx_retransmission(
                                now,
                                id,
                                key.clone(),
                                ok.clone(),
                                false,
                            );
                        }
                        ok
                    }
                };
                self.tx.send_response(now, &key, response).unwrap();
                self.dialogs.reap_terminated();
            }
        }
    }

    fn run_todo(&mut self, now: Instant, todo: &Todo) {
        match todo {
            Todo::Answer200 => {
                let (key, invite, tag) = self.uas_invite.clone().unwrap();
                let ok = self.with_contact(invite.response(200, "OK", Some(&tag)));
                self.tx.send_response(now, &key, ok.clone()).unwrap();
                let id = self
                    .dialogs
                    .create_uas(&invite, &ok, self.local.clone())
                    .unwrap()
                    .id()
                    .clone();
                self.dialogs
                    .start_2xx_retransmission(now, id, key, ok, false);
            }
            Todo::SendBye => {
                let id = self.dialog.clone().unwrap();
                let bye = self
                    .dialogs
                    .get_mut(&id)
                    .unwrap()
                    .request(Method::Bye, &mut self.rng);
                self.send(now, bye);
            }
            Todo::SendReInvite => {
                let id = self.dialog.clone().unwrap();
                let dialog = self.dialogs.get_mut(&id).unwrap();
                dialog.set_local_contact(format!("<sip:moved@{}>", self.addr));
                let reinvite = dialog.request(Method::Invite, &mut self.rng);
                self.send(now, reinvite);
            }
        }
    }

    // UAC side.
    fn on_response(&mut self, now: Instant, key: &TransactionKey, resp: &Response) {
        let method = resp.cseq().unwrap().method;
        self.log.responses.push((method.clone(), resp.status));
        // CANCELs are sent by the transaction layer itself, so they are not in `sent`.
        let req = self.sent.get(key).cloned();
        match method {
            Method::Invite => {
                let req = req.unwrap();
                let has_tag = resp.to().unwrap().tag().is_some();
                if has_tag && (101..300).contains(&resp.status) {
                    let id = self
                        .dialogs
                        .create_uac(&req, resp, self.local.clone())
                        .unwrap()
                        .id()
                        .clone();
                    self.dialog = Some(id);
                } else if let Some(dialog) = self.dialogs.match_response(resp) {
                    dialog.on_response_received(&req, resp);
                }
                if resp.status < 200 && self.scenario == Scenario::Cancel && !self.cancel_sent {
                    self.tx.cancel(now, key).unwrap();
                    self.cancel_sent = true;
                }
                if (200..300).contains(&resp.status) {
                    self.ack_2xx(resp);
                    let seq = resp.cseq().unwrap().seq;
                    if !self.answered.contains(&seq) {
                        self.answered.push(seq);
                        let next = if self.scenario == Scenario::ReInvite && seq == 1 {
                            Todo::SendReInvite
                        } else {
                            Todo::SendBye
                        };
                        self.todo.push((now + Duration::from_secs(1), next));
                    }
                }
            }
            Method::Bye if resp.status >= 200 => {
                if let Some(id) = self.dialog.clone() {
                    self.dialogs.remove(&id);
                }
            }
            _ => {}
        }
        self.dialogs.reap_terminated();
    }

    fn ack_2xx(&mut self, resp: &Response) {
        let Some(dialog) = self.dialogs.match_response(resp) else {
            return;
        };
        let ack = dialog.ack(resp, &mut self.rng).unwrap();
        let dest = self.dest();
        self.tx.send_stateless(SipMessage::Request(ack), dest);
    }
}

/// An in-memory datagram link with seeded loss and jitter.
struct Link {
    rng: StdRng,
    loss: f64,
    in_flight: Vec<(Instant, usize, SocketAddr, SipMessage)>,
    sent: usize,
    dropped: usize,
    sent_invites: usize,
}

impl Link {
    fn send(&mut self, now: Instant, to: usize, from: SocketAddr, msg: SipMessage) {
        self.sent += 1;
        if matches!(&msg, SipMessage::Request(r) if r.method == Method::Invite) {
            self.sent_invites += 1;
        }
        if self.rng.gen_bool(self.loss) {
            self.dropped += 1;
            return;
        }
        let delay = Duration::from_millis(20 + self.rng.gen_range(0..15));
        self.in_flight.push((now + delay, to, from, msg));
    }

    fn next(&self) -> Option<Instant> {
        self.in_flight.iter().map(|(at, ..)| *at).min()
    }
}

struct Pair {
    start: Instant,
    now: Instant,
    peers: [Peer; 2],
    link: Link,
}

const UAC: usize = 0;
const UAS: usize = 1;

impl Pair {
    fn new(seed: u64, loss: f64, scenario: Scenario, kind: TransportKind) -> Pair {
        assert!(
            loss == 0.0 || !kind.is_reliable(),
            "a reliable transport loses nothing"
        );
        let (a, b) = ("192.0.2.1:5060", "192.0.2.2:5060");
        let start = Instant::now();
        Pair {
            start,
            now: start,
            peers: [
                Peer::new(a, b, seed, scenario, kind),
                Peer::new(b, a, seed ^ 0xabcdef, scenario, kind),
            ],
            link: Link {
                rng: StdRng::seed_from_u64(seed.wrapping_mul(31)),
                loss,
                in_flight: Vec::new(),
                sent: 0,
                dropped: 0,
                sent_invites: 0,
            },
        }
    }

    /// Moves transmits onto the link and events into the TUs until nothing is left.
    fn drain(&mut self) {
        loop {
            let mut progress = false;
            for i in 0..2 {
                let from = self.peers[i].addr;
                while let Some(t) = self.peers[i].tx.poll_transmit() {
                    progress = true;
                    assert_eq!(t.destination.addr, self.peers[1 - i].addr);
                    self.link.send(self.now, 1 - i, from, t.message);
                }
                progress |= self.peers[i].process_events(self.now);
            }
            if !progress {
                return;
            }
        }
    }

    /// Runs until nothing is scheduled any more (every transaction and timer ended).
    fn run_to_idle(&mut self) {
        self.drain();
        let limit = self.now + Duration::from_secs(300);
        loop {
            let next = [
                self.link.next(),
                self.peers[0].poll_timeout(),
                self.peers[1].poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else {
                return;
            };
            assert!(next < limit, "the pair never went idle");
            self.now = self.now.max(next);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = self
                .link
                .in_flight
                .drain(..)
                .partition(|(at, ..)| *at <= now);
            self.link.in_flight = later;
            for (_, to, from, msg) in due {
                let peer = &mut self.peers[to];
                let kind = peer.local.transport;
                let info = TransportInfo {
                    kind,
                    source: from,
                    local: peer.addr,
                    // One connection per direction is enough for the harness.
                    connection: kind.is_reliable().then_some(to as u64),
                };
                match msg {
                    SipMessage::Request(r) => peer.tx.handle_request(now, r, info).unwrap(),
                    SipMessage::Response(r) => peer.tx.handle_response(now, r).unwrap(),
                }
                self.drain();
            }
            for peer in &mut self.peers {
                peer.handle_timeout(now);
            }
            self.drain();
        }
    }
}

fn run(seed: u64, loss: f64, scenario: Scenario) -> Pair {
    run_over(seed, loss, scenario, TransportKind::Udp)
}

fn run_over(seed: u64, loss: f64, scenario: Scenario, kind: TransportKind) -> Pair {
    let mut pair = Pair::new(seed, loss, scenario, kind);
    let now = pair.now;
    pair.peers[UAC].start_call(now);
    pair.run_to_idle();
    for peer in &pair.peers {
        assert!(peer.tx.is_empty(), "transactions left: {:?}", peer.tx.len());
        assert_eq!(peer.log.timeouts, 0);
        assert_eq!(peer.log.ack_timeouts, 0);
    }
    pair
}

const SEEDS: std::ops::Range<u64> = 0..24;

#[test]
fn invite_200_ack_bye_over_a_lossy_link() {
    let (mut dropped, mut invites) = (0, 0);
    for seed in SEEDS {
        let pair = run(seed, 0.25, Scenario::Call);
        let (uac, uas) = (&pair.peers[UAC].log, &pair.peers[UAS].log);
        assert_eq!(
            uas.requests,
            vec![Method::Invite, Method::Bye],
            "seed {seed}"
        );
        // The ACK is end to end (no transaction absorbs it): the UAS core counts the one that
        // stopped its 2xx; if every ACK was lost, the peer's next request ends the wait instead.
        assert_eq!(uas.acks + uas.superseded_2xx, 1, "seed {seed}");
        assert!(uac.count_responses(&Method::Invite, 200) >= 1);
        assert_eq!(uac.count_responses(&Method::Bye, 200), 1, "seed {seed}");
        assert!(uac.count_responses(&Method::Invite, 180) <= 1);
        assert!(pair.peers[UAC].dialogs.is_empty());
        assert!(pair.peers[UAS].dialogs.is_empty());
        dropped += pair.link.dropped;
        invites += pair.link.sent_invites;
    }
    assert!(dropped > 20, "the link lost messages ({dropped})");
    assert!(invites > SEEDS.count(), "some INVITEs were retransmitted");
}

#[test]
fn same_seed_same_run() {
    let summary = |p: &Pair| {
        (
            p.link.sent,
            p.link.dropped,
            p.now.duration_since(p.start),
            p.peers[UAC].log.responses.clone(),
        )
    };
    for scenario in [Scenario::Call, Scenario::Cancel, Scenario::ReInvite] {
        let a = run(11, 0.3, scenario);
        let b = run(11, 0.3, scenario);
        assert_eq!(summary(&a), summary(&b), "{scenario:?}");
    }
}

#[test]
fn lossless_call_has_no_retransmissions() {
    let pair = run(1, 0.0, Scenario::Call);
    assert_eq!(pair.link.dropped, 0);
    assert_eq!(pair.link.sent_invites, 1);
    // INVITE, 100, 180, 200, ACK, BYE, 200.
    assert_eq!(pair.link.sent, 7);
    assert_eq!(
        pair.peers[UAC].log.responses,
        vec![
            (Method::Invite, 100),
            (Method::Invite, 180),
            (Method::Invite, 200),
            (Method::Bye, 200)
        ]
    );
}

#[test]
fn call_and_cancel_over_tcp() {
    let started = Instant::now();
    let pair = run_over(3, 0.0, Scenario::ReInvite, TransportKind::Tcp);
    assert_eq!(
        pair.peers[UAS].log.requests,
        vec![Method::Invite, Method::Invite, Method::Bye]
    );
    // INVITE, 100, 180, 200, ACK, re-INVITE, 100, 200, ACK, BYE, 200: nothing retransmitted.
    assert_eq!(pair.link.sent, 11);
    // Only Timers L and M (64·T1 even on reliable transports) outlive the call.
    assert!(pair.now.duration_since(started) < Duration::from_secs(40));
    let pair = run_over(3, 0.0, Scenario::Cancel, TransportKind::Tls);
    assert_eq!(pair.peers[UAS].log.cancels, 1);
    assert_eq!(pair.peers[UAC].log.count_responses(&Method::Invite, 487), 1);
    // INVITE, 100, 180, CANCEL, 200, 487, ACK.
    assert_eq!(pair.link.sent, 7);
}

#[test]
fn cancel_then_487_over_a_lossy_link() {
    for seed in SEEDS {
        let pair = run(seed, 0.25, Scenario::Cancel);
        let (uac, uas) = (&pair.peers[UAC].log, &pair.peers[UAS].log);
        assert_eq!(
            uas.requests,
            vec![Method::Invite],
            "CANCEL and ACK stay below the TU"
        );
        assert_eq!(uas.cancels, 1, "seed {seed}");
        assert_eq!(uac.count_responses(&Method::Cancel, 200), 1, "seed {seed}");
        assert_eq!(uac.count_responses(&Method::Invite, 487), 1, "seed {seed}");
        assert_eq!(uac.count_responses(&Method::Invite, 200), 0);
        // Early dialogs ended with the 487 on both sides.
        for peer in &pair.peers {
            assert!(peer.dialogs.is_empty(), "seed {seed}");
        }
    }
}

#[test]
fn cancel_before_a_provisional_waits_for_it() {
    for seed in SEEDS {
        let pair = run(seed, 0.2, Scenario::CancelAtOnce);
        let (uac, uas) = (&pair.peers[UAC].log, &pair.peers[UAS].log);
        assert_eq!(uas.cancels, 1, "seed {seed}");
        assert_eq!(uac.count_responses(&Method::Invite, 487), 1, "seed {seed}");
    }
}

#[test]
fn reinvite_refreshes_the_target_and_ends_with_bye() {
    for seed in SEEDS {
        let pair = run(seed, 0.2, Scenario::ReInvite);
        let (uac, uas) = (&pair.peers[UAC].log, &pair.peers[UAS].log);
        assert_eq!(
            uas.requests,
            vec![Method::Invite, Method::Invite, Method::Bye],
            "seed {seed}"
        );
        assert_eq!(
            uas.acks + uas.superseded_2xx,
            2,
            "both 2xx were ACKed, seed {seed}"
        );
        assert_eq!(
            uas.target_at_bye.as_deref(),
            Some("sip:moved@192.0.2.1:5060"),
            "the re-INVITE's Contact became the remote target, seed {seed}"
        );
        assert_eq!(uac.count_responses(&Method::Bye, 200), 1);
        for peer in &pair.peers {
            assert!(peer.dialogs.is_empty());
        }
    }
}

#[test]
fn bye_for_an_unknown_dialog_is_481() {
    let mut uas = Peer::new(
        "192.0.2.2:5060",
        "192.0.2.1:5060",
        5,
        Scenario::Call,
        TransportKind::Udp,
    );
    let now = Instant::now();
    let mut bye = Request::new(Method::Bye, "sip:peer@192.0.2.2:5060");
    bye.headers.push(
        HeaderName::Via,
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKstale;rport",
    );
    bye.headers
        .push(HeaderName::From, "<sip:caller@192.0.2.1>;tag=x");
    bye.headers
        .push(HeaderName::To, "<sip:bot@192.0.2.2>;tag=y");
    bye.headers.push(HeaderName::CallId, "gone");
    bye.headers.push(HeaderName::CSeq, "2 BYE");
    let info = TransportInfo {
        kind: TransportKind::Udp,
        source: "192.0.2.1:5060".parse().unwrap(),
        local: uas.addr,
        connection: None,
    };
    uas.tx.handle_request(now, bye, info).unwrap();
    uas.process_events(now);
    let t = uas.tx.poll_transmit().unwrap();
    let SipMessage::Response(r) = t.message else {
        panic!("expected a response");
    };
    assert_eq!(r.status, 481);
}
