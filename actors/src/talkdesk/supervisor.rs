//! The supervisor half of [`TalkdeskIngress`]: what the bot side asks for and how its failures
//! are handled, the Talkdesk way.
//!
//! - `transfer` / builtin escalation → the final `stop` with `command: escalate` and
//!   `ringGroup` = the bot's `ringGroup` variable, else `[talkdesk] default_ring_group`.
//! - bot hang-up → `stop` with `command: ok`.
//! - a failing bot is restarted within its `[bots.restart]` budget (the same
//!   [`RestartBudget`](crate::calls::restart::RestartBudget) as SIP calls); past it, or when the
//!   transcoder fails, the caller is escalated with reason `BotFailure`: never dropped.
//! - at the drain deadline of a node shutting down, live streams are escalated the same way
//!   (reason `NodeShutdown`).
//! - `agentassist=true` streams are listen-only: escalation requests are recorded and ignored,
//!   and a bot failure past its budget ends the stream with `stop` `error` (there is no caller
//!   to hand back: the agent already has the call).

use actix::{AsyncContext, Handler};
use actix_web_actors::ws::{CloseCode, CloseReason, WebsocketContext};
use voxgate_engine::store::{self, EscalationOutcome};
use voxgate_engine::ws::StopCommand;

use super::ingress::{Ending, Phase, TalkdeskIngress};
use crate::bots::RestartBot;
use crate::calls::bot_tree::BotLeg;
use crate::calls::messages::{Escalate, ExitCause, Hangup, LegExited, LegKind, Transcript};
use crate::calls::record::unix_ms;

/// The escalation variable Talkdesk reads into its ring group.
pub const RING_GROUP_VARIABLE: &str = "ringGroup";
/// The profile name in session records.
const PROFILE: &str = "talkdesk";

impl TalkdeskIngress {
    fn is_over(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Hands the caller back to the Studio flow's escalation exit.
    fn escalate(&mut self, esc: Escalate, ctx: &mut WebsocketContext<Self>) {
        let ring_group = esc.variables.get(RING_GROUP_VARIABLE).cloned().or_else(|| {
            let default = &self.p.node.config.talkdesk.default_ring_group;
            (!default.is_empty()).then(|| default.clone())
        });
        self.record.escalation = Some(store::Escalation {
            reason: esc.reason.clone(),
            target: ring_group.clone(),
            profile: PROFILE.into(),
            outcome: EscalationOutcome::Completed,
            at_ms: unix_ms(),
            variables: esc.variables,
            refer_to: None,
            refer_status: None,
            agent_legs: Vec::new(),
            assist_transcripts: Vec::new(),
        });
        self.end(
            Ending {
                reason: esc.reason,
                stop: Some((StopCommand::Escalate, ring_group)),
                close: close_normal("escalate"),
            },
            ctx,
        );
    }

    /// The node cannot serve the caller any longer (bot failure past its budget, drain
    /// deadline): escalate, so the caller reaches a human; on an agent-assist stream, where the
    /// agent already has the caller, end with `stop` `error`.
    pub(super) fn hand_back_unserved(&mut self, reason: &str, ctx: &mut WebsocketContext<Self>) {
        if self.p.agent_assist {
            self.end(
                Ending {
                    reason: reason.to_owned(),
                    stop: Some((StopCommand::Error, None)),
                    close: close_normal(reason),
                },
                ctx,
            );
        } else {
            self.escalate(
                Escalate {
                    reason: reason.to_owned(),
                    ..Escalate::default()
                },
                ctx,
            );
        }
    }

    /// Restarts a failed WebSocket bot after its backoff; false when the budget is spent or the
    /// bot cannot be restarted.
    fn restart_bot(&mut self, ctx: &mut WebsocketContext<Self>) -> bool {
        let Some(BotLeg::Websocket(bot)) = self.tree.as_ref().map(|t| &t.bot) else {
            return false;
        };
        let bot = bot.clone();
        let Some(delay) = self
            .restarts
            .take(&self.p.bot.restart, std::time::Instant::now())
        else {
            tracing::info!(session_id = %self.session_id, used = self.restarts.used(), "bot restart budget spent");
            return false;
        };
        tracing::info!(session_id = %self.session_id, attempt = self.restarts.used(), ?delay, "restarting the bot leg");
        metrics::counter!(crate::metrics::BOT_RESTARTS).increment(1);
        ctx.run_later(delay, move |me, _ctx| {
            if !me.is_over() {
                bot.do_send(RestartBot);
            }
        });
        true
    }
}

fn close_normal(why: &str) -> CloseReason {
    CloseReason {
        code: CloseCode::Normal,
        description: Some(why.to_owned()),
    }
}

impl Handler<Escalate> for TalkdeskIngress {
    type Result = ();

    fn handle(&mut self, msg: Escalate, ctx: &mut Self::Context) {
        if self.is_over() {
            return;
        }
        if self.p.agent_assist {
            // Listen-only: the agent has the caller. Keep the request for the record.
            tracing::info!(session_id = %self.session_id, reason = %msg.reason, "escalation ignored on an agent-assist stream");
            self.record.escalation = Some(store::Escalation {
                reason: msg.reason,
                target: msg.variables.get(RING_GROUP_VARIABLE).cloned(),
                profile: PROFILE.into(),
                outcome: EscalationOutcome::Failed {
                    cause: "ignored: agentassist stream".into(),
                },
                at_ms: unix_ms(),
                variables: msg.variables,
                refer_to: None,
                refer_status: None,
                agent_legs: Vec::new(),
                assist_transcripts: Vec::new(),
            });
            return;
        }
        self.escalate(msg, ctx);
    }
}

impl Handler<Hangup> for TalkdeskIngress {
    type Result = ();

    fn handle(&mut self, msg: Hangup, ctx: &mut Self::Context) {
        self.end(
            Ending {
                reason: msg.reason,
                stop: Some((StopCommand::Ok, None)),
                close: close_normal("bot finished"),
            },
            ctx,
        );
    }
}

impl Handler<Transcript> for TalkdeskIngress {
    type Result = ();

    fn handle(&mut self, msg: Transcript, _ctx: &mut Self::Context) {
        crate::calls::record::push_transcript(&mut self.record.transcript, msg);
    }
}

impl Handler<LegExited> for TalkdeskIngress {
    type Result = ();

    fn handle(&mut self, msg: LegExited, ctx: &mut Self::Context) {
        if self.is_over() {
            return;
        }
        let ExitCause::Failed(why) = &msg.cause else {
            return;
        };
        tracing::debug!(session_id = %self.session_id, leg = ?msg.leg, %why, "leg failed");
        match msg.leg {
            LegKind::Bot if self.restart_bot(ctx) => {}
            LegKind::Bot | LegKind::Transcoder => {
                metrics::counter!(crate::metrics::BOT_FAILURES).increment(1);
                self.hand_back_unserved("BotFailure", ctx);
            }
            LegKind::Ingress | LegKind::Escalation => {}
        }
    }
}
