//! The SIP endpoint actor: the node's UA core. It parses and validates what the transports
//! deliver, runs the transaction and dialog layers (engine, sans-IO) on the real clock, gives the
//! node's own answers (OPTIONS, 403, 404, 405, 481, 501, 503) and hands call events to the call
//! actors by Call-ID. Calls answer through it: it owns every transaction and dialog, so
//! retransmissions and the 2xx-until-ACK loop never reach a call. Calls the node places itself
//! (to a SIP bot) are in [`outgoing`].

mod outgoing;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, AsyncContext, Context, Handler, Message, SpawnHandle};
use rand::rngs::StdRng;
use rand::SeedableRng;
use voxgate_engine::config::{Config, TrunkConfig};
use voxgate_engine::routing::{self, Decision, Load};
use voxgate_engine::sip::dialog::{new_tag, DialogEvent, DialogId, DialogLayer, LocalEndpoint};
use voxgate_engine::sip::message::{
    parse, validate_request_with, HeaderName, Limits, Method, Policy, Request, Response, SipMessage,
};
use voxgate_engine::sip::transaction::{
    Destination, TimerConfig, TransactionKey, TransactionLayer, TransportInfo, TransportKind,
    TryingPolicy, TuEvent,
};

use super::screen::{AuthOutcome, Gate, Screen, SCREENED};
use super::transport::{Kind, Origin, Outbound};
use crate::calls::{Call, CallEvent, CallParams, CallRegistry};
use crate::state::NodeState;

pub use outgoing::{EndOutgoing, OutgoingEvent, OutgoingRequest, PlaceCall};

/// Bytes from a transport.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Inbound {
    /// Where they came from.
    pub origin: Origin,
    /// One whole SIP message (a datagram or a framed stream unit).
    pub bytes: Vec<u8>,
}

/// A call answers one of its server transactions. For an INVITE, a 1xx with a To tag or a 2xx
/// creates the dialog; a 2xx is retransmitted by the endpoint until the ACK.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Respond {
    /// The server transaction.
    pub key: TransactionKey,
    /// The response, built by the call from the request.
    pub response: Response,
}

/// A call ends a cancelled INVITE with 487.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Terminate {
    /// The INVITE server transaction.
    pub key: TransactionKey,
    /// The To tag the call used in its provisional responses.
    pub to_tag: Option<String>,
}

/// A call sends a request inside its dialog (BYE, re-INVITE, REFER, INFO…). Extra headers and
/// the body are added to what the dialog builds; the response comes back as
/// [`CallEvent::Response`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct SendInDialog {
    /// The dialog.
    pub dialog: DialogId,
    /// The method.
    pub method: Method,
    /// Extra headers (name, value).
    pub headers: Vec<(HeaderName, String)>,
    /// Content type and body, if any.
    pub body: Option<(String, Vec<u8>)>,
    /// Who gets the response.
    pub reply_to: Option<Addr<Call>>,
}

/// A call has ended: forget its dialog and registration.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CallGone {
    /// The Call-ID it was registered under.
    pub call_id: String,
    /// Its dialog, if it got one.
    pub dialog: Option<DialogId>,
}

/// The endpoint actor.
pub struct SipEndpoint {
    state: Arc<NodeState>,
    out: Outbound,
    registry: CallRegistry,
    local: SocketAddr,
    limits: Limits,
    transactions: TransactionLayer,
    dialogs: DialogLayer,
    rng: StdRng,
    /// Which call owns a server transaction (CANCEL and timeouts are routed by it).
    server_owner: HashMap<TransactionKey, Addr<Call>>,
    /// Which call waits for the response of a client transaction.
    client_owner: HashMap<TransactionKey, Addr<Call>>,
    /// How to reach the peer of a dialog (the transport and connection its INVITE came on).
    flows: HashMap<DialogId, TransportInfo>,
    timer: Option<(Instant, SpawnHandle)>,
    me: Option<Addr<SipEndpoint>>,
    /// What a `Require:` may ask of us: only what the call really runs (session timers).
    policy: Policy,
    /// Scanners, floods and digest authentication.
    screen: Screen,
    /// The calls the node placed (UAC).
    outgoing: outgoing::OutgoingCalls,
}

impl SipEndpoint {
    /// An endpoint for a node listening on `local`.
    pub fn new(
        state: Arc<NodeState>,
        out: Outbound,
        registry: CallRegistry,
        local: SocketAddr,
    ) -> SipEndpoint {
        let sip = &state.config.sip;
        let timers = TimerConfig {
            t1: Duration::from_millis(sip.t1_ms),
            t2: Duration::from_millis(sip.t2_ms),
            t4: Duration::from_millis(sip.t4_ms),
            trying: TryingPolicy::Immediate,
        };
        let limits = Limits {
            max_message_bytes: sip.max_message_bytes,
            max_headers: sip.max_headers,
            ..Limits::DEFAULT
        };
        let mut rng = StdRng::from_entropy();
        let screen = Screen::new(&state.config, &mut rng);
        SipEndpoint {
            screen,
            outgoing: outgoing::OutgoingCalls::default(),
            transactions: TransactionLayer::new(timers),
            dialogs: DialogLayer::new(timers),
            state,
            out,
            registry,
            local,
            limits,
            rng,
            server_owner: HashMap::new(),
            client_owner: HashMap::new(),
            flows: HashMap::new(),
            timer: None,
            me: None,
            policy: Policy {
                // norefersub: a caller REFER with `Refer-Sub: false` is honoured without NOTIFYs.
                supported: vec!["timer".into(), "norefersub".into()],
                ..Policy::default()
            },
        }
    }

    fn on_inbound(&mut self, now: Instant, origin: Origin, bytes: &[u8]) {
        let info = transport_info(origin);
        let message = match parse(bytes, &self.limits) {
            Ok(m) => m,
            Err(e) => {
                let tag = new_tag(&mut self.rng);
                match e.error_response(Some(&tag)) {
                    Some(resp) => {
                        let status = resp.status.to_string();
                        metrics::counter!(crate::metrics::SIP_REJECTED, "status" => status)
                            .increment(1);
                        self.send_stateless(SipMessage::Response(resp), reply_destination(&info));
                    }
                    None => {
                        metrics::counter!(crate::metrics::SIP_REJECTED, "status" => "dropped")
                            .increment(1);
                    }
                }
                tracing::debug!(source = %origin.source, error = %e, "unparseable SIP message");
                return;
            }
        };
        match message {
            SipMessage::Request(req) => {
                metrics::counter!(crate::metrics::SIP_RECEIVED, "kind" => "request", "transport" => origin.kind.label())
                    .increment(1);
                match self.screen.gate(now, origin.source.ip(), &req) {
                    Gate::Pass => {}
                    Gate::Drop => return,
                    Gate::Busy => {
                        // ACKs get no response (RFC 3261 §17.2.3).
                        if req.method != Method::Ack {
                            let tag = new_tag(&mut self.rng);
                            let resp = routing::refusal(
                                &req,
                                503,
                                "Service Unavailable",
                                &tag,
                                self.state.config.node.retry_after_secs,
                            );
                            self.send_stateless(
                                SipMessage::Response(resp),
                                reply_destination(&info),
                            );
                        }
                        return;
                    }
                }
                if let Err(rejection) = validate_request_with(&req, &self.policy) {
                    tracing::debug!(source = %origin.source, %rejection, "invalid SIP request");
                    let status = rejection.status.to_string();
                    metrics::counter!(crate::metrics::SIP_REJECTED, "status" => status)
                        .increment(1);
                    let tag = new_tag(&mut self.rng);
                    if let Some(resp) = rejection.response(&req, Some(&tag)) {
                        self.send_stateless(SipMessage::Response(resp), reply_destination(&info));
                    }
                    return;
                }
                if let Err(e) = self.transactions.handle_request(now, req, info) {
                    tracing::debug!(source = %origin.source, error = %e, "request refused by the transaction layer");
                    metrics::counter!(crate::metrics::SIP_REJECTED, "status" => "400").increment(1);
                }
            }
            SipMessage::Response(resp) => {
                metrics::counter!(crate::metrics::SIP_RECEIVED, "kind" => "response", "transport" => origin.kind.label())
                    .increment(1);
                if let Err(e) = self.transactions.handle_response(now, resp) {
                    tracing::debug!(error = %e, "response dropped");
                }
            }
        }
    }

    /// Drains both layers: events to their handlers, transmits to the sockets, and re-arms
    /// the timer. Called after every input.
    fn pump(&mut self, now: Instant, ctx: &mut Context<Self>) {
        loop {
            let mut progressed = false;
            while let Some(event) = self.transactions.poll_event() {
                progressed = true;
                self.on_tu_event(now, event);
            }
            while let Some(event) = self.dialogs.poll_event() {
                progressed = true;
                self.on_dialog_event(now, event);
            }
            while let Some(t) = self.transactions.poll_transmit() {
                progressed = true;
                self.out.send(
                    kind_of(t.destination.kind),
                    t.destination.addr,
                    t.destination.connection,
                    t.message.to_bytes(),
                );
            }
            if !progressed {
                break;
            }
        }
        self.arm_timer(ctx);
    }

    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let next = match (
            self.transactions.poll_timeout(),
            self.dialogs.poll_timeout(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.timer.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(at) = next {
            let delay = at.saturating_duration_since(Instant::now());
            let handle = ctx.run_later(delay, |act, ctx| {
                act.timer = None;
                let now = Instant::now();
                act.transactions.handle_timeout(now);
                act.dialogs.handle_timeout(now);
                act.pump(now, ctx);
            });
            self.timer = Some((at, handle));
        }
    }

    fn on_tu_event(&mut self, now: Instant, event: TuEvent) {
        match event {
            TuEvent::NewRequest {
                key,
                request,
                source,
            } => self.on_new_request(now, key, request, source),
            TuEvent::Response { key, response } => {
                if response.status >= 200 {
                    // The dialog learns that our request is answered: after our re-INVITE
                    // (a relayed hold) the peer's own re-INVITEs are no longer glare.
                    self.dialogs.final_response_received(&response);
                }
                if self.outgoing.clients_contains(&key) {
                    self.outgoing_response(now, &key, response);
                    return;
                }
                if key.method == Method::Invite && (200..300).contains(&response.status) {
                    // A call's own re-INVITE (a relayed hold): its 2xx, and every
                    // retransmission of it, is ACKed here.
                    self.ack_in_dialog(&response);
                }
                let final_response = response.status >= 200;
                let owner = if final_response {
                    self.client_owner.remove(&key)
                } else {
                    self.client_owner.get(&key).cloned()
                };
                if let Some(call) = owner {
                    call.do_send(CallEvent::Response { key, response });
                }
            }
            TuEvent::Ack { request, .. } => {
                let Ok(call_id) = request.call_id().map(str::to_owned) else {
                    return;
                };
                if self.dialogs.handle_ack(&request).is_some() {
                    if let Some(call) = self.registry.get(&call_id) {
                        call.do_send(CallEvent::Ack { request });
                    }
                }
            }
            TuEvent::CancelReceived { invite_key, .. } => {
                if let Some(call) = self.server_owner.get(&invite_key) {
                    call.do_send(CallEvent::Cancelled { key: invite_key });
                } else {
                    // No call owns it (refused INVITE already answered): end it here.
                    let _ = self
                        .transactions
                        .send_request_terminated(now, &invite_key, None);
                }
            }
            TuEvent::Timeout { key } | TuEvent::TransportError { key } => {
                if self.outgoing_failed(&key) {
                    return;
                }
                if let Some(call) = self
                    .server_owner
                    .remove(&key)
                    .or_else(|| self.client_owner.remove(&key))
                {
                    call.do_send(CallEvent::TransactionFailed { key });
                }
            }
            TuEvent::StrayInvite2xx { response } => {
                let placed = response
                    .call_id()
                    .is_ok_and(|id| self.outgoing.owner_of(id).is_some());
                if placed {
                    self.outgoing_stray_2xx(&response);
                } else {
                    self.ack_in_dialog(&response);
                }
            }
            _ => {}
        }
    }

    fn on_dialog_event(&mut self, now: Instant, event: DialogEvent) {
        match event {
            DialogEvent::Retransmit2xx {
                invite_key,
                response,
                ..
            } => {
                let _ = self.transactions.send_response(now, &invite_key, response);
            }
            DialogEvent::AckTimeout { id } => {
                if let Some(call) = self.registry.get(&id.call_id) {
                    call.do_send(CallEvent::AckTimeout);
                }
            }
            _ => {}
        }
    }

    /// Whether `source` meets `trunk`'s client-certificate demand (`[trunks.tls]`): it came on
    /// a TLS connection whose certificate satisfied the trunk. Trunks without one accept all.
    fn certificate_ok(&self, config: &Config, trunk: &TrunkConfig, source: &TransportInfo) -> bool {
        match super::tls::trunk_bit(config, trunk) {
            None => true,
            Some(bit) => {
                source.kind == TransportKind::Tls
                    && self.out.certified(source.connection).contains(bit)
            }
        }
    }

    fn on_new_request(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: Request,
        source: TransportInfo,
    ) {
        let in_dialog = req
            .to()
            .ok()
            .and_then(|to| to.tag().map(str::to_owned))
            .is_some();
        if in_dialog {
            let call_id = req.call_id().unwrap_or_default().to_owned();
            match self.dialogs.match_request(&req) {
                Ok(_) if self.outgoing.owner_of(&call_id).is_some() => {
                    self.outgoing_request(key, req, &call_id);
                }
                Ok(_) => match self.registry.get(&call_id) {
                    Some(call) => {
                        self.server_owner.insert(key.clone(), call.clone());
                        call.do_send(CallEvent::Request { key, request: req });
                    }
                    None => self.answer(now, &key, &req, 481, "Call/Transaction Does Not Exist"),
                },
                Err(rejection) => {
                    metrics::counter!(crate::metrics::SIP_REFUSED, "status" => rejection.status().to_string())
                        .increment(1);
                    let resp = rejection.response(&req);
                    let _ = self.transactions.send_response(now, &key, resp);
                }
            }
            return;
        }

        let config = Arc::clone(&self.state.config);
        // Digest comes before routing, so that an unauthenticated peer learns nothing about
        // which numbers exist (every DID gets the same challenge).
        if req.method == Method::Invite {
            if let Some(trunk) = config.trunk_for_source(source.source.ip()) {
                let tag = new_tag(&mut self.rng);
                if !self.certificate_ok(&config, trunk, &source) {
                    metrics::counter!(SCREENED, "reason" => "client_cert").increment(1);
                    metrics::counter!(crate::metrics::SIP_REFUSED, "status" => "403").increment(1);
                    let resp = req.response(403, "Client Certificate Required", Some(&tag));
                    let _ = self.transactions.send_response(now, &key, resp);
                    return;
                }
                match self
                    .screen
                    .authenticate(now, source.source.ip(), trunk, &req, &tag)
                {
                    AuthOutcome::Accepted => {}
                    AuthOutcome::Refuse(resp) => {
                        metrics::counter!(crate::metrics::SIP_REFUSED, "status" => resp.status.to_string())
                            .increment(1);
                        let _ = self.transactions.send_response(now, &key, resp);
                        return;
                    }
                }
            }
        }
        let load = Load {
            draining: self.state.is_draining(),
            full: false,
        };
        match routing::decide(&config, source.source.ip(), &req, load) {
            Decision::Options => {
                let tag = new_tag(&mut self.rng);
                let resp = routing::options_ok(&req, &tag, &config.sip.user_agent);
                let _ = self.transactions.send_response(now, &key, resp);
            }
            Decision::Refuse(status, reason) => self.answer(now, &key, &req, status, reason),
            Decision::NewCall { trunk, bot, did } => {
                let call_id = req.call_id().unwrap_or_default().to_owned();
                if self.registry.get(&call_id).is_some() {
                    // Same Call-ID, new transaction, no To tag: a merged or looped request
                    // (RFC 3261 §8.2.2.2).
                    self.answer(now, &key, &req, 482, "Loop Detected");
                    return;
                }
                let Some(me) = self.me.clone() else { return };
                let Some(slot) = self.state.try_admit_call() else {
                    self.answer(now, &key, &req, 503, "Service Unavailable");
                    return;
                };
                let params = CallParams {
                    call_id: call_id.clone(),
                    trunk: trunk.clone(),
                    bot: config.bot(bot).cloned(),
                    did,
                    local_ip: self.media_ip(source),
                    transport: source.kind,
                    // Contact names the listener the call came in on: for TLS, the TLS
                    // listener's port (UDP and TCP share the SIP port).
                    endpoint: match source.kind {
                        TransportKind::Tls => SocketAddr::new(self.local.ip(), source.local.port()),
                        _ => self.local,
                    },
                    rtp_ports: config.node.rtp_ports,
                    invite_received: now,
                    sip: me,
                    node: Arc::clone(&self.state),
                };
                let call = Call::new(params, slot);
                let addr = self.registry.spawn(&call_id, call);
                self.server_owner.insert(key.clone(), addr.clone());
                addr.do_send(CallEvent::Invite {
                    key,
                    request: req,
                    source,
                });
            }
        }
    }

    /// Answers a request with the node's own refusal (or 481) and counts it.
    fn answer(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        req: &Request,
        status: u16,
        reason: &'static str,
    ) {
        metrics::counter!(crate::metrics::SIP_REFUSED, "status" => status.to_string()).increment(1);
        tracing::debug!(status, method = %req.method, "refusing request");
        let tag = new_tag(&mut self.rng);
        let resp = routing::refusal(
            req,
            status,
            reason,
            &tag,
            self.state.config.node.retry_after_secs,
        );
        let _ = self.transactions.send_response(now, key, resp);
    }

    fn send_stateless(&mut self, message: SipMessage, destination: Destination) {
        self.transactions.send_stateless(message, destination);
        while let Some(t) = self.transactions.poll_transmit() {
            self.out.send(
                kind_of(t.destination.kind),
                t.destination.addr,
                t.destination.connection,
                t.message.to_bytes(),
            );
        }
    }

    /// The address to put in SDP and Contact for a call that came from `source`.
    fn media_ip(&self, source: TransportInfo) -> IpAddr {
        if let Some(ip) = self.state.config.node.public_address {
            return ip;
        }
        if !source.local.ip().is_unspecified() {
            return source.local.ip();
        }
        self.route_ip(source.source)
    }

    /// The address to put in Contact (and SDP) toward `peer`: the configured public address,
    /// the one we listen on, or when that is 0.0.0.0 the local address the kernel routes to
    /// `peer` from.
    fn route_ip(&self, peer: SocketAddr) -> IpAddr {
        if let Some(ip) = self.state.config.node.public_address {
            return ip;
        }
        if !self.local.ip().is_unspecified() {
            return self.local.ip();
        }
        local_ip_toward(peer).unwrap_or(self.local.ip())
    }

    fn local_endpoint(&self, transport: TransportKind, ip: IpAddr) -> LocalEndpoint {
        let sent_by = SocketAddr::new(ip, self.local.port());
        let transport_param = match transport {
            TransportKind::Udp => "",
            TransportKind::Tcp => ";transport=tcp",
            TransportKind::Tls => ";transport=tls",
        };
        LocalEndpoint {
            transport,
            sent_by: sent_by.to_string(),
            contact: format!("<sip:voxgate@{sent_by}{transport_param}>"),
        }
    }
}

/// The local address the kernel routes to `peer` from, if it has a route (a connected UDP
/// socket sends nothing).
pub fn local_ip_toward(peer: SocketAddr) -> Option<IpAddr> {
    StdUdpSocket::bind(SocketAddr::new(unspecified_like(peer.ip()), 0))
        .and_then(|s| s.connect(peer).and_then(|_| s.local_addr()))
        .map(|a| a.ip())
        .ok()
}

fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

fn transport_info(origin: Origin) -> TransportInfo {
    TransportInfo {
        kind: match origin.kind {
            Kind::Udp => TransportKind::Udp,
            Kind::Tcp => TransportKind::Tcp,
            Kind::Tls => TransportKind::Tls,
        },
        source: origin.source,
        local: origin.local,
        connection: origin.connection,
    }
}

fn kind_of(kind: TransportKind) -> Kind {
    match kind {
        TransportKind::Udp => Kind::Udp,
        TransportKind::Tcp => Kind::Tcp,
        TransportKind::Tls => Kind::Tls,
    }
}

/// Where a stateless error answer goes: back where the message came from.
fn reply_destination(info: &TransportInfo) -> Destination {
    Destination {
        kind: info.kind,
        addr: info.source,
        connection: info.connection,
    }
}

impl Actor for SipEndpoint {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // SIP must not be starved by a burst: a deep mailbox, with UDP dropping beyond it.
        ctx.set_mailbox_capacity(16_384);
        self.me = Some(ctx.address());
    }
}

impl Handler<Inbound> for SipEndpoint {
    type Result = ();
    fn handle(&mut self, msg: Inbound, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.on_inbound(now, msg.origin, &msg.bytes);
        self.pump(now, ctx);
    }
}

impl Handler<Respond> for SipEndpoint {
    type Result = ();
    fn handle(&mut self, msg: Respond, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let Respond { key, response } = msg;
        let request = self.transactions.server_request(&key).cloned();
        let source = self.transactions.server_source(&key);
        if let (Some(req), Some(source)) = (request, source) {
            let creates_dialog = req.method == Method::Invite
                && (101..300).contains(&response.status)
                && response
                    .to()
                    .ok()
                    .and_then(|t| t.tag().map(|_| ()))
                    .is_some();
            if creates_dialog {
                let local = self.local_endpoint(source.kind, self.media_ip(source));
                match self.dialogs.create_uas(&req, &response, local) {
                    Ok(dialog) => {
                        let id = dialog.id().clone();
                        self.flows.insert(id.clone(), source);
                        if (200..300).contains(&response.status) {
                            self.dialogs.start_2xx_retransmission(
                                now,
                                id,
                                key.clone(),
                                response.clone(),
                                source.kind.is_reliable(),
                            );
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "INVITE response creates no dialog"),
                }
            } else if req.method == Method::Bye && response.status < 300 {
                if let Ok(Some(id)) = DialogId::for_incoming_request(&req) {
                    if let Some(d) = self.dialogs.get_mut(&id) {
                        d.terminate();
                    }
                }
            } else if let Ok(Some(id)) = DialogId::for_incoming_request(&req) {
                if let Some(d) = self.dialogs.get_mut(&id) {
                    d.on_response_sent(&req, &response);
                }
            }
        }
        if response.status >= 200 {
            self.server_owner.remove(&key);
        }
        if let Err(e) = self.transactions.send_response(now, &key, response) {
            tracing::debug!(error = %e, "response not sent");
        }
        self.pump(now, ctx);
    }
}

impl Handler<Terminate> for SipEndpoint {
    type Result = ();
    fn handle(&mut self, msg: Terminate, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.server_owner.remove(&msg.key);
        let _ = self
            .transactions
            .send_request_terminated(now, &msg.key, msg.to_tag.as_deref());
        self.pump(now, ctx);
    }
}

impl Handler<SendInDialog> for SipEndpoint {
    type Result = ();
    fn handle(&mut self, msg: SendInDialog, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let key = self.send_in_dialog(now, &msg.dialog, &msg.method, msg.headers, msg.body);
        if let (Some(key), Some(call)) = (key, msg.reply_to) {
            self.client_owner.insert(key, call);
        }
        self.pump(now, ctx);
    }
}

impl SipEndpoint {
    /// Sends a request inside dialog `id` (a BYE ends the dialog) and returns its client
    /// transaction; `None` when the dialog is gone or the request could not be sent.
    fn send_in_dialog(
        &mut self,
        now: Instant,
        id: &DialogId,
        method: &Method,
        headers: Vec<(HeaderName, String)>,
        body: Option<(String, Vec<u8>)>,
    ) -> Option<TransactionKey> {
        let flow = self.flows.get(id).copied()?;
        let dialog = self.dialogs.get_mut(id)?;
        let mut req = dialog.request(method.clone(), &mut self.rng);
        if *method == Method::Bye {
            dialog.terminate();
        }
        for (name, value) in headers {
            req.headers.push(name, value);
        }
        if let Some((content_type, body)) = body {
            req.headers.push(HeaderName::ContentType, content_type);
            req.body = body;
        }
        req.headers.push(
            HeaderName::UserAgent,
            self.state.config.sip.user_agent.clone(),
        );
        // In-dialog requests go back over the flow the dialog came in on (the caller's source
        // address and connection): it traverses NAT and reuses the TCP connection.
        let destination = Destination {
            kind: flow.kind,
            addr: flow.source,
            connection: flow.connection,
        };
        match self.transactions.send_request(now, req, destination) {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::warn!(error = %e, "in-dialog request not sent");
                None
            }
        }
    }
}

impl SipEndpoint {
    /// ACKs a 2xx to an INVITE a call sent inside its dialog, over the dialog's flow.
    fn ack_in_dialog(&mut self, response: &Response) {
        let Some(id) = DialogId::for_incoming_response(response).ok().flatten() else {
            return;
        };
        let Some(flow) = self.flows.get(&id).copied() else {
            return;
        };
        let ack = self
            .dialogs
            .get(&id)
            .and_then(|d| d.ack(response, &mut self.rng));
        if let Some(ack) = ack {
            let destination = Destination {
                kind: flow.kind,
                addr: flow.source,
                connection: flow.connection,
            };
            self.send_stateless(SipMessage::Request(ack), destination);
        }
    }
}

impl Handler<CallGone> for SipEndpoint {
    type Result = ();
    fn handle(&mut self, msg: CallGone, _ctx: &mut Context<Self>) {
        self.registry.remove(&msg.call_id);
        if let Some(id) = msg.dialog {
            self.flows.remove(&id);
            if let Some(d) = self.dialogs.get_mut(&id) {
                d.terminate();
            }
        }
        self.dialogs.reap_terminated();
        self.server_owner.retain(|_, call| call.connected());
    }
}
