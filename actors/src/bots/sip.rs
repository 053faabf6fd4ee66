//! [`SipBot`]: the bot leg of a SIP bot (`kind = "sip"`), voxgate as a B2BUA. The leg places a
//! second call from the node to the bot's URI through the endpoint ([`PlaceCall`]), with its own
//! RTP socket pair and [`RtpLeg`], and relays media between that leg and the call's transcoder:
//! the caller's audio arrives in the bot's codec (the one codec offered, so the negotiated codec
//! is the bot format) and goes out as RTP, the bot's RTP goes to the transcoder and on to the
//! caller. Caller DTMF goes to the bot as RFC 4733.
//!
//! Lifecycle:
//! - The INVITE carries the session id, the DID and the caller in headers (configurable names)
//!   so that the bot platform can correlate.
//! - The bot's BYE is the hand-back ([`hand_back::from_bye`]): a reason other than `HangUp`
//!   escalates, `HangUp` or none ends the call; its `X-`/`kore-` headers travel on. Its REFER is
//!   answered 202 and a final NOTIFY (`SIP/2.0 200 OK`), then escalates toward the Refer-To.
//! - Failure (a non-2xx answer, no final answer within `connect_timeout_ms`, an unusable SDP
//!   answer, no RTP for `rtp_timeout_secs`) is reported as `LegExited{Bot, Failed}` and the leg
//!   goes idle, keeping its address (like [`super::WsBot`]): the call restarts it with
//!   [`RestartBot`] (a new dial: new Call-ID, new sockets) or hands the caller back.
//! - [`StopLeg`] (the caller hung up, or the hand-back is done) ends the bot's call: BYE when it
//!   was answered, CANCEL while it rings.

pub mod dial;
mod hand_back;
mod media_tap;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, SpawnHandle};
use voxgate_codecs::AudioFormat;
use voxgate_engine::config::{PortRange, SipBotConfig};
use voxgate_engine::sdp::{CodecKind, SessionDescription};
use voxgate_engine::sip::message::typed::ReferTo;
use voxgate_engine::sip::message::{HeaderName, Method, Request};
use voxgate_engine::sip::transaction::{TransactionKey, TransportKind};

pub use hand_back::{from_bye, from_refer, BotHandBack, HANGUP_REASON, REFER_REASON};
pub use media_tap::{BotMediaExited, BotMediaTap};

use super::{BotOwner, RestartBot};
use crate::calls::messages::{
    AudioFrame, Dtmf, ExitCause, LegExited, LegKind, MarkPlayed, StopLeg,
};
use crate::media::{RtpLeg, RtpPair};
use crate::metrics::FRAMES_DROPPED;
use crate::sip::endpoint::{
    EndOutgoing, OutgoingEvent, OutgoingRequest, PlaceCall, Respond, SipEndpoint,
};

/// Who the bot's call is about, and where its media lives.
#[derive(Debug, Clone)]
pub struct SipBotCall {
    /// The call's session id (sent in the session header).
    pub session_id: String,
    /// The dialled number.
    pub did: String,
    /// The caller (user part of the caller's From).
    pub caller: String,
    /// Our address for the bot's RTP when it is fixed (the configured public address, or the
    /// address SIP listens on); `None`: the local address that routes to the bot.
    pub media_ip: Option<IpAddr>,
    /// The caller-side media address, used when there is no route to the bot.
    pub local_ip: IpAddr,
    /// RTP port range.
    pub rtp_ports: PortRange,
    /// Jitter buffer bounds for the bot's audio, in ms.
    pub jitter_ms: (u32, u32),
    /// RTCP report interval.
    pub rtcp_interval: Duration,
}

/// Where a dial stands.
enum Dial {
    /// No call to the bot: not started, failed (awaiting a restart), or ended.
    Idle,
    /// INVITE sent, no final answer yet.
    Ringing {
        call_id: String,
        pair: RtpPair,
        offer: Box<SessionDescription>,
        timeout: SpawnHandle,
    },
    /// Answered; media flows through `rtp`.
    Up {
        call_id: String,
        rtp: Addr<RtpLeg>,
        /// Our SDP, repeated as the answer to a re-INVITE.
        offer: Vec<u8>,
    },
}

/// See the module documentation.
pub struct SipBot {
    config: SipBotConfig,
    call: SipBotCall,
    owner: BotOwner,
    sip: Addr<SipEndpoint>,
    dial: Dial,
    /// Counts dials, so that the end of an old dial's media is not taken for the new one's.
    generation: u64,
    /// The bot handed the call back: no more restarts.
    done: bool,
    stopping: bool,
}

/// The transcoder's name for the codec a SIP bot is offered.
pub fn codec_format(codec: &str) -> AudioFormat {
    match codec_kind(codec) {
        CodecKind::Pcma => AudioFormat::Pcma,
        CodecKind::Opus => AudioFormat::Opus48k,
        CodecKind::G722 => AudioFormat::G722,
        _ => AudioFormat::Pcmu,
    }
}

/// The configured codec; the config check allows only these four, PCMU stands in otherwise.
pub(crate) fn codec_kind(codec: &str) -> CodecKind {
    match codec.to_ascii_uppercase().as_str() {
        "PCMA" => CodecKind::Pcma,
        "OPUS" => CodecKind::Opus,
        "G722" => CodecKind::G722,
        _ => CodecKind::Pcmu,
    }
}

impl SipBot {
    /// A bot leg toward `config.uri`; it dials when started.
    pub fn new(
        config: SipBotConfig,
        call: SipBotCall,
        owner: BotOwner,
        sip: Addr<SipEndpoint>,
    ) -> SipBot {
        SipBot {
            config,
            call,
            owner,
            sip,
            dial: Dial::Idle,
            generation: 0,
            done: false,
            stopping: false,
        }
    }

    /// The bot's audio format (the transcoder's bot side).
    pub fn audio_format(config: &SipBotConfig) -> AudioFormat {
        codec_format(&config.codec)
    }

    fn destination(&self) -> Result<SocketAddr, String> {
        dial::resolve_uri(&self.config.uri).map_err(|e| format!("bot {e}"))
    }

    fn start_dial(&mut self, ctx: &mut Context<Self>) -> Result<(), String> {
        let destination = self.destination()?;
        let (pair, _, offer) =
            dial::offer_media(&self.call, destination, codec_kind(&self.config.codec))?;
        self.generation += 1;
        let call_id = dial::new_call_id();
        let headers = [
            (&self.config.session_header, &self.call.session_id),
            (&self.config.did_header, &self.call.did),
            (&self.config.caller_header, &self.call.caller),
        ]
        .into_iter()
        .filter(|(name, value)| !name.is_empty() && !value.is_empty())
        .map(|(name, value)| (HeaderName::from_wire(name), value.clone()))
        .collect();
        tracing::debug!(uri = %self.config.uri, %call_id, "calling the SIP bot");
        self.sip.do_send(PlaceCall {
            call_id: call_id.clone(),
            to: self.config.uri.trim().to_owned(),
            from_user: "voxgate".into(),
            destination,
            transport: TransportKind::Udp,
            tls: None,
            headers,
            sdp_offer: offer.to_bytes(),
            credentials: None,
            owner: ctx.address().recipient(),
        });
        let generation = self.generation;
        let wait = Duration::from_millis(self.config.connect_timeout_ms);
        let timeout = ctx.run_later(wait, move |bot, ctx| {
            if bot.generation == generation && matches!(bot.dial, Dial::Ringing { .. }) {
                let ms = bot.config.connect_timeout_ms;
                bot.fail(format!("the bot did not answer within {ms} ms"), ctx);
            }
        });
        self.dial = Dial::Ringing {
            call_id,
            pair,
            offer: Box::new(offer),
            timeout,
        };
        Ok(())
    }

    fn dial(&mut self, ctx: &mut Context<Self>) {
        if let Err(why) = self.start_dial(ctx) {
            self.fail(why, ctx);
        }
    }

    /// Ends the current dial (BYE or CANCEL through the endpoint) and its media.
    fn hang_up_dial(&mut self, ctx: &mut Context<Self>) {
        match std::mem::replace(&mut self.dial, Dial::Idle) {
            Dial::Idle => {}
            Dial::Ringing {
                call_id, timeout, ..
            } => {
                ctx.cancel_future(timeout);
                self.sip.do_send(EndOutgoing {
                    call_id,
                    headers: Vec::new(),
                });
            }
            Dial::Up { call_id, rtp, .. } => {
                rtp.do_send(StopLeg);
                self.sip.do_send(EndOutgoing {
                    call_id,
                    headers: Vec::new(),
                });
            }
        }
    }

    /// The dial failed: tear it down and let the call decide (restart or hand back).
    fn fail(&mut self, why: String, ctx: &mut Context<Self>) {
        self.hang_up_dial(ctx);
        if self.stopping || self.done {
            return;
        }
        tracing::info!(uri = %self.config.uri, %why, "SIP bot leg failed");
        self.owner.exited.do_send(LegExited {
            leg: LegKind::Bot,
            cause: ExitCause::Failed(why),
        });
    }

    fn current_call_id(&self) -> Option<&str> {
        match &self.dial {
            Dial::Idle => None,
            Dial::Ringing { call_id, .. } | Dial::Up { call_id, .. } => Some(call_id),
        }
    }

    fn answered(&mut self, body: &[u8], ctx: &mut Context<Self>) -> Result<(), String> {
        let Dial::Ringing {
            call_id,
            pair,
            offer,
            timeout,
        } = std::mem::replace(&mut self.dial, Dial::Idle)
        else {
            return Ok(());
        };
        ctx.cancel_future(timeout);
        let media = match dial::negotiate(&offer, body) {
            Ok(m) => m,
            Err(why) => {
                // Answered but unusable: the bot's call is ended before the leg fails.
                self.sip.do_send(EndOutgoing {
                    call_id,
                    headers: Vec::new(),
                });
                return Err(format!("bot {why}"));
            }
        };
        let config = dial::rtp_config(
            media,
            &self.call,
            format!("voxgate-bot-{}", self.call.session_id),
            LegKind::Bot,
            Duration::from_secs(self.config.rtp_timeout_secs),
        );
        let rtp = BotMediaTap::new(
            self.generation,
            self.owner.audio.clone(),
            ctx.address().recipient(),
            None,
        )
        .start_rtp(pair, config);
        self.dial = Dial::Up {
            call_id,
            rtp,
            offer: offer.to_bytes(),
        };
        Ok(())
    }

    fn on_request(&mut self, key: TransactionKey, req: &Request) {
        let reason_headers = self.config.reason_headers.clone();
        match req.method {
            Method::Bye => {
                self.respond(key, req, 200, "OK");
                // The endpoint forgot the bot's call with its BYE: nothing left to end.
                if let Dial::Up { rtp, .. } = std::mem::replace(&mut self.dial, Dial::Idle) {
                    rtp.do_send(StopLeg);
                }
                self.done = true;
                match from_bye(req, &reason_headers) {
                    BotHandBack::Escalate(esc) => {
                        tracing::info!(reason = %esc.reason, "the SIP bot escalates");
                        self.owner.escalate.do_send(esc);
                    }
                    BotHandBack::Hangup(hangup) => self.owner.hangup.do_send(hangup),
                }
            }
            Method::Refer => {
                let target = req
                    .headers
                    .get(&HeaderName::ReferTo)
                    .and_then(|raw| ReferTo::parse(raw).ok())
                    .map(|r| r.addr.uri);
                let Some(target) = target else {
                    self.respond(key, req, 400, "Bad Refer-To");
                    return;
                };
                self.respond(key, req, 202, "Accepted");
                // The transfer is ours to perform; the bot is told at once that it succeeded,
                // since its part in the call is over either way (RFC 3515 §2.4.4).
                if let Some(call_id) = self.current_call_id() {
                    self.sip.do_send(OutgoingRequest {
                        call_id: call_id.to_owned(),
                        method: Method::Notify,
                        headers: vec![
                            (HeaderName::Event, "refer".into()),
                            (
                                HeaderName::SubscriptionState,
                                "terminated;reason=noresource".into(),
                            ),
                        ],
                        body: Some((
                            "message/sipfrag;version=2.0".into(),
                            b"SIP/2.0 200 OK\r\n".to_vec(),
                        )),
                    });
                }
                self.done = true;
                self.owner
                    .escalate
                    .do_send(from_refer(req, target, &reason_headers));
            }
            Method::Invite => {
                // A session refresh or a re-offer: we keep our stream as it is and say so.
                let sdp = match &self.dial {
                    Dial::Up { offer, .. } => Some(offer.clone()),
                    _ => None,
                };
                match sdp {
                    Some(sdp) => {
                        let mut ok = req.response(200, "OK", None);
                        ok.headers
                            .push(HeaderName::ContentType, "application/sdp".to_owned());
                        ok.body = sdp;
                        self.sip.do_send(Respond { key, response: ok });
                    }
                    None => self.respond(key, req, 491, "Request Pending"),
                }
            }
            _ => self.respond(key, req, 200, "OK"),
        }
    }

    fn respond(&self, key: TransactionKey, req: &Request, status: u16, reason: &str) {
        self.sip.do_send(Respond {
            key,
            response: req.response(status, reason, None),
        });
    }
}

impl Actor for SipBot {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.dial(ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        self.hang_up_dial(ctx);
        self.owner.exited.do_send(LegExited {
            leg: LegKind::Bot,
            cause: ExitCause::Normal("stopped".into()),
        });
    }
}

impl Handler<OutgoingEvent> for SipBot {
    type Result = ();
    fn handle(&mut self, event: OutgoingEvent, ctx: &mut Context<Self>) {
        let ours = |call_id: &str, bot: &SipBot| bot.current_call_id() == Some(call_id);
        match event {
            OutgoingEvent::Progress { .. } | OutgoingEvent::Response { .. } => {}
            OutgoingEvent::Answered { call_id, response } => {
                if !ours(&call_id, self) {
                    // A dial given up on (timed out, stopped) answered late: end it.
                    self.sip.do_send(EndOutgoing {
                        call_id,
                        headers: Vec::new(),
                    });
                    return;
                }
                if let Err(why) = self.answered(&response.body, ctx) {
                    self.fail(why, ctx);
                }
            }
            OutgoingEvent::Failed { call_id, status } => {
                if ours(&call_id, self) {
                    self.fail(format!("the bot answered {status}"), ctx);
                }
            }
            OutgoingEvent::Request {
                call_id,
                key,
                request,
            } => {
                if ours(&call_id, self) && !self.stopping {
                    self.on_request(key, &request);
                } else {
                    self.respond(key, &request, 481, "Call/Transaction Does Not Exist");
                }
            }
        }
    }
}

impl Handler<AudioFrame> for SipBot {
    type Result = ();
    fn handle(&mut self, frame: AudioFrame, _ctx: &mut Context<Self>) {
        if let Dial::Up { rtp, .. } = &self.dial {
            if rtp.try_send(frame).is_err() {
                metrics::counter!(FRAMES_DROPPED, "leg" => "bot").increment(1);
            }
        }
    }
}

impl Handler<Dtmf> for SipBot {
    type Result = ();
    fn handle(&mut self, digit: Dtmf, _ctx: &mut Context<Self>) {
        if let Dial::Up { rtp, .. } = &self.dial {
            rtp.do_send(digit);
        }
    }
}

impl Handler<MarkPlayed> for SipBot {
    type Result = ();
    fn handle(&mut self, _: MarkPlayed, _ctx: &mut Context<Self>) {
        // A SIP bot sends no marks; the ingress answers none.
    }
}

impl Handler<BotMediaExited> for SipBot {
    type Result = ();
    fn handle(&mut self, exit: BotMediaExited, ctx: &mut Context<Self>) {
        if exit.generation != self.generation || !matches!(self.dial, Dial::Up { .. }) {
            return;
        }
        if let ExitCause::Failed(why) = exit.cause {
            self.fail(format!("bot media: {why}"), ctx);
        }
    }
}

impl Handler<RestartBot> for SipBot {
    type Result = ();
    fn handle(&mut self, _: RestartBot, ctx: &mut Context<Self>) {
        if matches!(self.dial, Dial::Idle) && !self.stopping && !self.done {
            self.dial(ctx);
        }
    }
}

impl Handler<StopLeg> for SipBot {
    type Result = ();
    fn handle(&mut self, _: StopLeg, ctx: &mut Context<Self>) {
        self.stopping = true;
        ctx.stop();
    }
}
