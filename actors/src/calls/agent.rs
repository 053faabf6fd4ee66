//! [`AgentLeg`]: the `invite` hand-back. The node places a call of its own to the agent (or
//! queue) through the endpoint ([`PlaceCall`]) with its own RTP sockets, and takes the bot's
//! place behind the call's transcoder ([`SetBotSide`]), so that the caller's audio reaches the
//! agent in the agent's codec and the agent's audio the caller in the caller's.
//!
//! - While a target rings, the caller hears [`ringback::Ringback`] (or nothing, when configured)
//!   unless the agent side sends early media (a 18x with SDP): then that is passed through.
//! - On the 2xx the legs are bridged; the call is told ([`AgentState::Answered`]).
//! - A failure (486/600 busy, 4xx-6xx, no answer within `ring_timeout_secs`: CANCEL) moves on to
//!   the next target; past the last one the call runs the fallback ([`AgentState::Failed`]).
//! - The agent's BYE (or its media dying) ends the agent leg and, through the call, the caller's;
//!   the caller's end ([`StopLeg`]) sends the agent BYE (CANCEL while it rings).
//! - Key presses are relayed both ways as RFC 4733. An agent's re-INVITE (hold: `sendonly`,
//!   `inactive`; resume: `sendrecv`) once bridged is answered from the leg's own offer/answer
//!   session and applied to the agent's stream at once, and relayed: the call re-offers the
//!   caller the same direction ([`RelayReoffer`]) and the agent gets its 2xx once the caller has
//!   answered ([`RelayAnswered`]; a refusal or no answer in [`RELAY_WAIT`] still answers the
//!   agent, whose hold then stays a local one, as before the relay).
//! - The other way round, the caller's re-offer (hold, resume) is answered by the call at once
//!   and relayed ([`RelayCallerReoffer`]): the agent gets a re-INVITE offering our side in the
//!   caller's direction, and its answer is applied to the agent's stream. One re-INVITE is out
//!   at a time; a newer direction waits for it and goes next. A refusal, or no answer within
//!   [`RELAY_WAIT`], leaves the caller's hold a local one (the agent hears silence).
//!
//! Every attempt is reported to the call as a [`store::AgentLeg`] for the session record.

pub mod assist;
pub mod plan;
pub mod ringback;

use std::net::SocketAddr;
use std::time::Duration;

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, Recipient};
use voxgate_engine::sdp::{Direction, NegotiatedMedia, SdpSession, SessionDescription};
use voxgate_engine::sip::message::{HeaderName, Method, Request, Response};
use voxgate_engine::sip::transaction::TransactionKey;
use voxgate_engine::store;

pub use self::assist::AssistMixer;
pub use self::plan::AgentPlan;
pub use self::ringback::Ringback;
use super::call::{is_sdp, is_sdp_type};
use super::messages::{AudioFrame, Dtmf, ExitCause, LegKind, StopLeg};
use super::record::unix_ms;
use super::transcoder::{Downstream, Upstream};
use crate::bots::sip::dial;
use crate::bots::sip::{BotMediaExited, BotMediaTap};
use crate::bots::SipBotCall;
use crate::media::{RtpLeg, RtpPair, UpdateMedia};
use crate::metrics::FRAMES_DROPPED;
use crate::sip::endpoint::{
    EndOutgoing, OutgoingEvent, OutgoingRequest, PlaceCall, Respond, SipEndpoint,
};

/// How long the agent's re-INVITE waits for the caller's side to answer the relayed one.
pub const RELAY_WAIT: Duration = Duration::from_secs(8);

/// The agent re-offered (hold or resume): offer the caller our side in `direction` and answer
/// with [`RelayAnswered`].
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct RelayReoffer {
    /// Our direction toward the caller (the agent's `sendonly` hold makes it `sendonly`).
    pub direction: Direction,
}

/// The caller re-offered (hold or resume) while bridged: offer the agent our side in
/// `direction` (the caller's `sendonly` hold is offered to the agent as `sendonly`).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct RelayCallerReoffer {
    /// Our direction toward the agent.
    pub direction: Direction,
}

/// The caller's side answered the relayed re-offer (`ok`), or refused it or never answered.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct RelayAnswered {
    /// A 2xx with a usable answer came.
    pub ok: bool,
}

/// Where the agent leg stands, as the call sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    /// A target is being called.
    Ringing,
    /// The agent answered: the legs are bridged.
    Answered,
    /// Every target failed (the last cause): run the fallback.
    Failed(String),
    /// The agent's call ended (BYE, or its media died): end the caller's.
    Ended(String),
}

/// The agent leg's news for its call, with every attempt so far (for the session record).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct AgentReport {
    /// Where it stands.
    pub state: AgentState,
    /// The attempts, in order.
    pub legs: Vec<store::AgentLeg>,
}

/// Where the agent leg sends to.
pub struct AgentOwner {
    /// The call's transcoder: agent (and ringback) audio toward the caller.
    pub to_caller: Recipient<Downstream>,
    /// The caller's RTP leg: the agent's key presses.
    pub dtmf_to_caller: Recipient<Dtmf>,
    /// The call.
    pub report: Recipient<AgentReport>,
    /// Agent assist: both sides' audio also goes to the listen-only bot's mixer.
    pub assist: Option<Addr<AssistMixer>>,
    /// The agent's re-offers, relayed to the caller's side.
    pub relay: Recipient<RelayReoffer>,
}

/// One call to one target.
struct Attempt {
    call_id: String,
    session: SdpSession,
    offer: SessionDescription,
    /// The sockets until the stream starts (early media or answer).
    pair: Option<RtpPair>,
    rtp: Option<Addr<RtpLeg>>,
    /// The agent answered: the caller's audio goes to it.
    answered: bool,
}

/// See the module documentation.
pub struct AgentLeg {
    plan: AgentPlan,
    call: SipBotCall,
    owner: AgentOwner,
    sip: Addr<SipEndpoint>,
    ringback: Option<Ringback>,
    next_target: usize,
    current: Option<Attempt>,
    /// Counts attempts, so that a timer or a media end of an old one is not taken for the
    /// current one's.
    generation: u64,
    legs: Vec<store::AgentLeg>,
    done: bool,
    /// The agent's re-INVITE and our 2xx for it, held until the caller's side answered.
    reanswer: Option<(TransactionKey, Response)>,
    /// Counts relayed re-INVITEs, so that the wait of an old one does not answer a new one.
    relays: u64,
    /// Counts our re-INVITEs relaying the caller's re-offers, so that the wait of an old one
    /// does not end a new one.
    offers: u64,
    /// Our re-INVITE relaying the caller's re-offer (its number) awaits the agent's answer.
    offer_out: Option<u64>,
    /// A newer direction from the caller, sent once the re-INVITE out is answered.
    offer_next: Option<Direction>,
}

impl AgentLeg {
    /// A leg that will dial `plan`'s targets in turn once started, with `ringback` (none:
    /// silence) for the caller while they ring.
    pub fn new(
        plan: AgentPlan,
        ringback: Option<Ringback>,
        call: SipBotCall,
        owner: AgentOwner,
        sip: Addr<SipEndpoint>,
    ) -> AgentLeg {
        AgentLeg {
            plan,
            call,
            owner,
            sip,
            ringback,
            next_target: 0,
            current: None,
            generation: 0,
            legs: Vec::new(),
            done: false,
            reanswer: None,
            relays: 0,
            offers: 0,
            offer_out: None,
            offer_next: None,
        }
    }

    fn report(&self, state: AgentState) {
        self.owner.report.do_send(AgentReport {
            state,
            legs: self.legs.clone(),
        });
    }

    /// Dials the next target, or reports the chain spent.
    fn dial_next(&mut self, last_cause: String, ctx: &mut Context<Self>) {
        loop {
            let Some(target) = self.plan.targets.get(self.next_target).cloned() else {
                self.done = true;
                self.report(AgentState::Failed(last_cause));
                ctx.stop();
                return;
            };
            self.next_target += 1;
            match self.dial(&target, ctx) {
                Ok(()) => {
                    self.report(AgentState::Ringing);
                    return;
                }
                Err(why) => {
                    tracing::info!(%target, %why, "agent target not dialled");
                    self.legs.push(store::AgentLeg {
                        target,
                        invite_ms: unix_ms(),
                        cause: why.clone(),
                        ..store::AgentLeg::default()
                    });
                }
            }
        }
    }

    fn dial(&mut self, target: &str, ctx: &mut Context<Self>) -> Result<(), String> {
        let destination: SocketAddr = dial::resolve_uri(target)?;
        let tls = self.plan.tls_dial(target)?;
        let (pair, session, offer) = dial::offer_media(&self.call, destination, self.plan.codec)?;
        let call_id = dial::new_call_id();
        tracing::debug!(%target, %call_id, "calling the agent");
        self.sip.do_send(PlaceCall {
            call_id: call_id.clone(),
            to: target.to_owned(),
            from_user: if self.call.caller.is_empty() {
                "voxgate".into()
            } else {
                self.call.caller.clone()
            },
            destination,
            transport: self.plan.transport,
            tls,
            headers: self.plan.headers.clone(),
            sdp_offer: offer.to_bytes(),
            credentials: self.plan.credentials.clone(),
            owner: ctx.address().recipient(),
        });
        self.generation += 1;
        let generation = self.generation;
        ctx.run_later(self.plan.ring_timeout, move |leg, ctx| {
            let ringing = leg.current.as_ref().is_some_and(|a| !a.answered);
            if leg.generation == generation && ringing {
                leg.give_up("no-answer", None, ctx);
            }
        });
        self.legs.push(store::AgentLeg {
            target: target.to_owned(),
            invite_ms: unix_ms(),
            ..store::AgentLeg::default()
        });
        self.current = Some(Attempt {
            call_id,
            session,
            offer,
            pair: Some(pair),
            rtp: None,
            answered: false,
        });
        Ok(())
    }

    /// The current attempt failed (`cause`, the INVITE's `status` if it had one): end it and
    /// move on.
    fn give_up(&mut self, cause: &str, status: Option<u16>, ctx: &mut Context<Self>) {
        if let Some(attempt) = self.current.take() {
            if status.is_none() {
                // Still ringing on our side: CANCEL (a late 2xx is ended by the endpoint).
                self.sip.do_send(EndOutgoing {
                    call_id: attempt.call_id,
                    headers: Vec::new(),
                });
            }
            if let Some(rtp) = attempt.rtp {
                rtp.do_send(StopLeg);
            }
        }
        if let Some(leg) = self.legs.last_mut() {
            leg.status = leg.status.or(status);
            leg.end_ms = Some(unix_ms());
            leg.cause = cause.to_owned();
        }
        tracing::info!(cause, ?status, "agent attempt failed");
        self.dial_next(cause.to_owned(), ctx);
    }

    /// Starts the agent's stream (early media or answer) or moves it to `media`.
    fn start_media(&mut self, media: NegotiatedMedia, ctx: &mut Context<Self>) {
        let Some(attempt) = self.current.as_mut() else {
            return;
        };
        if let Some(rtp) = &attempt.rtp {
            rtp.do_send(UpdateMedia(media));
            return;
        }
        let Some(pair) = attempt.pair.take() else {
            return;
        };
        let config = dial::rtp_config(
            media,
            &self.call,
            format!("voxgate-agent-{}", self.call.session_id),
            LegKind::Bot,
            Duration::ZERO,
        );
        let mut tap = BotMediaTap::new(
            self.generation,
            self.owner.to_caller.clone(),
            ctx.address().recipient(),
            Some(self.owner.dtmf_to_caller.clone()),
        );
        if let Some(mixer) = &self.owner.assist {
            tap = tap.with_monitor(mixer.clone().recipient());
        }
        let rtp = tap.start_rtp(pair, config);
        attempt.rtp = Some(rtp);
    }

    fn on_progress(&mut self, response: &Response, ctx: &mut Context<Self>) {
        let early = self
            .current
            .as_ref()
            .filter(|a| a.rtp.is_none() && has_sdp(response));
        let Some(attempt) = early else {
            return;
        };
        match dial::negotiate(&attempt.offer, &response.body) {
            Ok(media) => {
                tracing::debug!(status = response.status, "agent early media");
                self.start_media(media, ctx);
            }
            Err(why) => tracing::debug!(%why, "agent early media SDP unusable; ringback stays"),
        }
    }

    fn on_answered(&mut self, response: &Response, ctx: &mut Context<Self>) {
        let Some(attempt) = self.current.as_mut() else {
            return;
        };
        match dial::negotiate(&attempt.offer, &response.body) {
            Ok(media) => {
                attempt.answered = true;
                self.start_media(media, ctx);
                if let Some(leg) = self.legs.last_mut() {
                    leg.answer_ms = Some(unix_ms());
                    leg.status = Some(response.status);
                    leg.cause = "answered".into();
                }
                tracing::info!("agent answered; caller bridged");
                self.report(AgentState::Answered);
            }
            Err(why) => {
                // Answered but unusable: hang it up and try the next one.
                let call_id = attempt.call_id.clone();
                self.sip.do_send(EndOutgoing {
                    call_id,
                    headers: Vec::new(),
                });
                if let Some(leg) = self.legs.last_mut() {
                    leg.status = Some(response.status);
                }
                self.give_up(&format!("agent {why}"), Some(response.status), ctx);
            }
        }
    }

    fn on_request(&mut self, key: TransactionKey, req: &Request, ctx: &mut Context<Self>) {
        match req.method {
            Method::Bye => {
                self.respond(key, req, 200, "OK");
                self.agent_gone("agent-hangup", ctx);
            }
            Method::Invite | Method::Update if is_sdp(req) => self.reoffer(key, req, ctx),
            _ => self.respond(key, req, 200, "OK"),
        }
    }

    /// The agent's re-offer (hold, resume, new address): answered from our session and applied
    /// to the agent's stream; a re-INVITE of a bridged agent is relayed to the caller first.
    fn reoffer(&mut self, key: TransactionKey, req: &Request, ctx: &mut Context<Self>) {
        let Some(attempt) = self.current.as_mut() else {
            self.respond(key, req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        let answered = SessionDescription::parse(&req.body)
            .and_then(|offer| attempt.session.handle_offer(&offer).map(|(a, _)| a));
        let answer = match answered {
            Ok(answer) => answer,
            Err(e) => {
                self.respond(key, req, e.status_code(), "Not Acceptable Here");
                return;
            }
        };
        tracing::debug!(direction = ?answer.media.direction, "agent re-offer");
        if let Some(rtp) = &attempt.rtp {
            rtp.do_send(UpdateMedia(answer.media.clone()));
        }
        let mut ok = req.response(200, "OK", None);
        ok.headers.push(HeaderName::ContentType, "application/sdp");
        ok.body = answer.sdp.to_bytes();
        let relay = attempt.answered && req.method == Method::Invite && self.reanswer.is_none();
        if !relay {
            self.sip.do_send(Respond { key, response: ok });
            return;
        }
        // Our direction toward the agent, seen from the caller's side: the agent's hold
        // (`sendonly`, we `recvonly`) is offered to the caller as `sendonly`.
        let direction = answer.media.direction.reversed();
        self.reanswer = Some((key, ok));
        self.owner.relay.do_send(RelayReoffer { direction });
        self.relays += 1;
        let relay = self.relays;
        ctx.run_later(RELAY_WAIT, move |leg, _| {
            if leg.relays == relay && leg.reanswer.is_some() {
                tracing::info!("the caller's side did not answer the relayed re-INVITE");
                leg.send_reanswer();
            }
        });
    }

    /// Offers the bridged agent our side in `direction` (the caller's hold or resume), or
    /// keeps it for when the re-INVITE already out is answered.
    fn offer_agent(&mut self, direction: Direction, ctx: &mut Context<Self>) {
        if self.offer_out.is_some() {
            self.offer_next = Some(direction);
            return;
        }
        let Some(attempt) = self.current.as_mut().filter(|a| a.answered) else {
            return;
        };
        let offer = match attempt.session.create_offer(direction) {
            Ok(offer) => offer,
            Err(e) => {
                tracing::warn!(error = %e, "no re-offer for the agent; the caller's hold is local");
                return;
            }
        };
        tracing::debug!(?direction, "relaying the caller's re-offer to the agent");
        self.sip.do_send(OutgoingRequest {
            call_id: attempt.call_id.clone(),
            method: Method::Invite,
            headers: Vec::new(),
            body: Some(("application/sdp".into(), offer.to_bytes())),
        });
        self.offers += 1;
        let number = self.offers;
        self.offer_out = Some(number);
        ctx.run_later(RELAY_WAIT, move |leg, ctx| {
            if leg.offer_out == Some(number) {
                tracing::info!(
                    "the agent did not answer the relayed re-INVITE; the caller's hold is local"
                );
                leg.offer_out = None;
                leg.offer_next_if_any(ctx);
            }
        });
    }

    /// The agent's final answer to our relayed re-INVITE: its agreement goes to its stream.
    fn on_offer_answered(&mut self, response: &Response, ctx: &mut Context<Self>) {
        if self.offer_out.take().is_none() {
            return;
        }
        let attempt = self.current.as_mut();
        let negotiated = attempt.and_then(|a| {
            let answer = (200..300)
                .contains(&response.status)
                .then(|| SessionDescription::parse(&response.body).ok())
                .flatten()?;
            let n = a.session.handle_answer(&answer).ok()?;
            Some((n, a.rtp.clone()))
        });
        match negotiated {
            Some((n, rtp)) => {
                tracing::debug!(direction = ?n.media.direction, "the agent took the relayed re-offer");
                if let Some(rtp) = rtp {
                    rtp.do_send(UpdateMedia(n.media));
                }
            }
            None => tracing::info!(
                status = response.status,
                "the agent refused the relayed re-INVITE; the caller's hold is local"
            ),
        }
        self.offer_next_if_any(ctx);
    }

    fn offer_next_if_any(&mut self, ctx: &mut Context<Self>) {
        if let Some(direction) = self.offer_next.take() {
            self.offer_agent(direction, ctx);
        }
    }

    /// Answers the agent's held re-INVITE.
    fn send_reanswer(&mut self) {
        if let Some((key, response)) = self.reanswer.take() {
            self.sip.do_send(Respond { key, response });
        }
    }

    /// The agent's call is over: tell the call, which ends the caller's.
    fn agent_gone(&mut self, cause: &str, ctx: &mut Context<Self>) {
        if let Some(attempt) = self.current.take() {
            if let Some(rtp) = attempt.rtp {
                rtp.do_send(StopLeg);
            }
        }
        if let Some(leg) = self.legs.last_mut() {
            leg.end_ms = Some(unix_ms());
            leg.cause = cause.to_owned();
        }
        self.done = true;
        self.report(AgentState::Ended(cause.to_owned()));
        ctx.stop();
    }

    fn respond(&self, key: TransactionKey, req: &Request, status: u16, reason: &str) {
        self.sip.do_send(Respond {
            key,
            response: req.response(status, reason, None),
        });
    }

    /// One ringback frame toward the caller, unless the agent's own audio is flowing.
    fn ring_tick(&mut self) {
        let ringing = self.current.as_ref().is_some_and(|a| a.rtp.is_none());
        let Some(ringback) = self.ringback.as_mut().filter(|_| ringing) else {
            return;
        };
        let frame = AudioFrame(ringback.next_frame());
        if self.owner.to_caller.try_send(Downstream(frame)).is_err() {
            metrics::counter!(FRAMES_DROPPED, "leg" => "ringback").increment(1);
        }
    }
}

fn has_sdp(resp: &Response) -> bool {
    !resp.body.is_empty() && is_sdp_type(resp.headers.get(&HeaderName::ContentType))
}

impl Actor for AgentLeg {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.ringback.is_some() {
            ctx.run_interval(Duration::from_millis(20), |leg, _| leg.ring_tick());
        }
        self.dial_next("no agent target".into(), ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        // Stopped by the call (the caller hung up, or the call is ending): end the agent's.
        if let Some(attempt) = self.current.take() {
            self.sip.do_send(EndOutgoing {
                call_id: attempt.call_id,
                headers: Vec::new(),
            });
            if let Some(rtp) = attempt.rtp {
                rtp.do_send(StopLeg);
            }
        }
    }
}

impl Handler<OutgoingEvent> for AgentLeg {
    type Result = ();
    fn handle(&mut self, event: OutgoingEvent, ctx: &mut Context<Self>) {
        let ours = |call_id: &str, leg: &AgentLeg| {
            !leg.done && leg.current.as_ref().is_some_and(|a| a.call_id == call_id)
        };
        match event {
            OutgoingEvent::Response { call_id, response } => {
                let reinvite = response.cseq().is_ok_and(|c| c.method == Method::Invite);
                if ours(&call_id, self) && reinvite && response.status >= 200 {
                    self.on_offer_answered(&response, ctx);
                }
            }
            OutgoingEvent::Progress { call_id, response } => {
                if ours(&call_id, self) {
                    self.on_progress(&response, ctx);
                }
            }
            OutgoingEvent::Answered { call_id, response } => {
                if ours(&call_id, self) {
                    self.on_answered(&response, ctx);
                } else {
                    // An attempt given up on (timed out, stopped) answered late: end it.
                    self.sip.do_send(EndOutgoing {
                        call_id,
                        headers: Vec::new(),
                    });
                }
            }
            OutgoingEvent::Failed { call_id, status } => {
                if ours(&call_id, self) {
                    let cause = match status {
                        486 | 600 => "busy",
                        408 | 480 | 487 => "no-answer",
                        _ => "refused",
                    };
                    self.give_up(cause, Some(status), ctx);
                }
            }
            OutgoingEvent::Request {
                call_id,
                key,
                request,
            } => {
                if ours(&call_id, self) {
                    self.on_request(key, &request, ctx);
                } else {
                    self.respond(key, &request, 481, "Call/Transaction Does Not Exist");
                }
            }
        }
    }
}

/// The caller's audio (from the transcoder, in the agent's format).
impl Handler<AudioFrame> for AgentLeg {
    type Result = ();
    fn handle(&mut self, frame: AudioFrame, _ctx: &mut Context<Self>) {
        let rtp = self
            .current
            .as_ref()
            .filter(|a| a.answered)
            .and_then(|a| a.rtp.as_ref());
        let Some(rtp) = rtp else {
            return;
        };
        if let Some(mixer) = &self.owner.assist {
            // A stack copy of the inline frame: no heap allocation.
            if mixer.try_send(Upstream(frame.clone())).is_err() {
                metrics::counter!(FRAMES_DROPPED, "leg" => "assist").increment(1);
            }
        }
        if rtp.try_send(frame).is_err() {
            metrics::counter!(FRAMES_DROPPED, "leg" => "agent").increment(1);
        }
    }
}

/// The caller's key presses, relayed to the agent as RFC 4733.
impl Handler<Dtmf> for AgentLeg {
    type Result = ();
    fn handle(&mut self, digit: Dtmf, _ctx: &mut Context<Self>) {
        if let Some(rtp) = self.current.as_ref().and_then(|a| a.rtp.as_ref()) {
            rtp.do_send(digit);
        }
    }
}

impl Handler<RelayCallerReoffer> for AgentLeg {
    type Result = ();
    fn handle(&mut self, msg: RelayCallerReoffer, ctx: &mut Context<Self>) {
        if !self.done {
            self.offer_agent(msg.direction, ctx);
        }
    }
}

impl Handler<RelayAnswered> for AgentLeg {
    type Result = ();
    fn handle(&mut self, msg: RelayAnswered, _ctx: &mut Context<Self>) {
        if !msg.ok {
            tracing::info!("the caller's side refused the relayed re-INVITE; agent hold is local");
        }
        self.send_reanswer();
    }
}

impl Handler<BotMediaExited> for AgentLeg {
    type Result = ();
    fn handle(&mut self, exit: BotMediaExited, ctx: &mut Context<Self>) {
        if exit.generation != self.generation || self.done {
            return;
        }
        if let ExitCause::Failed(why) = exit.cause {
            tracing::info!(%why, "agent media failed");
            if let Some(attempt) = self.current.as_ref() {
                self.sip.do_send(EndOutgoing {
                    call_id: attempt.call_id.clone(),
                    headers: Vec::new(),
                });
            }
            self.agent_gone("agent-media-failed", ctx);
        }
    }
}

impl Handler<StopLeg> for AgentLeg {
    type Result = ();
    fn handle(&mut self, _: StopLeg, ctx: &mut Context<Self>) {
        self.done = true;
        ctx.stop();
    }
}
