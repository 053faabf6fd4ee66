//! The `invite` profile's side of the call actor: starting the agent leg in the bot's place,
//! following its reports (bridged, chain failed → fallback, agent hung up → caller's BYE), and
//! closing its attempts for the session record.

use actix::{AsyncContext, Context, Handler};
use voxgate_engine::sip::message::HeaderName;

use super::{Call, ReferOutcome};
use crate::calls::agent::{AgentLeg, AgentOwner, AgentPlan, AgentReport, AgentState};
use crate::calls::transcoder::SetBotSide;
use crate::media::DetachBot;

impl Call {
    /// Starts the agent leg for the pending escalation: the transcoder's bot side becomes the
    /// agent leg and the bot is released. Without a usable plan the failure is noted and the
    /// caller gets the fallback instead (the caller of this returns to run it).
    pub(super) fn start_agent(&mut self, ctx: &mut Context<Self>) {
        let esc = self.pending_escalation.clone().unwrap_or_default();
        let plan = AgentPlan::new(&self.p.trunk.invite, &esc, &self.session_id);
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
        legs.bot.stop();
        let owner = AgentOwner {
            to_caller: legs.transcoder.clone().recipient(),
            dtmf_to_caller: legs.rtp.clone().recipient(),
            report: ctx.address().recipient(),
        };
        let leg = AgentLeg::new(plan, self.sip_bot_call(), owner, self.p.sip.clone());
        self.agent = Some(agent_ctx.run(leg));
        metrics::counter!(crate::metrics::AGENT_CALLS, "outcome" => "started").increment(1);
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
