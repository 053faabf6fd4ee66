//! The `refer` hand-back (RFC 3515, RFC 3892 Referred-By, RFC 4488 Refer-Sub): the leg sends an
//! in-dialog REFER toward the target, follows the implicit subscription's NOTIFYs
//! (`message/sipfrag`), and ends the call with BYE either way: after the final `2xx` NOTIFY (or
//! the REFER's `2xx` when the trunk asks for no subscription), or as the fallback (reason header,
//! like `zoom-cc`) after a refused REFER, a failing final NOTIFY, or the trunk's timeout.
//!
//! When the transfer was asked for by the caller's own REFER, the leg also owes the caller the
//! final NOTIFY of that REFER's subscription, and sends it before its BYE.
//!
//! [`ReferPlan`] (what to send) and [`ReferProgress`] (what the peer's answers mean) hold no
//! actor state and are unit-tested; the leg's part is the glue at the end of this file.

use std::time::Duration;

use actix::{AsyncContext, Context, Handler, Message, SpawnHandle};
use voxgate_engine::config::{ReferHeaderMode, TrunkConfig};
use voxgate_engine::sip::message::typed::percent_encode;
use voxgate_engine::sip::message::{HeaderName, Method};
use voxgate_engine::sip::refer_notify::{self, ReferNotify};

use super::{is_safe_extension_header, EscalationLeg};
use crate::sip::endpoint::SendInDialog;

/// What a REFER hand-back sends, resolved from the trunk's config and the bot's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferPlan {
    /// The target URI, without URI headers (kept in the session record).
    pub target: String,
    /// The Refer-To header value (`<sip:…?X-Foo=bar>` in URI-header mode).
    pub refer_to: String,
    /// Headers of the REFER itself (Referred-By, Refer-Sub, custom ones in message mode).
    pub headers: Vec<(HeaderName, String)>,
    /// `Refer-Sub: false` was offered: a 2xx to the REFER is the success.
    pub norefersub: bool,
    /// How long the transfer may take before the BYE fallback.
    pub timeout: Duration,
}

/// The inputs of [`ReferPlan::new`] that come from the call.
#[derive(Debug, Clone, Default)]
pub struct ReferRequest {
    /// The bot's (or the caller's, or the API's) target; `None`: the trunk's default.
    pub target: Option<String>,
    /// Custom headers asked for, after the trunk's own.
    pub headers: Vec<(String, String)>,
    /// Host for number targets when the trunk configures none (the caller's From host).
    pub fallback_host: String,
    /// Our URI, for Referred-By (`<sip:voxgate@IP:PORT>`).
    pub referred_by: String,
}

impl ReferPlan {
    /// The plan for `trunk`, or why there is none (then the leg falls back to BYE at once).
    pub fn new(trunk: &TrunkConfig, req: &ReferRequest) -> Result<ReferPlan, String> {
        let config = &trunk.refer;
        let wanted = req
            .target
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(config.default_target.trim());
        if wanted.is_empty() {
            return Err("no REFER target (none given, no default_target)".into());
        }
        let host = if config.target_host.is_empty() {
            req.fallback_host.as_str()
        } else {
            config.target_host.as_str()
        };
        let target = resolve_target(wanted, host)?;
        let custom: Vec<(String, String)> = config
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .chain(req.headers.iter().cloned())
            .filter(|(n, v)| is_safe_extension_header(n, v))
            .collect();
        let mut headers = vec![(HeaderName::ReferredBy, req.referred_by.clone())];
        let refer_to = match config.header_mode {
            ReferHeaderMode::Uri => with_uri_headers(&target, &custom),
            ReferHeaderMode::Message => {
                headers.extend(
                    custom
                        .iter()
                        .map(|(n, v)| (HeaderName::from_wire(n), v.clone())),
                );
                format!("<{target}>")
            }
        };
        if config.norefersub {
            headers.push((HeaderName::ReferSub, "false".into()));
            headers.push((HeaderName::Supported, "norefersub".into()));
        }
        Ok(ReferPlan {
            target,
            refer_to,
            headers,
            norefersub: config.norefersub,
            timeout: config.timeout(),
        })
    }
}

/// A target as the bot gives it → a Refer-To URI: a `sip:`/`sips:` URI is taken as is, a
/// number (`+`, digits, common separators) becomes `sip:NUMBER@host`.
pub(crate) fn resolve_target(target: &str, host: &str) -> Result<String, String> {
    let t = target.trim();
    let scheme = t.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    if matches!(scheme.as_deref(), Some("sip" | "sips")) {
        let bad = |c: char| c.is_whitespace() || c.is_control() || "<>\"".contains(c);
        if t.contains(bad) || t.len() <= "sips:".len() {
            return Err(format!("target `{t}` is not a usable SIP URI"));
        }
        return Ok(t.to_owned());
    }
    let number: String = t.chars().filter(|c| !" -().".contains(*c)).collect();
    let digits = number.strip_prefix('+').unwrap_or(&number);
    if digits.is_empty() || digits.len() > 32 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("target `{t}` is neither a number nor a SIP URI"));
    }
    if host.is_empty() {
        return Err(format!("no host to send number `{number}` to"));
    }
    Ok(format!("sip:{number}@{host}"))
}

/// `<uri?Name=value&…>` with names and values escaped (RFC 3261 §19.1.1); headers already in
/// the URI are kept.
fn with_uri_headers(uri: &str, headers: &[(String, String)]) -> String {
    let mut out = format!("<{uri}");
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    for (name, value) in headers {
        out.push(sep);
        out.push_str(&percent_encode(name));
        out.push('=');
        out.push_str(&percent_encode(value));
        sep = '&';
    }
    out.push('>');
    out
}

/// The host (and port) of a SIP URI (`sip:user@host:port;params` → `host:port`).
pub fn uri_host(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once(':')?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = rest.split([';', '?', '>']).next()?;
    (!host.is_empty()).then_some(host)
}

/// What the peer's answers to our REFER amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Nothing decided yet (or already decided before).
    Wait,
    /// The transfer succeeded with this status (final NOTIFY, or the 2xx with norefersub).
    Succeeded(u16),
    /// The transfer failed: fall back to BYE.
    Failed {
        /// Why, for the record.
        cause: String,
        /// The peer's last status, if it gave one.
        status: Option<u16>,
    },
}

/// The REFER's state: its answer and the NOTIFYs of its subscription, until one decides.
#[derive(Debug, Clone, Default)]
pub(super) struct ReferProgress {
    norefersub: bool,
    accepted: bool,
    last_status: Option<u16>,
    decided: bool,
}

impl ReferProgress {
    /// A REFER sent with (`norefersub`) or without `Refer-Sub: false`.
    pub(super) fn new(norefersub: bool) -> ReferProgress {
        ReferProgress {
            norefersub,
            ..ReferProgress::default()
        }
    }

    fn decide(&mut self, step: Step) -> Step {
        if self.decided || step == Step::Wait {
            return Step::Wait;
        }
        self.decided = true;
        step
    }

    /// The REFER's final response (`None`: its transaction timed out).
    pub(super) fn on_answer(&mut self, status: Option<u16>) -> Step {
        let step = match status {
            Some(s) if s < 200 => Step::Wait,
            Some(s) if s < 300 => {
                self.accepted = true;
                if self.norefersub {
                    Step::Succeeded(s)
                } else {
                    Step::Wait
                }
            }
            Some(s) => Step::Failed {
                cause: format!("REFER answered {s}"),
                status: Some(s),
            },
            None => Step::Failed {
                cause: "REFER transaction timed out".into(),
                status: None,
            },
        };
        if let Some(s) = status {
            self.last_status.get_or_insert(s);
        }
        self.decide(step)
    }

    /// A NOTIFY of the subscription (already answered 200).
    pub(super) fn on_notify(&mut self, notify: &ReferNotify) -> Step {
        self.last_status = Some(notify.status);
        let step = if notify.is_final() {
            if (200..300).contains(&notify.status) {
                Step::Succeeded(notify.status)
            } else {
                Step::Failed {
                    cause: format!("final NOTIFY {} {}", notify.status, notify.reason)
                        .trim_end()
                        .to_owned(),
                    status: Some(notify.status),
                }
            }
        } else if notify.terminated {
            Step::Failed {
                cause: "subscription terminated without a final status".into(),
                status: Some(notify.status),
            }
        } else {
            Step::Wait
        };
        self.decide(step)
    }

    /// The trunk's timeout passed.
    pub(super) fn on_timeout(&mut self, after: Duration) -> Step {
        let what = if self.accepted {
            "no final NOTIFY"
        } else {
            "no answer to REFER"
        };
        self.decide(Step::Failed {
            cause: format!("timeout: {what} within {}s", after.as_secs()),
            status: self.last_status,
        })
    }
}

/// The caller's REFER whose subscription the leg closes with its final NOTIFY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerSubscription {
    /// The Event header of our NOTIFYs (`refer;id=CSEQ`).
    pub event: String,
}

/// The NOTIFY that tells a referrer where its transfer stands.
pub fn caller_notify(
    dialog: voxgate_engine::sip::dialog::DialogId,
    event: &str,
    status: u16,
    reason: &str,
) -> SendInDialog {
    SendInDialog {
        dialog,
        method: Method::Notify,
        headers: vec![
            (HeaderName::Event, event.to_owned()),
            (
                HeaderName::SubscriptionState,
                refer_notify::subscription_state(status >= 200, 60),
            ),
        ],
        body: Some((
            refer_notify::SIPFRAG.into(),
            refer_notify::sipfrag_body(status, reason),
        )),
        reply_to: None,
    }
}

/// A REFER hand-back in progress on the leg.
pub(super) struct ReferRun {
    pub(super) plan: Result<ReferPlan, String>,
    pub(super) progress: ReferProgress,
    pub(super) caller: Option<CallerSubscription>,
    pub(super) timer: Option<SpawnHandle>,
}

/// What the leg learned for the session record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferOutcome {
    /// The Refer-To target sent.
    pub refer_to: Option<String>,
    /// The peer's last status.
    pub status: Option<u16>,
    /// Why the REFER did not succeed (then the BYE was the fallback).
    pub fell_back: Option<String>,
    /// The REFER succeeded; its BYE's answer no longer matters.
    pub succeeded: bool,
}

/// The leg tells its call what it knows of the transfer (target when sent, outcome when
/// decided), so the session record has it even if the call ends before the hand-back does.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct ReferReport(pub ReferOutcome);

/// The final response to the leg's REFER, forwarded by the call.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct ReferAnswered {
    /// Final status, or `None` when the transaction timed out.
    pub status: Option<u16>,
}

/// A NOTIFY of the REFER's subscription, answered 200 by the call and forwarded.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct ReferNotified(pub ReferNotify);

impl EscalationLeg {
    /// Sends the REFER (or falls back at once when there is no plan) and arms the timeout.
    pub(super) fn start_refer(&mut self, ctx: &mut Context<Self>) {
        let Some(run) = self.refer.as_mut() else {
            return;
        };
        let plan = match &run.plan {
            Ok(plan) => plan.clone(),
            Err(cause) => {
                let cause = cause.clone();
                tracing::info!(call_id = %self.dialog.call_id, %cause, "REFER not possible; BYE");
                self.on_refer_step(
                    Step::Failed {
                        cause,
                        status: None,
                    },
                    ctx,
                );
                return;
            }
        };
        tracing::debug!(call_id = %self.dialog.call_id, refer_to = %plan.refer_to, "hand-back by REFER");
        self.refer_outcome.refer_to = Some(plan.target.clone());
        let mut headers = vec![(HeaderName::ReferTo, plan.refer_to.clone())];
        headers.extend(plan.headers.iter().cloned());
        self.sip.do_send(SendInDialog {
            dialog: self.dialog.clone(),
            method: Method::Refer,
            headers,
            body: None,
            reply_to: self.reply_to.clone(),
        });
        let timeout = plan.timeout;
        run.timer = Some(ctx.run_later(timeout, move |leg, ctx| {
            if let Some(run) = leg.refer.as_mut() {
                run.timer = None;
                let step = run.progress.on_timeout(timeout);
                leg.on_refer_step(step, ctx);
            }
        }));
        self.report_refer();
    }

    /// Acts on a decision: success → BYE; failure → fallback BYE (both with the reason
    /// header), after the caller's final NOTIFY when the caller asked for the transfer.
    fn on_refer_step(&mut self, step: Step, ctx: &mut Context<Self>) {
        let (status, reason) = match step {
            Step::Wait => return,
            Step::Succeeded(s) => {
                metrics::counter!(crate::metrics::REFER_TRANSFERS, "outcome" => "completed")
                    .increment(1);
                self.refer_outcome.succeeded = true;
                self.refer_outcome.status = Some(s);
                (200, "OK")
            }
            Step::Failed { cause, status } => {
                tracing::info!(call_id = %self.dialog.call_id, %cause, "REFER failed; falling back to BYE");
                metrics::counter!(crate::metrics::REFER_TRANSFERS, "outcome" => "fell_back")
                    .increment(1);
                let answer = match status {
                    Some(s) if s >= 300 => (s, "Transfer Failed"),
                    _ if cause.starts_with("timeout") => (408, "Request Timeout"),
                    _ => (503, "Service Unavailable"),
                };
                self.refer_outcome.fell_back = Some(cause);
                self.refer_outcome.status = status;
                answer
            }
        };
        self.report_refer();
        if let Some(run) = self.refer.as_mut() {
            if let Some(timer) = run.timer.take() {
                ctx.cancel_future(timer);
            }
            if let Some(caller) = run.caller.take() {
                self.sip.do_send(caller_notify(
                    self.dialog.clone(),
                    &caller.event,
                    status,
                    reason,
                ));
            }
        }
        self.send_bye(ctx);
    }
}

impl EscalationLeg {
    fn report_refer(&self) {
        if let Some(report) = &self.refer_report {
            report.do_send(ReferReport(self.refer_outcome.clone()));
        }
    }
}

impl Handler<ReferAnswered> for EscalationLeg {
    type Result = ();
    fn handle(&mut self, msg: ReferAnswered, ctx: &mut Context<Self>) {
        if let Some(run) = self.refer.as_mut() {
            let step = run.progress.on_answer(msg.status);
            self.on_refer_step(step, ctx);
        }
    }
}

impl Handler<ReferNotified> for EscalationLeg {
    type Result = ();
    fn handle(&mut self, msg: ReferNotified, ctx: &mut Context<Self>) {
        if let Some(run) = self.refer.as_mut() {
            let step = run.progress.on_notify(&msg.0);
            self.on_refer_step(step, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use voxgate_engine::config::Config;

    use super::*;

    fn trunk(edit: impl FnOnce(&mut TrunkConfig)) -> TrunkConfig {
        let mut t = Config::embedded_default().trunks[0].clone();
        edit(&mut t);
        t
    }

    fn request(target: Option<&str>) -> ReferRequest {
        ReferRequest {
            target: target.map(str::to_owned),
            headers: vec![
                ("X-Reason".into(), "Call Received from Kore".into()),
                ("Via".into(), "SIP/2.0/UDP evil".into()),
            ],
            fallback_host: "198.51.100.7:5060".into(),
            referred_by: "<sip:voxgate@192.0.2.1:5060>".into(),
        }
    }

    #[test]
    fn targets_resolve_to_uris() {
        assert_eq!(
            resolve_target("+91 98-7654", "cc.example").unwrap(),
            "sip:+91987654@cc.example"
        );
        assert_eq!(
            resolve_target(" SIPS:agent@cc.example;transport=tls ", "").unwrap(),
            "SIPS:agent@cc.example;transport=tls"
        );
        assert!(resolve_target("12345", "").is_err());
        assert!(resolve_target("agent", "h").is_err());
        assert!(resolve_target("sip:a b@c", "h").is_err());
        assert!(resolve_target("sip:<a>", "h").is_err());
        assert!(resolve_target("+", "h").is_err());
        assert!(resolve_target("tel:+1555", "h").is_err());
    }

    #[test]
    fn uri_hosts() {
        assert_eq!(
            uri_host("sip:caller@127.0.0.1:5071;transport=udp"),
            Some("127.0.0.1:5071")
        );
        assert_eq!(uri_host("sips:cc.example"), Some("cc.example"));
        assert_eq!(uri_host("sip:"), None);
        assert_eq!(uri_host("nothing"), None);
    }

    #[test]
    fn plan_with_uri_headers() {
        let t = trunk(|t| {
            t.refer.target_host = "cc.example".into();
            t.refer
                .headers
                .insert("X-Queue".into(), "sales & support".into());
        });
        let plan = ReferPlan::new(&t, &request(Some("+15550100"))).unwrap();
        assert_eq!(plan.target, "sip:+15550100@cc.example");
        assert_eq!(
            plan.refer_to,
            "<sip:+15550100@cc.example?X-Queue=sales%20%26%20support&X-Reason=Call%20Received%20from%20Kore>"
        );
        assert_eq!(
            plan.headers,
            vec![(
                HeaderName::ReferredBy,
                "<sip:voxgate@192.0.2.1:5060>".into()
            )]
        );
        assert!(!plan.norefersub);
        assert_eq!(plan.timeout, Duration::from_secs(15));
        // The typed parser reads back what we wrote.
        let parsed = voxgate_engine::sip::message::ReferTo::parse(&plan.refer_to).unwrap();
        assert_eq!(
            parsed.uri_header("x-queue").unwrap().as_deref(),
            Some("sales & support")
        );
    }

    #[test]
    fn plan_with_message_headers_and_norefersub() {
        let t = trunk(|t| {
            t.refer.default_target = "sip:agents@cc.example?X-Pre=1".into();
            t.refer.header_mode = ReferHeaderMode::Message;
            t.refer.norefersub = true;
            t.refer.timeout_secs = 2;
        });
        let plan = ReferPlan::new(&t, &request(None)).unwrap();
        assert_eq!(plan.refer_to, "<sip:agents@cc.example?X-Pre=1>");
        let names: Vec<String> = plan
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        assert_eq!(
            names,
            [
                "Referred-By: <sip:voxgate@192.0.2.1:5060>",
                "X-Reason: Call Received from Kore",
                "Refer-Sub: false",
                "Supported: norefersub"
            ]
        );
        assert_eq!(plan.timeout, Duration::from_secs(2));
        // A number without configured host goes to the caller's host.
        let plan = ReferPlan::new(&trunk(|_| {}), &request(Some("100"))).unwrap();
        assert_eq!(plan.target, "sip:100@198.51.100.7:5060");
        assert!(ReferPlan::new(&trunk(|_| {}), &request(None)).is_err());
        assert!(ReferPlan::new(&trunk(|_| {}), &request(Some("  "))).is_err());
    }

    fn notify(status: u16, terminated: bool) -> ReferNotify {
        ReferNotify {
            status,
            reason: "R".into(),
            terminated,
            id: None,
        }
    }

    #[test]
    fn progress_with_a_subscription() {
        let mut p = ReferProgress::new(false);
        assert_eq!(p.on_notify(&notify(100, false)), Step::Wait);
        assert_eq!(p.on_answer(Some(202)), Step::Wait);
        assert_eq!(p.on_notify(&notify(180, false)), Step::Wait);
        assert_eq!(p.on_notify(&notify(200, true)), Step::Succeeded(200));
        // Decided once: later input changes nothing.
        assert_eq!(p.on_notify(&notify(486, true)), Step::Wait);
        assert_eq!(p.on_timeout(Duration::from_secs(1)), Step::Wait);

        let mut p = ReferProgress::new(false);
        p.on_answer(Some(202));
        assert_eq!(
            p.on_notify(&notify(486, true)),
            Step::Failed {
                cause: "final NOTIFY 486 R".into(),
                status: Some(486)
            }
        );
        let mut p = ReferProgress::new(false);
        p.on_answer(Some(202));
        assert!(matches!(
            p.on_notify(&notify(100, true)),
            Step::Failed {
                status: Some(100),
                ..
            }
        ));
    }

    #[test]
    fn progress_refused_silent_or_without_subscription() {
        let mut p = ReferProgress::new(false);
        assert_eq!(
            p.on_answer(Some(603)),
            Step::Failed {
                cause: "REFER answered 603".into(),
                status: Some(603)
            }
        );
        let mut p = ReferProgress::new(false);
        p.on_answer(Some(202));
        p.on_notify(&notify(100, false));
        assert_eq!(
            p.on_timeout(Duration::from_secs(2)),
            Step::Failed {
                cause: "timeout: no final NOTIFY within 2s".into(),
                status: Some(100)
            }
        );
        let mut p = ReferProgress::new(false);
        assert!(matches!(
            p.on_timeout(Duration::from_secs(2)),
            Step::Failed { status: None, ref cause } if cause.contains("no answer to REFER")
        ));
        let mut p = ReferProgress::new(false);
        assert!(matches!(
            p.on_answer(None),
            Step::Failed { status: None, .. }
        ));
        let mut p = ReferProgress::new(true);
        assert_eq!(p.on_answer(Some(100)), Step::Wait);
        assert_eq!(p.on_answer(Some(202)), Step::Succeeded(202));
    }
}
