//! How a SIP bot's BYE or REFER reads as a hand-back: the reason header (the first of the
//! configured names present) and the `X-`/`kore-` headers the bot set, which travel on into the
//! profile's hand-back (the zoom-cc BYE, the REFER).

use voxgate_engine::sip::message::Request;

use crate::calls::messages::{Escalate, Hangup};

/// What the bot asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum BotHandBack {
    /// Hand the caller to an agent.
    Escalate(Escalate),
    /// End the call.
    Hangup(Hangup),
}

/// The reason a plain hang-up carries, and the one a bot BYE without a reason header means.
pub const HANGUP_REASON: &str = "HangUp";
/// The reason of a REFER that names none.
pub const REFER_REASON: &str = "TransferToAgent";

/// The bot's BYE: a reason other than `HangUp` escalates with it; `HangUp` or no reason at all
/// ends the call.
pub fn from_bye(bye: &Request, reason_headers: &[String]) -> BotHandBack {
    let headers = carried_headers(bye, reason_headers);
    match reason(bye, reason_headers) {
        Some(reason) if !reason.eq_ignore_ascii_case(HANGUP_REASON) => {
            BotHandBack::Escalate(Escalate {
                reason,
                headers,
                ..Escalate::default()
            })
        }
        _ => BotHandBack::Hangup(Hangup {
            reason: HANGUP_REASON.into(),
            headers,
        }),
    }
}

/// The bot's REFER: always an escalation toward its Refer-To (`target`), with its reason when
/// it gives one.
pub fn from_refer(refer: &Request, target: String, reason_headers: &[String]) -> Escalate {
    Escalate {
        reason: reason(refer, reason_headers).unwrap_or_else(|| REFER_REASON.into()),
        target: Some(target),
        headers: carried_headers(refer, reason_headers),
        ..Escalate::default()
    }
}

/// The value of the first configured reason header present, trimmed; empty counts as absent.
fn reason(req: &Request, reason_headers: &[String]) -> Option<String> {
    reason_headers
        .iter()
        .filter_map(|name| req.headers.get_named(name))
        .map(str::trim)
        .find(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The bot's own headers (`X-…`, `kore-…`) except the reason headers, which the profile writes
/// itself from the reason.
fn carried_headers(req: &Request, reason_headers: &[String]) -> Vec<(String, String)> {
    req.headers
        .iter()
        .filter_map(|h| {
            let name = h.name.as_str();
            let lower = name.to_ascii_lowercase();
            let ours = lower.starts_with("x-") || lower.starts_with("kore-");
            let reason = reason_headers.iter().any(|r| r.eq_ignore_ascii_case(name));
            (ours && !reason).then(|| (name.to_owned(), h.value.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use voxgate_engine::sip::message::{HeaderName, Method};

    use super::*;

    fn bye(headers: &[(&str, &str)]) -> Request {
        let mut req = Request::new(Method::Bye, "sip:voxgate@127.0.0.1");
        req.headers.push(HeaderName::CallId, "c1");
        for (name, value) in headers {
            req.headers.push(HeaderName::from_wire(name), *value);
        }
        req
    }

    fn names() -> Vec<String> {
        vec!["kore-reason".into(), "X-Reason".into()]
    }

    #[test]
    fn a_transfer_reason_escalates_with_the_bots_headers() {
        let req = bye(&[
            ("kore-reason", " TransferToAgent "),
            ("X-Queue", "sales"),
            ("kore-lang", "de"),
            ("Reason", "Q.850;cause=16"),
        ]);
        let BotHandBack::Escalate(esc) = from_bye(&req, &names()) else {
            panic!("not an escalation");
        };
        assert_eq!(esc.reason, "TransferToAgent");
        assert_eq!(
            esc.headers,
            vec![
                ("X-Queue".to_owned(), "sales".to_owned()),
                ("kore-lang".to_owned(), "de".to_owned())
            ]
        );
    }

    #[test]
    fn hangup_or_no_reason_ends_the_call() {
        for req in [
            bye(&[("KORE-REASON", "hangup")]),
            bye(&[]),
            bye(&[("kore-reason", "")]),
        ] {
            assert_eq!(
                from_bye(&req, &names()),
                BotHandBack::Hangup(Hangup {
                    reason: "HangUp".into(),
                    headers: Vec::new()
                })
            );
        }
    }

    #[test]
    fn a_later_configured_name_is_read_too() {
        let req = bye(&[("X-Reason", "Billing")]);
        let BotHandBack::Escalate(esc) = from_bye(&req, &names()) else {
            panic!("not an escalation");
        };
        assert_eq!(esc.reason, "Billing");
        assert!(esc.headers.is_empty(), "{:?}", esc.headers);
    }

    #[test]
    fn a_refer_escalates_to_its_target() {
        let req = bye(&[("X-Queue", "sales")]);
        let esc = from_refer(&req, "sip:agent@cc".into(), &names());
        assert_eq!(esc.reason, "TransferToAgent");
        assert_eq!(esc.target.as_deref(), Some("sip:agent@cc"));
        assert_eq!(
            esc.headers,
            vec![("X-Queue".to_owned(), "sales".to_owned())]
        );
    }
}
