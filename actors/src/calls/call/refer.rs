//! The call's side of REFER (RFC 3515). NOTIFYs of the implicit subscription our own REFER
//! created are answered here and passed to the escalation leg. A REFER from the caller is
//! honoured when the trunk's profile is `refer` and `[trunks.refer] accept_from_caller` is on:
//! `202 Accepted`, a `100 Trying` NOTIFY, then the same hand-back as a bot's escalation toward its
//! Refer-To (reason `TransferToAgent`), whose leg sends the final NOTIFY. Otherwise the REFER is
//! refused `403 Forbidden` with a Warning saying why; a REFER without exactly one readable
//! Refer-To is `400`.

use actix::{Context, Handler};
use voxgate_engine::config::Profile;
use voxgate_engine::sip::message::{HeaderName, ReferTo, Request, Response};
use voxgate_engine::sip::refer_notify::ReferNotify;
use voxgate_engine::sip::transaction::TransactionKey;

use super::{with_contact, Call, Phase};
use crate::calls::escalation::{
    caller_notify, uri_host, CallerSubscription, ReferNotified, ReferPlan, ReferReport,
    ReferRequest,
};
use crate::calls::messages::Escalate;
use crate::sip::endpoint::Respond;

/// The reason of the hand-back a caller's REFER starts.
const CALLER_REFER_REASON: &str = "TransferToAgent";

impl Call {
    fn respond(&self, key: TransactionKey, response: Response) {
        self.p.sip.do_send(Respond { key, response });
    }

    /// Answers `req` with `status` and a Warning saying `why`.
    fn refuse_with_warning(
        &self,
        key: TransactionKey,
        req: &Request,
        status: u16,
        reason: &str,
        why: &str,
    ) {
        tracing::debug!(call_id = %self.p.call_id, method = %req.method, status, why, "in-dialog request refused");
        let mut resp = req.response(status, reason, None);
        // `why` may quote wire text: keep the Warning's quoted-string well-formed.
        let why: String = why
            .chars()
            .map(|c| {
                if c == '"' || c == '\\' || c.is_control() {
                    '\''
                } else {
                    c
                }
            })
            .collect();
        resp.headers
            .push(HeaderName::Warning, format!("399 voxgate \"{why}\""));
        self.respond(key, resp);
    }

    /// A NOTIFY: progress of our REFER when one is running, else `481`.
    pub(super) fn on_notify(&mut self, key: TransactionKey, req: &Request) {
        let Some(leg) = self.escalation.as_ref().filter(|_| self.refer_watch) else {
            self.refuse_with_warning(
                key,
                req,
                481,
                "Subscription Does Not Exist",
                "no REFER of ours is running",
            );
            return;
        };
        match ReferNotify::from_request(req) {
            Ok(notify) => {
                tracing::debug!(call_id = %self.p.call_id, status = notify.status, terminated = notify.terminated, "REFER progress");
                leg.do_send(ReferNotified(notify));
                self.respond(key, req.response(200, "OK", None));
            }
            Err(e) => {
                let (status, reason) = e.status();
                self.refuse_with_warning(key, req, status, reason, &e.to_string());
            }
        }
    }

    /// A REFER from the caller.
    pub(super) fn on_refer(&mut self, key: TransactionKey, req: &Request, ctx: &mut Context<Self>) {
        let values: Vec<&str> = req.headers.get_all(&HeaderName::ReferTo).collect();
        let [value] = values.as_slice() else {
            let why = format!("a REFER needs exactly one Refer-To (got {})", values.len());
            self.refuse_with_warning(key, req, 400, "Bad Request", &why);
            return;
        };
        let parsed = ReferTo::parse(value).and_then(|r| Ok((r.uri_headers()?, r)));
        let (uri_headers, refer_to) = match parsed {
            Ok(p) => p,
            Err(e) => {
                self.refuse_with_warning(key, req, 400, "Bad Request", &e.to_string());
                return;
            }
        };
        let trunk = &self.p.trunk;
        if trunk.profile != Profile::Refer || !trunk.refer.accept_from_caller {
            let why = format!(
                "trunk {} does not transfer on the caller's REFER (profile refer with accept_from_caller is needed)",
                trunk.name
            );
            self.refuse_with_warning(key, req, 403, "Forbidden", &why);
            return;
        }
        if self.escalation.is_some() || !matches!(self.phase, Phase::Answered | Phase::Confirmed) {
            self.refuse_with_warning(
                key,
                req,
                491,
                "Request Pending",
                "a hand-back is already running",
            );
            return;
        }
        let Some(dialog) = self.dialog.clone() else {
            return;
        };
        let norefersub = req
            .headers
            .get(&HeaderName::ReferSub)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
        let mut accepted = req.response(202, "Accepted", None);
        if norefersub {
            accepted.headers.push(HeaderName::ReferSub, "false");
        }
        self.respond(key, with_contact(accepted, &self.p));
        if !norefersub {
            let event = format!("refer;id={}", req.cseq().map(|c| c.seq).unwrap_or(0));
            self.p
                .sip
                .do_send(caller_notify(dialog, &event, 100, "Trying"));
            self.caller_refer = Some(CallerSubscription { event });
        }
        tracing::info!(call_id = %self.p.call_id, target = refer_to.target(), "caller REFER: handing back");
        self.pending_escalation = Some(Escalate {
            reason: CALLER_REFER_REASON.into(),
            target: Some(refer_to.target().to_owned()),
            headers: uri_headers,
            ..Escalate::default()
        });
        self.hand_back(CALLER_REFER_REASON.into(), Vec::new(), ctx);
    }

    /// The REFER the `refer` profile sends for the pending escalation.
    pub(super) fn refer_plan(&self) -> Result<ReferPlan, String> {
        let esc = self.pending_escalation.clone().unwrap_or_default();
        let fallback_host = self
            .invite
            .as_ref()
            .and_then(|(_, invite)| invite.from().ok())
            .and_then(|from| uri_host(&from.uri).map(str::to_owned))
            .unwrap_or_default();
        ReferPlan::new(
            &self.p.trunk,
            &ReferRequest {
                target: esc.target,
                headers: esc.headers,
                fallback_host,
                referred_by: super::our_uri(&self.p),
            },
        )
    }
}

impl Handler<ReferReport> for Call {
    type Result = ();
    fn handle(&mut self, msg: ReferReport, _: &mut Context<Self>) {
        self.refer_report = msg.0;
    }
}
