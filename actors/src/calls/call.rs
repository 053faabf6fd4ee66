//! The call actor: the supervisor of one call's legs. It owns the SIP side of the ingress
//! (through the endpoint: answer, re-INVITE, session timer, BYE) and starts the tree once it
//! answers: RtpLeg (caller media) ⇄ TranscoderLeg ⇄ bot leg (builtin, WebSocket or SIP), plus the
//! EscalationLeg when the bot or the node hands the call back. It maps the SIP lifecycle (ACK,
//! BYE, CANCEL, missing ACK, media timeout, drain) onto the tree, restarts a failing bot within
//! its budget and then escalates with `BotFailure`, isolates panics at its boundary, and writes
//! the session record when it ends. REFER and its NOTIFYs are handled in [`refer`]; what the
//! call-control API asks of a call in [`control`].

mod agent;
mod control;
mod refer;
mod sip_bot;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::panic::{catch_unwind, AssertUnwindSafe};

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message};
use rand::RngCore;
use voxgate_codecs::AudioFormat;
use voxgate_engine::config::{BotConfig, PortRange, Profile, TrunkConfig};
use voxgate_engine::sdp::{
    AnswerPolicy, CodecKind, Direction, LocalMedia, MasterKey, NegotiatedMedia, SdpSession,
    SessionDescription, SrtpPolicy, KEY_MATERIAL_LEN,
};
use voxgate_engine::sip::dialog::{new_tag, DialogId};
use voxgate_engine::sip::message::{HeaderName, Method, Request, Response};
use voxgate_engine::sip::session_timer::{
    self, Negotiation, SessionTimer, SessionTimerConfig, TimerAction,
};
use voxgate_engine::sip::transaction::{TransactionKey, TransportInfo, TransportKind};

use voxgate_engine::store::{self, EscalationOutcome, IngressKind, SessionRecord};

pub use self::control::{ApiHangup, ApiTransfer, CallInfo, CallSummary, ControlError};
use super::agent::AgentLeg;
use super::bot_tree::{self, BotLeg, IngressInputs, SipBotInputs, SupervisorInputs};
use super::escalation::{
    profile_name, ByeAnswered, CallerSubscription, ConnectMetadata, EscalationLeg, HandBack,
    HandBackDone, ReferAnswered, ReferOutcome,
};
use super::messages::{Dtmf, StopLeg};
use super::messages::{Escalate, ExitCause, Hangup, LegExited, LegKind, Transcript};
use super::restart::RestartBudget;
use super::transcoder::{SetIngressFormat, TranscoderLeg};
use crate::bots::{RestartBot, StreamInfo};
use crate::media::{
    bind_rtp_pair, DirectBot, MediaStats, RtpLeg, RtpLegConfig, RtpLegOwner, RtpPair, UpdateMedia,
};
use crate::sip::endpoint::{CallGone, Respond, SendInDialog, SipEndpoint, Terminate};
use crate::state::CallSlot;
use crate::state::NodeState;

/// What the endpoint knows about a new call when it starts it.
#[derive(Debug, Clone)]
pub struct CallParams {
    /// The INVITE's Call-ID.
    pub call_id: String,
    /// The trunk that admitted it.
    pub trunk: TrunkConfig,
    /// The bot its DID routes to.
    pub bot: Option<BotConfig>,
    /// The dialled number.
    pub did: String,
    /// Our address for SDP and Contact.
    pub local_ip: IpAddr,
    /// The transport the INVITE came on.
    pub transport: TransportKind,
    /// The endpoint's SIP address.
    pub endpoint: SocketAddr,
    /// RTP port range.
    pub rtp_ports: PortRange,
    /// When the INVITE arrived (setup latency).
    pub invite_received: Instant,
    /// The endpoint actor, which owns transactions and dialogs.
    pub sip: Addr<SipEndpoint>,
    /// The node (store, config).
    pub node: Arc<NodeState>,
}

/// What the endpoint tells a call.
#[derive(Message)]
#[rtype(result = "()")]
pub enum CallEvent {
    /// The initial INVITE.
    Invite {
        /// Its server transaction.
        key: TransactionKey,
        /// The request.
        request: Request,
        /// Where it came from.
        source: TransportInfo,
    },
    /// A request inside the call's dialog (BYE, re-INVITE, INFO…).
    Request {
        /// Its server transaction.
        key: TransactionKey,
        /// The request.
        request: Request,
    },
    /// The ACK of our 2xx.
    Ack {
        /// The ACK.
        request: Request,
    },
    /// The caller cancelled the ringing INVITE (the CANCEL has been answered 200).
    Cancelled {
        /// The INVITE's server transaction.
        key: TransactionKey,
    },
    /// A response to a request the call sent.
    Response {
        /// The client transaction.
        key: TransactionKey,
        /// The response.
        response: Response,
    },
    /// A transaction of the call failed (timeout or transport error).
    TransactionFailed {
        /// The transaction.
        key: TransactionKey,
    },
    /// Our 2xx was never acknowledged (64·T1).
    AckTimeout,
}

/// End the call now (drain deadline).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Ringing,
    Answered,
    Confirmed,
    /// The legs were told to stop; waiting for the ingress counters before the record.
    Ending,
    Ended,
}

/// The running legs of an answered call.
struct Legs {
    rtp: Addr<RtpLeg>,
    transcoder: Addr<TranscoderLeg>,
    bot: BotLeg,
}

/// One call.
pub struct Call {
    p: CallParams,
    slot: Option<CallSlot>,
    session_id: String,
    phase: Phase,
    invite: Option<(TransactionKey, Request)>,
    to_tag: String,
    dialog: Option<DialogId>,
    sdp: Option<SdpSession>,
    /// RTP sockets and the negotiated stream, between the offer and the answer.
    pending_media: Option<(RtpPair, NegotiatedMedia)>,
    legs: Option<Legs>,
    end_reason: String,
    escalation: Option<Addr<EscalationLeg>>,
    /// RFC 4028: the agreement from the INVITE, then the running timer once answered.
    session_timer: Option<SessionTimer>,
    negotiated_timer: Option<session_timer::Negotiated>,
    timer_handle: Option<actix::SpawnHandle>,
    /// The hand-back asked for, kept for the session record.
    pending_escalation: Option<Escalate>,
    /// Our REFER is running: its NOTIFYs are answered and passed to the escalation leg.
    refer_watch: bool,
    /// The caller's REFER whose final NOTIFY the hand-back owes.
    caller_refer: Option<CallerSubscription>,
    /// What the escalation leg reported of its REFER so far.
    refer_report: ReferOutcome,
    /// `invite`: the agent leg while it rings or is bridged.
    agent: Option<Addr<AgentLeg>>,
    /// `invite`: the agent answered (caller key presses go to it, not to the bot).
    agent_bridged: bool,
    /// `invite`: why the agent chain failed, once it has (the fallback then runs).
    agent_failure: Option<String>,
    /// `invite` with `assist = true`: the mixer feeding the listen-only bot.
    assist: Option<Addr<super::agent::AssistMixer>>,
    /// The bot turned listen-only for the agent: from then on its transcript lines are the
    /// escalation's assist transcript, also those that arrive as the call ends (the mixer is
    /// gone by then, the bot's last words may still be on their way).
    assisting: bool,
    /// `invite`: our re-INVITE relaying the agent's hold (or resume) awaits its answer.
    relaying: bool,
    /// `invite`: the direction last relayed to the bridged agent from the caller's re-offers
    /// (`SendRecv` until the caller holds), so that a refresh that changes nothing is not.
    agent_direction: Direction,
    /// The bot leg's restarts (supervision).
    bot_restarts: RestartBudget,
    record: RecordDraft,
}

/// What the session record collects while the call lives.
#[derive(Debug, Default)]
struct RecordDraft {
    start_ms: i64,
    answer_ms: Option<i64>,
    codec: Option<String>,
    dtmf: String,
    transcript: Vec<store::TranscriptLine>,
    escalation: Option<store::Escalation>,
    rtp: Option<store::RtpCounters>,
    /// The platform's contact id (Amazon Connect), from the INVITE.
    contact_id: Option<String>,
    /// `invite`: the calls placed to agents.
    agent_legs: Vec<store::AgentLeg>,
    /// `invite` with `assist = true`: the listen-only bot's transcript.
    assist_transcripts: Vec<store::AssistLine>,
}

use super::record::unix_ms;

impl Call {
    /// A call that will answer through the endpoint.
    pub fn new(p: CallParams, slot: CallSlot) -> Call {
        let mut rng = rand::thread_rng();
        let session_id = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
        let to_tag = new_tag(&mut rng);
        Call {
            p,
            slot: Some(slot),
            session_id,
            phase: Phase::Starting,
            invite: None,
            to_tag,
            dialog: None,
            sdp: None,
            pending_media: None,
            legs: None,
            end_reason: String::new(),
            escalation: None,
            session_timer: None,
            negotiated_timer: None,
            timer_handle: None,
            pending_escalation: None,
            refer_watch: false,
            caller_refer: None,
            refer_report: ReferOutcome::default(),
            agent: None,
            agent_bridged: false,
            agent_failure: None,
            assist: None,
            assisting: false,
            relaying: false,
            agent_direction: Direction::SendRecv,
            bot_restarts: RestartBudget::default(),
            record: RecordDraft {
                start_ms: unix_ms(),
                ..RecordDraft::default()
            },
        }
    }

    /// Our session id (the call-control API's `{id}`).
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    fn on_invite(&mut self, key: TransactionKey, req: Request, ctx: &mut Context<Self>) {
        self.invite = Some((key.clone(), req));
        let Some((_, req)) = self.invite.clone() else {
            return;
        };
        self.record.contact_id = voxgate_engine::contact_id::from_headers(&req.headers);
        match session_timer::negotiate(&req, self.timer_config()) {
            Negotiation::TooSmall { min_se } => {
                let mut resp = req.response(422, "Session Interval Too Small", Some(&self.to_tag));
                resp.headers.push(HeaderName::MinSe, min_se.to_string());
                self.send_final(key, resp, ctx);
                return;
            }
            Negotiation::Active(n) => self.negotiated_timer = Some(n),
            Negotiation::NotUsed => {}
        }
        let rtp = match bind_rtp_pair(self.p.rtp_ports, self.p.local_ip) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "no RTP port for a new call");
                self.refuse(503, "Service Unavailable", ctx);
                return;
            }
        };
        let policy = AnswerPolicy {
            codecs: self
                .p
                .trunk
                .codecs
                .iter()
                .filter_map(|c| codec_kind(c))
                .collect(),
            local: LocalMedia {
                address: self.p.local_ip,
                rtp_port: rtp.port(),
                session_id: rand::thread_rng().next_u64() >> 1,
                session_version: 1,
            },
            srtp: SrtpPolicy::new(self.p.trunk.srtp, random_master_key()),
            ..AnswerPolicy::default()
        };
        let mut session = SdpSession::new(policy);
        let answer = is_sdp(&req)
            .then(|| SessionDescription::parse(&req.body))
            .ok_or(None)
            .and_then(|parsed| parsed.map_err(Some))
            .and_then(|offer| session.handle_offer(&offer).map(|(a, _)| a).map_err(Some));
        let answer = match answer {
            Ok(answer) => answer,
            Err(err) => {
                let warning = err
                    .map(|e| e.warning().1.to_owned())
                    .unwrap_or_else(|| "an SDP offer in the INVITE is required".into());
                tracing::debug!(call_id = %self.p.call_id, %warning, "offer refused");
                let mut resp = req.response(488, "Not Acceptable Here", Some(&self.to_tag));
                resp.headers
                    .push(HeaderName::Warning, format!("399 voxgate \"{warning}\""));
                self.send_final(key, resp, ctx);
                return;
            }
        };
        tracing::debug!(call_id = %self.p.call_id, codec = answer.codec().name(), "offer accepted");
        let codec = answer.codec();
        self.record.codec = Some(match codec.channels {
            1 => format!("{}/{}", codec.name(), codec.clock_rate),
            n => format!("{}/{}/{n}", codec.name(), codec.clock_rate),
        });
        let body = answer.sdp.to_bytes();
        self.pending_media = Some((rtp, answer.media.clone()));
        self.sdp = Some(session);

        let delay = self
            .p
            .bot
            .as_ref()
            .map(|b| b.builtin.answer_delay_ms)
            .unwrap_or(0);
        if delay == 0 {
            self.answer(body, ctx);
        } else {
            self.phase = Phase::Ringing;
            let ringing = req.response(180, "Ringing", Some(&self.to_tag));
            self.p.sip.do_send(Respond {
                key,
                response: with_contact(ringing, &self.p),
            });
            ctx.run_later(Duration::from_millis(delay), move |call, ctx| {
                if call.phase == Phase::Ringing {
                    call.answer(body, ctx);
                }
            });
        }
    }

    fn answer(&mut self, sdp: Vec<u8>, ctx: &mut Context<Self>) {
        let Some((key, req)) = self.invite.clone() else {
            return;
        };
        let mut ok = req.response(200, "OK", Some(&self.to_tag));
        // The invite profile keeps the caller's call: its platform correlates by these too.
        if matches!(self.p.trunk.profile, Profile::ZoomCc | Profile::Invite) {
            let names = &self.p.trunk.headers;
            ok.headers.push(
                HeaderName::from_wire(&names.session_id),
                self.session_id.clone(),
            );
            if let Some(bot) = &self.p.bot {
                ok.headers
                    .push(HeaderName::from_wire(&names.bot_id), bot.id.clone());
            }
        }
        ok.headers
            .push(HeaderName::Allow, voxgate_engine::routing::ALLOW);
        ok.headers.push(HeaderName::Supported, "timer");
        if let Some(n) = self.negotiated_timer {
            for (name, value) in n.response_headers() {
                ok.headers.push(name, value);
            }
            self.session_timer = Some(SessionTimer::new(n, Instant::now()));
            self.arm_session_timer(ctx);
        }
        ok.headers.push(HeaderName::ContentType, "application/sdp");
        ok.body = sdp;
        let ok = with_contact(ok, &self.p);
        self.dialog = Some(DialogId {
            call_id: self.p.call_id.clone(),
            local_tag: self.to_tag.clone(),
            remote_tag: req
                .from()
                .ok()
                .and_then(|f| f.tag().map(str::to_owned))
                .unwrap_or_default(),
        });
        self.phase = Phase::Answered;
        self.record.answer_ms = Some(unix_ms());
        if let Err(why) = self.start_legs(ctx) {
            tracing::warn!(call_id = %self.p.call_id, %why, "call legs did not start");
            let mut resp = req.response(500, "Server Internal Error", Some(&self.to_tag));
            resp.headers
                .push(HeaderName::Warning, format!("399 voxgate \"{why}\""));
            self.send_final(key, resp, ctx);
            return;
        }
        metrics::histogram!(crate::metrics::SETUP_SECONDS)
            .record(self.p.invite_received.elapsed().as_secs_f64());
        self.p.sip.do_send(Respond { key, response: ok });
    }

    fn on_request(&mut self, key: TransactionKey, req: &Request, ctx: &mut Context<Self>) {
        match req.method {
            Method::Bye => {
                self.reply(key, req, 200, "OK");
                self.end("CallerHangUp", ctx);
            }
            Method::Invite | Method::Update if is_sdp(req) => self.reoffer(key, req),
            Method::Invite | Method::Update => {
                let mut ok = req.response(200, "OK", None);
                self.timer_refreshed_by(req, &mut ok);
                self.p.sip.do_send(Respond {
                    key,
                    response: with_contact(ok, &self.p),
                });
            }
            Method::Info | Method::Options => self.reply(key, req, 200, "OK"),
            Method::Notify => self.on_notify(key, req),
            Method::Refer => self.on_refer(key, req, ctx),
            _ => {
                let mut resp = req.response(501, "Not Implemented", None);
                resp.headers
                    .push(HeaderName::Allow, voxgate_engine::routing::ALLOW);
                self.p.sip.do_send(Respond {
                    key,
                    response: resp,
                });
            }
        }
    }

    /// A re-INVITE or UPDATE with an offer: hold, unhold, new address or codec.
    fn reoffer(&mut self, key: TransactionKey, req: &Request) {
        let Some(session) = self.sdp.as_mut() else {
            self.reply(key, req, 488, "Not Acceptable Here");
            return;
        };
        let result = SessionDescription::parse(&req.body)
            .and_then(|offer| session.handle_offer(&offer).map(|(a, _)| a));
        match result {
            Ok(answer) => {
                self.apply_caller_media(&answer.media);
                // Our answer's direction, seen from the caller's side: the caller's hold
                // (`sendonly`, we `recvonly`) is offered to a bridged agent as `sendonly`.
                self.relay_to_agent(answer.media.direction.reversed());
                let mut ok = req.response(200, "OK", None);
                self.timer_refreshed_by(req, &mut ok);
                ok.headers.push(HeaderName::ContentType, "application/sdp");
                ok.body = answer.sdp.to_bytes();
                self.p.sip.do_send(Respond {
                    key,
                    response: with_contact(ok, &self.p),
                });
            }
            Err(e) => {
                let status = e.status_code();
                self.reply(key, req, status, "Not Acceptable Here");
            }
        }
    }

    /// A new agreement with the caller (codec, address, direction) goes to its legs.
    fn apply_caller_media(&self, media: &NegotiatedMedia) {
        if let Some(legs) = &self.legs {
            legs.transcoder
                .do_send(SetIngressFormat(ingress_format(media.codec.kind)));
            legs.rtp.do_send(UpdateMedia(media.clone()));
        }
    }

    fn timer_config(&self) -> SessionTimerConfig {
        let sip = &self.p.node.config.sip;
        SessionTimerConfig {
            session_expires: sip.session_expires_secs,
            min_se: sip.min_se_secs,
        }
    }

    /// A re-INVITE or UPDATE from the caller refreshes the session (RFC 4028 §10) and may
    /// renegotiate it; our 2xx repeats the agreement.
    fn timer_refreshed_by(&mut self, req: &Request, ok: &mut Response) {
        let config = self.timer_config();
        let Some(timer) = self.session_timer.as_mut() else {
            return;
        };
        let renegotiated = match session_timer::negotiate(req, config) {
            Negotiation::Active(n) => Some(n),
            _ => None,
        };
        timer.refreshed(Instant::now(), renegotiated);
        for (name, value) in timer.negotiated().response_headers() {
            ok.headers.push(name, value);
        }
    }

    fn arm_session_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer_handle.take() {
            ctx.cancel_future(h);
        }
        let Some(timer) = &self.session_timer else {
            return;
        };
        let delay = timer
            .poll_timeout()
            .saturating_duration_since(Instant::now());
        self.timer_handle = Some(ctx.run_later(delay, |call, ctx| {
            call.timer_handle = None;
            call.guarded(ctx, Call::on_session_timer);
        }));
    }

    fn on_session_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(timer) = self.session_timer.as_mut() else {
            return;
        };
        match timer.handle_timeout(Instant::now()) {
            Some(TimerAction::Refresh) => {
                let n = timer.negotiated();
                if let Some(dialog) = self.dialog.clone() {
                    let mut headers = n.response_headers();
                    headers.retain(|(name, _)| *name != HeaderName::Require);
                    headers.push((HeaderName::Supported, "timer".into()));
                    self.p.sip.do_send(SendInDialog {
                        dialog,
                        method: Method::Update,
                        headers,
                        body: None,
                        reply_to: Some(ctx.address()),
                    });
                }
            }
            Some(TimerAction::Expired) => {
                tracing::debug!(call_id = %self.p.call_id, "session timer expired");
                let reason = (
                    HeaderName::Reason,
                    "SIP;cause=408;text=\"session timer expired\"".to_owned(),
                );
                self.bye(vec![reason]);
                self.end("SessionExpired", ctx);
                return;
            }
            None => {}
        }
        self.arm_session_timer(ctx);
    }

    fn reply(&self, key: TransactionKey, req: &Request, status: u16, reason: &str) {
        self.p.sip.do_send(Respond {
            key,
            response: req.response(status, reason, None),
        });
    }

    /// A final non-2xx to the INVITE, then the call is over.
    fn refuse(&mut self, status: u16, reason: &str, ctx: &mut Context<Self>) {
        if let Some((key, req)) = self.invite.clone() {
            let resp = req.response(status, reason, Some(&self.to_tag));
            self.send_final(key, resp, ctx);
        } else {
            self.end("Refused", ctx);
        }
    }

    fn send_final(&mut self, key: TransactionKey, resp: Response, ctx: &mut Context<Self>) {
        let outcome = if resp.status == 488 {
            "SdpRejected"
        } else {
            "Refused"
        };
        self.p.sip.do_send(Respond {
            key,
            response: resp,
        });
        self.end(outcome, ctx);
    }

    fn bye(&mut self, extra: Vec<(HeaderName, String)>) {
        if let Some(dialog) = self.dialog.clone() {
            self.p.sip.do_send(SendInDialog {
                dialog,
                method: Method::Bye,
                headers: extra,
                body: None,
                reply_to: None,
            });
        }
    }

    /// Starts the call's tree: RTP leg ⇄ transcoder ⇄ bot. Addresses are taken before the
    /// actors run so each can be given the others' recipients.
    fn start_legs(&mut self, ctx: &mut Context<Self>) -> Result<(), String> {
        let (pair, media) = self.pending_media.take().ok_or("no negotiated media")?;
        let ingress_format = ingress_format(media.codec.kind);
        let me = ctx.address();

        let rtp_ctx = Context::<RtpLeg>::new();
        let rtp_addr = rtp_ctx.address();
        let (trunk, did, call_id) = (
            self.p.trunk.name.clone(),
            self.p.did.clone(),
            self.p.call_id.clone(),
        );
        let session_id = self.session_id.clone();
        let side = bot_tree::start(
            self.p.bot.clone(),
            ingress_format,
            IngressInputs {
                audio: rtp_addr.clone().recipient(),
                marks: rtp_addr.clone().recipient(),
                clear: rtp_addr.clone().recipient(),
                bot_audio: Some(rtp_addr.clone().recipient()),
            },
            SupervisorInputs {
                escalate: me.clone().recipient(),
                hangup: me.clone().recipient(),
                transcript: me.clone().recipient(),
                exited: me.clone().recipient(),
            },
            Some(SipBotInputs {
                call: self.sip_bot_call(),
                endpoint: self.p.sip.clone(),
            }),
            |config| StreamInfo {
                account_sid: trunk.clone(),
                call_sid: session_id,
                custom_parameters: {
                    let mut p = config.websocket.custom_parameters.clone();
                    p.insert("did".into(), did);
                    p.insert("trunk".into(), trunk);
                    p.insert("botId".into(), config.id.clone());
                    p.insert("sipCallId".into(), call_id);
                    p
                },
            },
        )?;
        let transcoder = side.transcoder;

        let media_config = &self.p.node.config.media;
        let mut rtp_config = RtpLegConfig::new(media, format!("voxgate-{}", self.session_id));
        rtp_config.inactivity_timeout = Duration::from_secs(media_config.inactivity_timeout_secs);
        rtp_config.jitter_min_ms = media_config.jitter_min_ms;
        rtp_config.jitter_max_ms = media_config.jitter_max_ms;
        rtp_config.rtcp_interval = Duration::from_secs(media_config.rtcp_interval_secs.max(1));
        let mut rtp = RtpLeg::new(
            pair,
            rtp_config,
            RtpLegOwner {
                frames: transcoder.clone().recipient(),
                dtmf: me.clone().recipient(),
                marks: side.marks_to_bot,
                stats: me.clone().recipient(),
                exited: me.recipient(),
            },
        );
        if let Some((to_bot, from_bot)) = side.direct_bot {
            rtp = rtp.with_direct_bot(DirectBot {
                to_bot,
                from_bot,
                via_transcoder: transcoder.clone().recipient(),
                clock: side.bot_clock,
            });
        }
        rtp_ctx.run(rtp);
        self.legs = Some(Legs {
            rtp: rtp_addr,
            transcoder,
            bot: side.bot,
        });
        Ok(())
    }

    fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Ending | Phase::Ended)
    }

    /// Ends the call with `outcome`: stops the legs, waits (briefly) for the ingress counters,
    /// then writes the record and leaves.
    fn end(&mut self, outcome: &str, ctx: &mut Context<Self>) {
        if self.is_over() {
            return;
        }
        self.phase = Phase::Ending;
        self.end_reason = outcome.to_owned();
        tracing::debug!(call_id = %self.p.call_id, session_id = %self.session_id, outcome, "call ended");
        metrics::counter!(crate::metrics::CALLS_ENDED, "outcome" => outcome.to_owned())
            .increment(1);
        if let Some(h) = self.timer_handle.take() {
            ctx.cancel_future(h);
        }
        self.close_agent_legs(outcome);
        self.stop_assist();
        if let Some(agent) = self.agent.take() {
            agent.do_send(StopLeg);
            if !self.agent_bridged {
                self.record_escalation(
                    "invite",
                    &Err("the call ended before an agent answered".into()),
                    ReferOutcome::default(),
                );
            }
        }
        match self.legs.take() {
            Some(legs) => {
                legs.bot.stop();
                legs.transcoder.do_send(StopLeg);
                legs.rtp.do_send(StopLeg);
                if self.record.rtp.is_some() {
                    // The RTP leg already reported (it is the one that failed).
                    self.finish(ctx);
                } else {
                    // The RTP leg answers StopLeg with MediaStats; do not wait forever for it.
                    ctx.run_later(Duration::from_secs(2), |call, ctx| call.finish(ctx));
                }
            }
            None => self.finish(ctx),
        }
    }

    fn finish(&mut self, ctx: &mut Context<Self>) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Ended;
        if let Some(leg) = self.escalation.take() {
            // The call ended (the caller hung up) before its hand-back did: stop the leg and
            // record what it got to.
            leg.do_send(StopLeg);
            let refer = std::mem::take(&mut self.refer_report);
            let result = if refer.succeeded || refer.fell_back.is_some() {
                Ok(())
            } else {
                Err("the call ended before the hand-back finished".to_owned())
            };
            self.record_escalation(profile_name(self.p.trunk.profile), &result, refer);
        }
        let reason = std::mem::take(&mut self.end_reason);
        self.write_record(&reason);
        self.p.sip.do_send(CallGone {
            call_id: self.p.call_id.clone(),
            dialog: self.dialog.clone(),
        });
        self.slot.take();
        ctx.stop();
    }

    /// Hands the session record to the store on the blocking pool: the call's arbiter never
    /// waits on disk or network. A failed write is logged and counted; the call is over anyway.
    fn write_record(&mut self, end_reason: &str) {
        let mut draft = std::mem::take(&mut self.record);
        if let Some(esc) = draft.escalation.as_mut() {
            esc.agent_legs = std::mem::take(&mut draft.agent_legs);
            esc.assist_transcripts = std::mem::take(&mut draft.assist_transcripts);
        }
        let record = SessionRecord {
            session_id: self.session_id.clone(),
            call_id: self.p.call_id.clone(),
            ingress: IngressKind::Sip,
            did: self.p.did.clone(),
            trunk: Some(self.p.trunk.name.clone()),
            bot_id: self
                .p
                .bot
                .as_ref()
                .map(|b| b.id.clone())
                .unwrap_or_default(),
            contact_id: draft.contact_id,
            account_id: None,
            start_ms: draft.start_ms,
            answer_ms: draft.answer_ms,
            end_ms: unix_ms(),
            end_reason: end_reason.to_owned(),
            escalation: draft.escalation,
            codec: draft.codec,
            rtp: draft.rtp,
            dtmf: draft.dtmf,
            transcript: draft.transcript,
        };
        super::record::store(&self.p.node, record);
    }

    /// Performs the trunk profile's hand-back (escalation or bot hang-up) once.
    fn hand_back(
        &mut self,
        reason: String,
        headers: Vec<(String, String)>,
        ctx: &mut Context<Self>,
    ) {
        if self.escalation.is_some() || self.is_over() {
            return;
        }
        match self.phase {
            Phase::Answered | Phase::Confirmed => {}
            // Not answered yet: nothing to hand back over; refuse so the platform routes on.
            _ => {
                self.refuse(480, "Temporarily Unavailable", ctx);
                return;
            }
        }
        let Some(dialog) = self.dialog.clone() else {
            return;
        };
        let invite = self.p.trunk.profile == Profile::Invite;
        if invite && self.pending_escalation.is_some() && self.agent_failure.is_none() {
            if self.agent.is_none() {
                self.start_agent(ctx);
            }
            if self.agent.is_some() {
                return;
            }
        }
        let mut leg = EscalationLeg::new(
            self.p.trunk.clone(),
            dialog,
            self.p.sip.clone(),
            ctx.address(),
            HandBack { reason, headers },
        );
        if let Some(contact_id) = self.record.contact_id.clone() {
            // Stores the hand-back data under the contact id before the BYE; a no-op unless
            // the trunk's profile is amazon-connect.
            let esc = self.pending_escalation.clone().unwrap_or_default();
            leg = leg.with_connect(
                ConnectMetadata {
                    contact_id,
                    session_id: self.session_id.clone(),
                    variables: esc.variables,
                    metadata: esc.metadata,
                    transcript_summary: ConnectMetadata::summarize_transcript(
                        &self.record.transcript,
                    ),
                },
                &self.p.node,
            );
        }
        if self.p.trunk.transfers_by_refer() && self.pending_escalation.is_some() {
            // Escalations transfer by REFER; a bot's hang-up stays a plain BYE.
            leg = leg.with_refer(self.refer_plan(), self.caller_refer.take());
            self.refer_watch = true;
        }
        self.escalation = Some(leg.start());
    }

    /// Runs `f` so that a panic in this call's code ends this call cleanly (hand-back with
    /// reason `BotFailure`, or 503 before answer) instead of silently losing the caller.
    fn guarded(&mut self, ctx: &mut Context<Self>, f: impl FnOnce(&mut Self, &mut Context<Self>)) {
        if catch_unwind(AssertUnwindSafe(|| f(self, ctx))).is_ok() {
            return;
        }
        metrics::counter!(crate::metrics::CALL_PANICS).increment(1);
        tracing::error!(call_id = %self.p.call_id, session_id = %self.session_id, "a call handler panicked; ending the call cleanly");
        let recovered = catch_unwind(AssertUnwindSafe(|| match self.phase {
            Phase::Answered | Phase::Confirmed => {
                self.hand_back("BotFailure".into(), Vec::new(), ctx);
                if self.escalation.is_none() {
                    self.end("InternalError", ctx);
                }
            }
            Phase::Starting | Phase::Ringing => self.refuse(503, "Service Unavailable", ctx),
            Phase::Ending => self.finish(ctx),
            Phase::Ended => {}
        }));
        if recovered.is_err() {
            // Even the clean-up failed: at least free the slot and the registration.
            self.phase = Phase::Ended;
            self.p.sip.do_send(CallGone {
                call_id: self.p.call_id.clone(),
                dialog: self.dialog.clone(),
            });
            self.slot.take();
            ctx.stop();
        }
    }
}

/// A fresh SRTP master key and salt for our side of one call, from the OS's random source.
fn random_master_key() -> MasterKey {
    let mut bytes = [0u8; KEY_MATERIAL_LEN];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    MasterKey::from_bytes(bytes)
}

fn codec_kind(name: &str) -> Option<CodecKind> {
    match name.to_ascii_uppercase().as_str() {
        "PCMU" => Some(CodecKind::Pcmu),
        "PCMA" => Some(CodecKind::Pcma),
        "OPUS" => Some(CodecKind::Opus),
        "G722" => Some(CodecKind::G722),
        _ => None,
    }
}

/// The transcoder's name for the negotiated RTP codec.
fn ingress_format(kind: CodecKind) -> AudioFormat {
    match kind {
        CodecKind::Pcmu => AudioFormat::Pcmu,
        CodecKind::Pcma => AudioFormat::Pcma,
        CodecKind::Opus => AudioFormat::Opus48k,
        CodecKind::G722 => AudioFormat::G722,
        // CodecKind is non-exhaustive; the answer policy only offers the four above, and
        // G.711 µ-law is the safe assumption for anything newer.
        _ => AudioFormat::Pcmu,
    }
}

/// Whether `req` carries an SDP body.
pub(crate) fn is_sdp(req: &Request) -> bool {
    !req.body.is_empty() && is_sdp_type(req.headers.get(&HeaderName::ContentType))
}

/// Whether a Content-Type value names SDP.
pub(crate) fn is_sdp_type(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.trim()
            .to_ascii_lowercase()
            .starts_with("application/sdp")
    })
}

/// Our URI in this call (Contact, Referred-By).
fn our_uri(p: &CallParams) -> String {
    let transport = match p.transport {
        TransportKind::Udp => "",
        TransportKind::Tcp => ";transport=tcp",
        TransportKind::Tls => ";transport=tls",
    };
    let addr = SocketAddr::new(p.local_ip, p.endpoint.port());
    format!("<sip:voxgate@{addr}{transport}>")
}

fn with_contact(mut resp: Response, p: &CallParams) -> Response {
    resp.headers.push(HeaderName::Contact, our_uri(p));
    resp
}

impl Actor for Call {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        // Stopped without `finish` (the arbiter shut down): the legs go with it, the slot is
        // freed by Drop.
        self.stop_assist();
        if let Some(legs) = self.legs.take() {
            legs.rtp.do_send(StopLeg);
            legs.bot.stop();
        }
    }
}

impl Handler<CallEvent> for Call {
    type Result = ();
    fn handle(&mut self, event: CallEvent, ctx: &mut Context<Self>) {
        if self.is_over() {
            // Only the response to our BYE still matters to an ending call.
            if let CallEvent::Response { .. } | CallEvent::TransactionFailed { .. } = event {
                self.guarded(ctx, |call, ctx| call.on_event(event, ctx));
            }
            return;
        }
        self.guarded(ctx, |call, ctx| call.on_event(event, ctx));
    }
}

impl Call {
    fn on_event(&mut self, event: CallEvent, ctx: &mut Context<Self>) {
        match event {
            CallEvent::Invite { key, request, .. } => self.on_invite(key, request, ctx),
            CallEvent::Request { key, request } => self.on_request(key, &request, ctx),
            CallEvent::Ack { .. } => {
                if self.phase == Phase::Answered {
                    self.phase = Phase::Confirmed;
                }
                if test_hooks::panics_on(&self.p.did) {
                    panic!("test hook: VOXGATE_TEST_PANIC_DID matched {}", self.p.did);
                }
            }
            CallEvent::Cancelled { key } => {
                if matches!(self.phase, Phase::Starting | Phase::Ringing) {
                    self.p.sip.do_send(Terminate {
                        key,
                        to_tag: Some(self.to_tag.clone()),
                    });
                    self.end("CallerCancelled", ctx);
                }
            }
            CallEvent::Response { response, .. } => {
                let is_update = response.cseq().is_ok_and(|c| c.method == Method::Update);
                if is_update && (200..300).contains(&response.status) {
                    if let Some(timer) = self.session_timer.as_mut() {
                        timer.refreshed(Instant::now(), None);
                        self.arm_session_timer(ctx);
                    }
                }
                let is_bye = response.cseq().is_ok_and(|c| c.method == Method::Bye);
                if is_bye && response.status >= 200 {
                    if let Some(leg) = &self.escalation {
                        leg.do_send(ByeAnswered {
                            status: Some(response.status),
                        });
                    }
                }
                let is_invite = response.cseq().is_ok_and(|c| c.method == Method::Invite);
                if is_invite && response.status >= 200 && self.relaying {
                    self.on_relay_response(&response);
                }
                let is_refer = response.cseq().is_ok_and(|c| c.method == Method::Refer);
                if is_refer && response.status >= 200 {
                    if let Some(leg) = &self.escalation {
                        leg.do_send(ReferAnswered {
                            status: Some(response.status),
                        });
                    }
                }
            }
            CallEvent::TransactionFailed { key } => {
                let invite_failed = self.invite.as_ref().is_some_and(|(k, _)| *k == key);
                if invite_failed {
                    self.end("TransactionFailed", ctx);
                } else if key.method == Method::Bye {
                    if let Some(leg) = &self.escalation {
                        leg.do_send(ByeAnswered { status: None });
                    }
                } else if key.method == Method::Refer {
                    if let Some(leg) = &self.escalation {
                        leg.do_send(ReferAnswered { status: None });
                    }
                } else if key.method == Method::Invite && self.relaying {
                    self.relay_answered(false);
                }
            }
            CallEvent::AckTimeout => {
                self.bye(Vec::new());
                self.end("AckTimeout", ctx);
            }
        }
    }
}

impl Handler<Escalate> for Call {
    type Result = ();
    fn handle(&mut self, msg: Escalate, ctx: &mut Context<Self>) {
        self.guarded(ctx, |call, ctx| {
            call.pending_escalation = Some(msg.clone());
            call.hand_back(msg.reason, msg.headers, ctx);
        });
    }
}

impl Handler<Hangup> for Call {
    type Result = ();
    fn handle(&mut self, msg: Hangup, ctx: &mut Context<Self>) {
        self.guarded(ctx, |call, ctx| {
            call.hand_back(msg.reason, msg.headers, ctx)
        });
    }
}

impl Handler<Transcript> for Call {
    type Result = ();
    fn handle(&mut self, msg: Transcript, _ctx: &mut Context<Self>) {
        self.on_transcript(msg);
    }
}

impl Handler<HandBackDone> for Call {
    type Result = ();
    fn handle(&mut self, msg: HandBackDone, ctx: &mut Context<Self>) {
        let hand_back_reason = self.escalation_reason();
        let mut refer = msg.refer;
        let mut profile = msg.profile;
        if let Some(agent) = self.agent_failure.take() {
            // The agent chain failed first: that is what the fallback fell back from.
            profile = "invite";
            refer.fell_back = Some(match refer.fell_back {
                Some(cause) => format!("agent: {agent}; {cause}"),
                None => format!("agent: {agent}"),
            });
        }
        self.record_escalation(profile, &msg.result, refer);
        self.escalation = None;
        self.refer_watch = false;
        self.end(&hand_back_reason, ctx);
    }
}

impl Handler<LegExited> for Call {
    type Result = ();
    fn handle(&mut self, msg: LegExited, ctx: &mut Context<Self>) {
        if self.is_over() {
            return;
        }
        let ExitCause::Failed(why) = &msg.cause else {
            return;
        };
        tracing::debug!(call_id = %self.p.call_id, leg = ?msg.leg, %why, "leg failed");
        match msg.leg {
            LegKind::Ingress => {
                let outcome = if why.contains("timeout") {
                    "MediaTimeout"
                } else {
                    "MediaError"
                };
                let reason = format!("SIP;cause=408;text=\"{outcome}\"");
                self.bye(vec![(HeaderName::Reason, reason)]);
                self.end(outcome, ctx);
            }
            // The bot was released for the agent leg: its end is expected.
            LegKind::Bot if self.agent.is_some() || self.agent_bridged => {}
            LegKind::Bot if self.restart_bot(ctx) => {}
            // A failed bot past its restart budget, or a failed transcoder: the caller goes to
            // a human, never away.
            LegKind::Bot | LegKind::Transcoder => {
                metrics::counter!(crate::metrics::BOT_FAILURES).increment(1);
                self.pending_escalation = Some(Escalate {
                    reason: "BotFailure".into(),
                    ..Escalate::default()
                });
                self.hand_back("BotFailure".into(), Vec::new(), ctx);
            }
            LegKind::Escalation => {}
        }
    }
}

impl Handler<Dtmf> for Call {
    type Result = ();
    fn handle(&mut self, msg: Dtmf, _ctx: &mut Context<Self>) {
        if self.is_over() {
            return;
        }
        if self.record.dtmf.len() < 256 {
            self.record.dtmf.push(msg.digit);
        }
        if let Some(agent) = self.agent.as_ref().filter(|_| self.agent_bridged) {
            agent.do_send(msg);
        } else if let Some(legs) = &self.legs {
            legs.bot.dtmf(msg);
        }
    }
}

impl Handler<MediaStats> for Call {
    type Result = ();
    fn handle(&mut self, stats: MediaStats, ctx: &mut Context<Self>) {
        metrics::counter!(crate::metrics::RTP_PACKETS, "direction" => "received")
            .increment(stats.packets_received);
        metrics::counter!(crate::metrics::RTP_PACKETS, "direction" => "sent")
            .increment(stats.packets_sent);
        metrics::counter!(crate::metrics::RTP_LOST).increment(stats.packets_lost);
        metrics::histogram!(crate::metrics::RTP_JITTER_MS).record(stats.jitter_max_ms);
        self.record.rtp = Some(store::RtpCounters {
            packets_sent: stats.packets_sent,
            packets_received: stats.packets_received,
            packets_lost: stats.packets_lost,
            jitter_ms: stats.jitter_mean_ms,
        });
        if self.phase == Phase::Ending {
            self.finish(ctx);
        }
    }
}

impl Call {
    /// Supervision: restarts a failed bot leg after a backoff when the call's budget allows
    /// (`[bots.restart]`); false when it does not (or the leg cannot be restarted).
    fn restart_bot(&mut self, ctx: &mut Context<Self>) -> bool {
        let Some(bot) = self.legs.as_ref().and_then(|l| l.bot.restarter()) else {
            return false;
        };
        let budget = self
            .p
            .bot
            .as_ref()
            .map(|b| b.restart.clone())
            .unwrap_or_default();
        if self.escalation.is_some() || self.agent.is_some() {
            return false;
        }
        let Some(delay) = self.bot_restarts.take(&budget, Instant::now()) else {
            tracing::info!(call_id = %self.p.call_id, used = self.bot_restarts.used(), "bot restart budget spent");
            return false;
        };
        tracing::info!(call_id = %self.p.call_id, attempt = self.bot_restarts.used(), ?delay, "restarting the bot leg");
        metrics::counter!(crate::metrics::BOT_RESTARTS).increment(1);
        ctx.run_later(delay, move |call, _ctx| {
            if !call.is_over() && call.escalation.is_none() {
                bot.do_send(RestartBot);
            }
        });
        true
    }

    /// Puts the pending escalation and how it went into the session record.
    fn record_escalation(
        &mut self,
        profile: &str,
        result: &Result<(), String>,
        refer: ReferOutcome,
    ) {
        let Some(esc) = self.pending_escalation.take() else {
            return;
        };
        self.record.escalation = Some(store::Escalation {
            reason: esc.reason,
            target: esc.target,
            profile: profile.to_owned(),
            outcome: match (result, refer.fell_back) {
                (Ok(()), None) => EscalationOutcome::Completed,
                (Ok(()), Some(cause)) => EscalationOutcome::FellBack { cause },
                (Err(cause), None) => EscalationOutcome::Failed {
                    cause: cause.clone(),
                },
                (Err(cause), Some(refer)) => EscalationOutcome::Failed {
                    cause: format!("{refer}; fallback: {cause}"),
                },
            },
            at_ms: unix_ms(),
            variables: esc.variables,
            refer_to: refer.refer_to,
            refer_status: refer.status,
            agent_legs: Vec::new(),
            assist_transcripts: Vec::new(),
        });
    }

    /// The reason the call ends with after a hand-back: the one the bot gave.
    fn escalation_reason(&self) -> String {
        self.pending_escalation
            .as_ref()
            .map(|e| e.reason.clone())
            .unwrap_or_else(|| "HangUp".into())
    }
}

/// Test hooks, read once from the environment. `VOXGATE_TEST_PANIC_DID=+1999` makes calls to
/// that DID panic in their ACK handler (Talkdesk streams: on their first DTMF), so tests can
/// prove a panic ends only that call, cleanly.
pub(crate) mod test_hooks {
    use std::sync::OnceLock;

    /// Whether calls (and Talkdesk streams) to `did` are to panic for a test.
    pub(crate) fn panics_on(did: &str) -> bool {
        static DID: OnceLock<Option<String>> = OnceLock::new();
        DID.get_or_init(|| std::env::var("VOXGATE_TEST_PANIC_DID").ok())
            .as_deref()
            .is_some_and(|d| d == did)
    }
}

impl Handler<Shutdown> for Call {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        match self.phase {
            Phase::Starting | Phase::Ringing => self.refuse(503, "Service Unavailable", ctx),
            Phase::Answered | Phase::Confirmed => {
                let reason = (
                    HeaderName::Reason,
                    "SIP;cause=503;text=\"node shutting down\"".to_owned(),
                );
                self.bye(vec![reason]);
                self.end("NodeShutdown", ctx);
            }
            Phase::Ending | Phase::Ended => {}
        }
    }
}
