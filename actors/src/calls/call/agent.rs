//! The `invite` profile's side of the call actor: starting the agent leg in the bot's place,
//! following its reports (bridged, chain failed → fallback, agent hung up → caller's BYE), and
//! closing its attempts for the session record.

use actix::{Actor, Addr, AsyncContext, Context, Handler};
use voxgate_codecs::AudioFormat;
use voxgate_engine::config::BotKind;
use voxgate_engine::sdp::{Direction, SessionDescription};
use voxgate_engine::sip::message::{HeaderName, Method, Response};

use super::{Call, ReferOutcome};
use crate::bots::WsBot;
use crate::calls::agent::{
    AgentLeg, AgentOwner, AgentPlan, AgentReport, AgentState, AssistMixer, RelayAnswered,
    RelayCallerReoffer, RelayReoffer, Ringback,
};
use crate::calls::bot_tree::BotLeg;
use crate::calls::messages::{StopLeg, Transcript};
use crate::calls::transcoder::SetBotSide;
use crate::media::DetachBot;
use crate::sip::endpoint::SendInDialog;

impl Call {
    /// Starts the agent leg for the pending escalation: the transcoder's bot side becomes the
    /// agent leg and the bot is released. Without a usable plan the failure is noted and the
    /// caller gets the fallback instead (the caller of this returns to run it).
    pub(super) fn start_agent(&mut self, ctx: &mut Context<Self>) {
        let esc = self.pending_escalation.clone().unwrap_or_default();
        let plan = AgentPlan::new(&self.p.trunk.invite, &esc, &self.session_id)
            .map(|plan| plan.with_tls(self.p.node.agent_tls.get(&self.p.trunk.name).cloned()));
        let (plan, legs) = match (plan, self.legs.as_ref()) {
            (Ok(plan), Some(legs)) => (plan, legs),
            (Err(why), _) => {
                tracing::info!(call_id = %self.p.call_id, %why, "no agent to call; fallback");
                self.agent_failure = Some(why);
                return;
            }
            (Ok(_), None) => {
                self.agent_failure = Some("the call has no media to bridge".into());
                return;
            }
        };
        let agent_ctx = Context::<AgentLeg>::new();
        let agent = agent_ctx.address();
        // A bot wired to the RTP leg directly gets no more caller audio: it all goes through
        // the transcoder, to the agent.
        legs.rtp.do_send(DetachBot);
        legs.transcoder.do_send(SetBotSide {
            format: plan.format,
            to_bot: agent.clone().recipient(),
        });
        let assist = self.start_assist(plan.format, &legs.bot);
        if assist.is_none() {
            legs.bot.stop();
        }
        let owner = AgentOwner {
            to_caller: legs.transcoder.clone().recipient(),
            dtmf_to_caller: legs.rtp.clone().recipient(),
            report: ctx.address().recipient(),
            assist: assist.clone(),
            relay: ctx.address().recipient(),
        };
        self.assisting = assist.is_some();
        self.assist = assist;
        let ringback = Ringback::for_config(
            &self.p.trunk.invite,
            plan.format,
            &self.p.node.ringback_files,
        );
        let leg = AgentLeg::new(
            plan,
            ringback,
            self.sip_bot_call(),
            owner,
            self.p.sip.clone(),
        );
        self.agent = Some(agent_ctx.run(leg));
        metrics::counter!(crate::metrics::AGENT_CALLS, "outcome" => "started").increment(1);
    }

    /// `assist = true`: the bot turns listen-only and a mixer of the caller's and the agent's
    /// audio (in `agent_format`) feeds it. Only a WebSocket bot can listen: others are released.
    fn start_assist(&self, agent_format: AudioFormat, bot: &BotLeg) -> Option<Addr<AssistMixer>> {
        let config = self.p.bot.as_ref().filter(|_| self.p.trunk.invite.assist)?;
        if config.kind != BotKind::Websocket {
            tracing::info!(call_id = %self.p.call_id, "assist needs a WebSocket bot; bot released");
            return None;
        }
        let bot_format = WsBot::audio_format(config.websocket.format);
        let to_bot = bot.listen_only()?;
        match AssistMixer::new(agent_format, bot_format, to_bot) {
            Ok(mixer) => Some(mixer.start()),
            Err(e) => {
                tracing::warn!(call_id = %self.p.call_id, error = %e, "no assist mixer; bot released");
                None
            }
        }
    }

    /// Stops agent assist's mixer (the bot leg goes with the call's other legs).
    pub(super) fn stop_assist(&mut self) {
        if let Some(mixer) = self.assist.take() {
            mixer.do_send(StopLeg);
        }
    }

    /// A bot transcript line: the session's transcript, or once the caller is with the agent
    /// and the bot only listens, the escalation's assist transcript.
    pub(super) fn on_transcript(&mut self, msg: Transcript) {
        if !self.assisting || !self.agent_bridged {
            crate::calls::record::push_transcript(&mut self.record.transcript, msg);
            return;
        }
        let lines = &mut self.record.assist_transcripts;
        if lines.len() < crate::calls::record::MAX_TRANSCRIPT_LINES {
            lines.push(voxgate_engine::store::AssistLine {
                role: msg.role,
                text: msg.text,
                at_ms: crate::calls::record::unix_ms(),
            });
        }
    }

    /// The final answer to our relayed re-INVITE: its agreement goes to the caller's legs.
    pub(super) fn on_relay_response(&mut self, response: &Response) {
        let negotiated = (200..300)
            .contains(&response.status)
            .then(|| SessionDescription::parse(&response.body).ok())
            .flatten()
            .and_then(|answer| self.sdp.as_mut()?.handle_answer(&answer).ok());
        if let Some(n) = &negotiated {
            self.apply_caller_media(&n.media);
        }
        self.relay_answered(negotiated.is_some());
    }

    /// `invite`: the caller re-offered `direction` (hold, resume): a bridged agent is offered
    /// our side in it, unless that is what it was last offered.
    pub(super) fn relay_to_agent(&mut self, direction: Direction) {
        let Some(agent) = self.agent.as_ref().filter(|_| self.agent_bridged) else {
            return;
        };
        if direction != self.agent_direction {
            tracing::debug!(call_id = %self.p.call_id, ?direction, "relaying the caller's re-offer to the agent");
            self.agent_direction = direction;
            agent.do_send(RelayCallerReoffer { direction });
        }
    }

    /// Tells the agent leg how the relay went, so that it answers the agent.
    pub(super) fn relay_answered(&mut self, ok: bool) {
        self.relaying = false;
        if let Some(agent) = &self.agent {
            agent.do_send(RelayAnswered { ok });
        }
    }

    /// The call ends with `outcome`: an agent attempt still open ends with it.
    pub(super) fn close_agent_legs(&mut self, outcome: &str) {
        let now = crate::calls::record::unix_ms();
        for leg in self
            .record
            .agent_legs
            .iter_mut()
            .filter(|l| l.end_ms.is_none())
        {
            leg.end_ms = Some(now);
            leg.cause = match (leg.answer_ms.is_some(), outcome) {
                (true, "CallerHangUp") => "caller-hangup".into(),
                (true, _) => outcome.to_owned(),
                (false, _) => "cancelled".into(),
            };
        }
    }
}

impl Handler<AgentReport> for Call {
    type Result = ();
    fn handle(&mut self, msg: AgentReport, ctx: &mut Context<Self>) {
        if self.is_over() {
            return;
        }
        self.guarded(ctx, move |call, ctx| {
            call.record.agent_legs = msg.legs;
            match msg.state {
                AgentState::Ringing => {}
                AgentState::Answered => {
                    call.agent_bridged = true;
                    metrics::counter!(crate::metrics::AGENT_CALLS, "outcome" => "answered")
                        .increment(1);
                    // The hand-back is done: the caller is with a human. The record's
                    // escalation is written now; the agent leg's times are added at the end.
                    call.record_escalation("invite", &Ok(()), ReferOutcome::default());
                }
                AgentState::Failed(cause) => {
                    metrics::counter!(crate::metrics::AGENT_CALLS, "outcome" => "failed")
                        .increment(1);
                    call.agent = None;
                    call.stop_assist();
                    call.assisting = false;
                    call.agent_failure = Some(cause);
                    let esc = call.pending_escalation.clone().unwrap_or_default();
                    call.hand_back(esc.reason, esc.headers, ctx);
                }
                AgentState::Ended(cause) => {
                    call.agent = None;
                    let reason = format!("SIP;cause=200;text=\"{cause}\"");
                    call.bye(vec![(HeaderName::Reason, reason)]);
                    call.end("AgentHangUp", ctx);
                }
            }
        });
    }
}

/// The agent re-offered: the caller is offered our side in the same direction.
impl Handler<RelayReoffer> for Call {
    type Result = ();
    fn handle(&mut self, msg: RelayReoffer, ctx: &mut Context<Self>) {
        if !self.is_over() {
            self.guarded(ctx, move |call, ctx| call.relay_reoffer(msg, ctx));
        }
    }
}

impl Call {
    fn relay_reoffer(&mut self, msg: RelayReoffer, ctx: &mut Context<Self>) {
        if self.relaying {
            // The last relay is still out: this agent re-offer stays local.
            if let Some(agent) = &self.agent {
                agent.do_send(RelayAnswered { ok: false });
            }
            return;
        }
        let offer = self
            .sdp
            .as_mut()
            .map(|s| s.create_offer(msg.direction))
            .transpose()
            .unwrap_or_else(|e| {
                tracing::warn!(call_id = %self.p.call_id, error = %e, "no re-offer for the caller");
                None
            });
        let (Some(offer), Some(dialog)) = (offer, self.dialog.clone()) else {
            self.relay_answered(false);
            return;
        };
        tracing::debug!(call_id = %self.p.call_id, direction = ?msg.direction, "relaying the agent's re-INVITE");
        self.relaying = true;
        self.p.sip.do_send(SendInDialog {
            dialog,
            method: Method::Invite,
            headers: Vec::new(),
            body: Some(("application/sdp".into(), offer.to_bytes())),
            reply_to: Some(ctx.address()),
        });
    }
}
