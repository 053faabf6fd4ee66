//! What the call-control API (`/api/v1/calls`) asks of a live call: its summary, a transfer
//! (the same hand-back as the bot's `transfer` event) and a hang-up. The call answers whether it
//! could take the order, so the API can say `409` instead of pretending.

use actix::{Context, Handler, Message, MessageResult};
use serde::Serialize;

use super::{Call, Phase};
use crate::calls::messages::{Escalate, Hangup};

/// Ask a call for its [`CallInfo`].
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "CallInfo")]
pub struct CallSummary;

/// A live call as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallInfo {
    /// Our session id (also accepted as `{id}` by the API).
    pub id: String,
    /// The SIP Call-ID.
    pub call_id: String,
    /// The dialled number.
    pub did: String,
    /// The bot the call is bridged to.
    pub bot: Option<String>,
    /// The trunk it came on.
    pub trunk: String,
    /// When the INVITE arrived (unix ms).
    pub start_ms: i64,
    /// `ringing`, `answered`, `handing_back` or `ending`.
    pub state: &'static str,
}

/// Why a call refuses an API order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// A transfer needs an answered call.
    #[error("the call is not answered yet")]
    NotAnswered,
    /// A hand-back is already running or the call is ending.
    #[error("the call is already being handed back or is ending")]
    Ending,
}

/// Hand the call back, as if its bot had sent `transfer`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), ControlError>")]
pub struct ApiTransfer(pub Escalate);

/// End the call, as if its bot had sent `hangup`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), ControlError>")]
pub struct ApiHangup(pub Hangup);

impl Call {
    fn busy(&self) -> bool {
        self.is_over() || self.escalation.is_some()
    }
}

impl Handler<CallSummary> for Call {
    type Result = MessageResult<CallSummary>;
    fn handle(&mut self, _: CallSummary, _: &mut Context<Self>) -> Self::Result {
        let state = match self.phase {
            _ if self.is_over() => "ending",
            _ if self.escalation.is_some() => "handing_back",
            Phase::Starting | Phase::Ringing => "ringing",
            Phase::Answered | Phase::Confirmed | Phase::Ending | Phase::Ended => "answered",
        };
        MessageResult(CallInfo {
            id: self.session_id.clone(),
            call_id: self.p.call_id.clone(),
            did: self.p.did.clone(),
            bot: self.p.bot.as_ref().map(|b| b.id.clone()),
            trunk: self.p.trunk.name.clone(),
            start_ms: self.record.start_ms,
            state,
        })
    }
}

impl Handler<ApiTransfer> for Call {
    type Result = Result<(), ControlError>;
    fn handle(&mut self, msg: ApiTransfer, ctx: &mut Context<Self>) -> Self::Result {
        if self.busy() {
            return Err(ControlError::Ending);
        }
        if !matches!(self.phase, Phase::Answered | Phase::Confirmed) {
            return Err(ControlError::NotAnswered);
        }
        <Call as Handler<Escalate>>::handle(self, msg.0, ctx);
        Ok(())
    }
}

impl Handler<ApiHangup> for Call {
    type Result = Result<(), ControlError>;
    fn handle(&mut self, msg: ApiHangup, ctx: &mut Context<Self>) -> Self::Result {
        if self.busy() {
            return Err(ControlError::Ending);
        }
        <Call as Handler<Hangup>>::handle(self, msg.0, ctx);
        Ok(())
    }
}
