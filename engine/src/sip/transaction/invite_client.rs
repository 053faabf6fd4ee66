//! The INVITE client transaction (RFC 3261 §17.1.1, with the Accepted state of RFC 6026 §8.4).
//!
//! ```text
//!  Calling --1xx--> Proceeding --2xx--> Accepted --Timer M--> Terminated
//!     |  \___________300-699___________> Completed --Timer D--> Terminated
//!     '--Timer B--> Terminated (timeout)
//! ```

use std::time::Instant;

use super::timers::TimerConfig;
use super::Action;
use crate::sip::message::{HeaderName, Method, Request, Response, SipMessage};

/// States of the INVITE client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientState {
    /// INVITE sent, nothing heard yet (Timers A and B run).
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A 3xx–6xx arrived and was ACKed; retransmissions are re-ACKed until Timer D.
    Completed,
    /// A 2xx arrived (RFC 6026); further 2xx go to the TU until Timer M.
    Accepted,
    /// Done; the layer forgets the transaction.
    Terminated,
}

/// A retransmit timer: when it fires next and the interval it waited.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retransmit {
    pub(crate) at: Instant,
    pub(crate) interval: std::time::Duration,
}

#[derive(Debug)]
pub(crate) struct InviteClient {
    state: InviteClientState,
    request: Request,
    ack: Option<Request>,
    timers: TimerConfig,
    reliable: bool,
    timer_a: Option<Retransmit>,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
}

impl InviteClient {
    /// Starts the transaction and sends the INVITE.
    pub(crate) fn start(
        now: Instant,
        request: Request,
        timers: TimerConfig,
        reliable: bool,
        out: &mut Vec<Action>,
    ) -> InviteClient {
        out.push(Action::Send(SipMessage::Request(request.clone())));
        InviteClient {
            state: InviteClientState::Calling,
            timer_a: timers.a(reliable).map(|interval| Retransmit {
                at: now + interval,
                interval,
            }),
            timer_b: Some(now + timers.b()),
            timer_d: None,
            timer_m: None,
            request,
            ack: None,
            timers,
            reliable,
        }
    }

    pub(crate) fn state(&self) -> InviteClientState {
        self.state
    }

    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    pub(crate) fn handle_response(&mut self, now: Instant, resp: Response, out: &mut Vec<Action>) {
        use InviteClientState::*;
        match (self.state, resp.status) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                // RFC 3261 §17.1.1.2: retransmissions stop once a provisional arrived; Timer B
                // only guards the Calling state (the TU runs its own ring timeout).
                self.timer_a = None;
                self.timer_b = None;
                out.push(Action::Response(resp));
            }
            (Calling | Proceeding, 200..=299) => {
                self.state = Accepted;
                self.timer_a = None;
                self.timer_b = None;
                self.timer_m = Some(now + self.timers.m());
                out.push(Action::Response(resp));
            }
            (Calling | Proceeding, 300..=699) => {
                let ack = ack_for_non_2xx(&self.request, &resp);
                out.push(Action::Send(SipMessage::Request(ack.clone())));
                self.ack = Some(ack);
                self.timer_a = None;
                self.timer_b = None;
                out.push(Action::Response(resp));
                let d = self.timers.d(self.reliable);
                if d.is_zero() {
                    self.state = Terminated;
                } else {
                    self.state = Completed;
                    self.timer_d = Some(now + d);
                }
            }
            (Completed, 300..=699) => {
                // A retransmitted final response: our ACK was lost.
                if let Some(ack) = &self.ack {
                    out.push(Action::Send(SipMessage::Request(ack.clone())));
                }
            }
            (Accepted, 200..=299) => out.push(Action::Response(resp)),
            // Anything else (a late 1xx, a 2xx after a non-2xx…) is absorbed.
            _ => {}
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        use InviteClientState::*;
        if self.timer_b.is_some_and(|t| t <= now) {
            self.timer_b = None;
            self.timer_a = None;
            self.state = Terminated;
            out.push(Action::Timeout);
            return;
        }
        if let Some(a) = self.timer_a.filter(|a| a.at <= now) {
            out.push(Action::Send(SipMessage::Request(self.request.clone())));
            // Timer A doubles without the T2 cap (RFC 3261 §17.1.1.2).
            let interval = a.interval * 2;
            self.timer_a = Some(Retransmit {
                at: now + interval,
                interval,
            });
        }
        if self.timer_d.is_some_and(|t| t <= now) {
            // Cleared in any state so a stale deadline cannot spin the caller.
            self.timer_d = None;
            if self.state == Completed {
                self.state = Terminated;
            }
        }
        if self.timer_m.is_some_and(|t| t <= now) {
            // Cleared in any state so a stale deadline cannot spin the caller.
            self.timer_m = None;
            if self.state == Accepted {
                self.state = Terminated;
            }
        }
    }

    pub(crate) fn handle_transport_error(&mut self, out: &mut Vec<Action>) {
        if self.state != InviteClientState::Terminated {
            self.state = InviteClientState::Terminated;
            out.push(Action::TransportError);
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timer_a.map(|a| a.at),
            self.timer_b,
            self.timer_d,
            self.timer_m,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Builds the ACK for a 3xx–6xx answer to `invite` (RFC 3261 §17.1.1.3): same Request-URI,
/// Call-ID, From, CSeq number and top Via (so the same branch) as the INVITE, the To of the
/// response (with its tag) and the INVITE's Route headers.
pub fn ack_for_non_2xx(invite: &Request, resp: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    if let Some(via) = invite.headers.get(&HeaderName::Via) {
        // Only the top Via value: a comma-joined field keeps just its first element.
        let top = crate::sip::message::typed::split_top_level_commas(via)
            .next()
            .unwrap_or(via);
        ack.headers.push(HeaderName::Via, top);
    }
    ack.headers.push(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::CallId] {
        if let Some(v) = invite.headers.get(&name) {
            ack.headers.push(name, v);
        }
    }
    let to = resp
        .headers
        .get(&HeaderName::To)
        .or_else(|| invite.headers.get(&HeaderName::To));
    if let Some(to) = to {
        ack.headers.push(HeaderName::To, to);
    }
    if let Ok(cseq) = invite.cseq() {
        ack.headers
            .push(HeaderName::CSeq, format!("{} ACK", cseq.seq));
    }
    for route in invite.headers.get_all(&HeaderName::Route) {
        ack.headers.push(HeaderName::Route, route);
    }
    ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::test_support::{invite, ms, sent_requests, t0, TIMERS};
    use InviteClientState::*;

    fn start(reliable: bool) -> (InviteClient, Vec<Action>) {
        let mut out = Vec::new();
        let tx = InviteClient::start(t0(), invite(), TIMERS, reliable, &mut out);
        (tx, out)
    }

    #[test]
    fn timer_a_retransmits_doubling_without_cap_until_timer_b() {
        let (mut tx, mut out) = start(false);
        assert_eq!(sent_requests(&out), 1);
        out.clear();
        let mut fired = Vec::new();
        while let Some(at) = tx.poll_timeout() {
            tx.handle_timeout(at, &mut out);
            fired.push(at.duration_since(t0()).as_millis());
            if tx.state() == Terminated {
                break;
            }
        }
        // A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; B at 32 s.
        assert_eq!(fired, vec![500, 1500, 3500, 7500, 15500, 31500, 32000]);
        assert_eq!(sent_requests(&out), 6);
        assert!(matches!(out.last(), Some(Action::Timeout)));
    }

    #[test]
    fn reliable_transport_has_no_timer_a_but_timer_b() {
        let (mut tx, _) = start(true);
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(32_000)));
        let mut out = Vec::new();
        tx.handle_timeout(t0() + ms(31_999), &mut out);
        assert!(out.is_empty());
        tx.handle_timeout(t0() + ms(32_000), &mut out);
        assert_eq!(tx.state(), Terminated);
        assert!(matches!(&out[..], [Action::Timeout]));
    }

    #[test]
    fn provisional_stops_a_and_b() {
        let (mut tx, _) = start(false);
        let mut out = Vec::new();
        tx.handle_response(
            t0() + ms(100),
            invite().response(180, "Ringing", Some("b")),
            &mut out,
        );
        assert_eq!(tx.state(), Proceeding);
        assert!(matches!(&out[..], [Action::Response(r)] if r.status == 180));
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn non_2xx_is_acked_and_timer_d_absorbs_retransmissions() {
        let (mut tx, _) = start(false);
        let mut out = Vec::new();
        let busy = invite().response(486, "Busy Here", Some("b"));
        tx.handle_response(t0() + ms(100), busy.clone(), &mut out);
        assert_eq!(tx.state(), Completed);
        let ack = match &out[0] {
            Action::Send(SipMessage::Request(ack)) => ack.clone(),
            other => panic!("expected the ACK first, got {other:?}"),
        };
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri, invite().uri);
        assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKclient1"));
        assert_eq!(ack.to().unwrap().tag(), Some("b"));
        assert_eq!(ack.cseq().unwrap().seq, 1);
        assert_eq!(
            ack.headers.get_all(&HeaderName::Route).collect::<Vec<_>>(),
            vec!["<sip:proxy.example;lr>"]
        );
        assert!(matches!(&out[1], Action::Response(r) if r.status == 486));
        out.clear();
        tx.handle_response(t0() + ms(600), busy, &mut out);
        assert_eq!(sent_requests(&out), 1, "retransmitted 486 is re-ACKed");
        assert!(!out.iter().any(|a| matches!(a, Action::Response(_))));
        // Timer D: 32 s after the final response.
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(32_100)));
        tx.handle_timeout(t0() + ms(32_099), &mut out);
        assert_eq!(tx.state(), Completed);
        tx.handle_timeout(t0() + ms(32_100), &mut out);
        assert_eq!(tx.state(), Terminated);
    }

    #[test]
    fn timer_d_is_zero_on_reliable_transports() {
        let (mut tx, _) = start(true);
        let mut out = Vec::new();
        tx.handle_response(t0(), invite().response(603, "Decline", Some("b")), &mut out);
        assert_eq!(tx.state(), Terminated);
        assert_eq!(sent_requests(&out), 1);
    }

    #[test]
    fn accepted_passes_2xx_retransmissions_until_timer_m() {
        let (mut tx, _) = start(false);
        let mut out = Vec::new();
        let ok = invite().response(200, "OK", Some("b"));
        tx.handle_response(t0() + ms(200), ok.clone(), &mut out);
        assert_eq!(tx.state(), Accepted);
        assert_eq!(
            sent_requests(&out),
            0,
            "the TU ACKs a 2xx, not the transaction"
        );
        tx.handle_response(t0() + ms(700), ok.clone(), &mut out);
        let delivered = out
            .iter()
            .filter(|a| matches!(a, Action::Response(_)))
            .count();
        assert_eq!(delivered, 2);
        // Timer M = 64·T1 after the first 2xx.
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(32_200)));
        tx.handle_timeout(t0() + ms(32_200), &mut out);
        assert_eq!(tx.state(), Terminated);
    }

    #[test]
    fn transport_error_terminates() {
        let (mut tx, _) = start(true);
        let mut out = Vec::new();
        tx.handle_transport_error(&mut out);
        assert_eq!(tx.state(), Terminated);
        assert!(matches!(&out[..], [Action::TransportError]));
    }
}
