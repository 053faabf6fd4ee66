//! The Escalation leg: performs a call's hand-back the way its trunk's profile says, then tells
//! the call it is done. For `zoom-cc` (and, until their own issue, `amazon-connect` and
//! `refer`) that is one BYE carrying the reason header (`kore-reason` by default), the trunk's
//! configured extra headers and the headers the bot gave; the leg waits for the BYE's final
//! response (or its transaction timeout) so the outcome can be recorded.

use std::time::Duration;

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, Recipient};
use voxgate_engine::config::{Profile, TrunkConfig};
use voxgate_engine::sip::dialog::DialogId;
use voxgate_engine::sip::message::{HeaderName, Method};

use super::call::Call;
use super::messages::{ExitCause, LegExited, LegKind};
use crate::sip::endpoint::{SendInDialog, SipEndpoint};

/// How long to wait for the BYE's final response before recording the hand-back as sent.
const BYE_ANSWER_TIMEOUT: Duration = Duration::from_secs(40);

/// What to hand back.
#[derive(Debug, Clone)]
pub struct HandBack {
    /// The reason header value (`TransferToAgent`, `HangUp`, `BotFailure`…).
    pub reason: String,
    /// Headers the bot asked for.
    pub headers: Vec<(String, String)>,
}

/// The outcome the leg reports to its call before it stops.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct HandBackDone {
    /// The profile used.
    pub profile: &'static str,
    /// `Ok` when the peer accepted (2xx to the BYE), `Err(cause)` otherwise.
    pub result: Result<(), String>,
}

/// A response to the leg's BYE, forwarded by the call.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct ByeAnswered {
    /// Final status, or `None` when the transaction timed out.
    pub status: Option<u16>,
}

/// The escalation leg of one call.
pub struct EscalationLeg {
    trunk: TrunkConfig,
    dialog: DialogId,
    sip: Addr<SipEndpoint>,
    call: Addr<Call>,
    done: Recipient<HandBackDone>,
    exited: Recipient<LegExited>,
    hand_back: HandBack,
    finished: bool,
}

impl EscalationLeg {
    /// A leg that will hand the call back over `dialog`.
    pub fn new(
        trunk: TrunkConfig,
        dialog: DialogId,
        sip: Addr<SipEndpoint>,
        call: Addr<Call>,
        hand_back: HandBack,
    ) -> EscalationLeg {
        EscalationLeg {
            trunk,
            dialog,
            sip,
            done: call.clone().recipient(),
            exited: call.clone().recipient(),
            call,
            hand_back,
            finished: false,
        }
    }

    fn profile_name(&self) -> &'static str {
        match self.trunk.profile {
            Profile::ZoomCc => "zoom-cc",
            Profile::AmazonConnect => "amazon-connect",
            Profile::Refer => "refer",
        }
    }

    /// The BYE's headers: reason first, then the trunk's configured ones, then the bot's.
    fn bye_headers(&self) -> Vec<(HeaderName, String)> {
        let mut headers = vec![(
            HeaderName::from_wire(&self.trunk.headers.reason),
            self.hand_back.reason.clone(),
        )];
        for (name, value) in &self.trunk.bye_headers {
            headers.push((HeaderName::from_wire(name), value.clone()));
        }
        for (name, value) in &self.hand_back.headers {
            if is_safe_extension_header(name, value) {
                headers.push((HeaderName::from_wire(name), value.clone()));
            }
        }
        headers
    }

    fn finish(&mut self, result: Result<(), String>, ctx: &mut Context<Self>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.done.do_send(HandBackDone {
            profile: self.profile_name(),
            result,
        });
        self.exited.do_send(LegExited {
            leg: LegKind::Escalation,
            cause: ExitCause::Normal("hand-back done".into()),
        });
        ctx.stop();
    }
}

/// Bot-given headers must not rewrite the dialog: only extension headers with printable
/// values pass (no CR/LF injection, no Via/From/To/Call-ID/CSeq/Route/Contact/Content-*).
fn is_safe_extension_header(name: &str, value: &str) -> bool {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!%*+`'~".contains(&b));
    let printable = value.chars().all(|c| !c.is_control() || c == '\t');
    token && printable && matches!(HeaderName::from_wire(name), HeaderName::Other(_))
}

impl Actor for EscalationLeg {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::debug!(call_id = %self.dialog.call_id, reason = %self.hand_back.reason, profile = self.profile_name(), "hand-back by BYE");
        self.sip.do_send(SendInDialog {
            dialog: self.dialog.clone(),
            method: Method::Bye,
            headers: self.bye_headers(),
            body: None,
            reply_to: Some(self.call.clone()),
        });
        ctx.run_later(BYE_ANSWER_TIMEOUT, |leg, ctx| {
            leg.finish(Err("no answer to BYE".into()), ctx);
        });
    }
}

impl Handler<ByeAnswered> for EscalationLeg {
    type Result = ();
    fn handle(&mut self, msg: ByeAnswered, ctx: &mut Context<Self>) {
        let result = match msg.status {
            Some(s) if (200..300).contains(&s) => Ok(()),
            // 481: the peer already forgot the dialog; the caller is gone either way.
            Some(s) => Err(format!("BYE answered {s}")),
            None => Err("BYE timed out".into()),
        };
        self.finish(result, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_extension_headers_from_the_bot_pass() {
        assert!(is_safe_extension_header("X-Agent-Queue", "sales"));
        assert!(is_safe_extension_header(
            "kore-summary",
            "caller wants a refund"
        ));
        assert!(!is_safe_extension_header("Via", "SIP/2.0/UDP evil"));
        assert!(!is_safe_extension_header("Call-ID", "x"));
        assert!(!is_safe_extension_header("X-Bad", "a\r\nVia: injected"));
        assert!(!is_safe_extension_header("Bad Name", "x"));
    }
}
