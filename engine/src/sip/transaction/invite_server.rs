//! The INVITE server transaction (RFC 3261 §17.2.1, with the Accepted state of RFC 6026 §8.7).
//!
//! ```text
//!  Proceeding --2xx from TU--> Accepted --Timer L--> Terminated
//!      '---300-699 from TU---> Completed --ACK--> Confirmed --Timer I--> Terminated
//!                                  '--Timer H--> Terminated (timeout)
//! ```
//! The 2xx itself is retransmitted by the UAS core (RFC 3261 §13.3.1.4), see
//! [`crate::sip::dialog::Uas2xx`]; in Accepted this transaction only absorbs INVITE
//! retransmissions and passes the TU's 2xx retransmissions to the wire.

use std::time::Instant;

use super::invite_client::Retransmit;
use super::timers::{TimerConfig, TryingPolicy};
use super::Action;
use crate::sip::message::{Request, Response, SipMessage};

/// States of the INVITE server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    /// The INVITE is with the TU; provisional responses may be sent.
    Proceeding,
    /// A 3xx–6xx was sent; it is retransmitted (Timer G) until the ACK or Timer H.
    Completed,
    /// The ACK for the non-2xx arrived; ACK retransmissions are absorbed until Timer I.
    Confirmed,
    /// A 2xx was sent (RFC 6026); INVITE retransmissions are absorbed until Timer L.
    Accepted,
    /// Done; the layer forgets the transaction.
    Terminated,
}

#[derive(Debug)]
pub(crate) struct InviteServer {
    state: InviteServerState,
    request: Request,
    last_response: Option<Response>,
    timers: TimerConfig,
    reliable: bool,
    timer_trying: Option<Instant>,
    timer_g: Option<Retransmit>,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
}

impl InviteServer {
    /// Creates the transaction for a new INVITE; with [`TryingPolicy::Immediate`] the
    /// `100 Trying` goes out at once.
    pub(crate) fn new(
        now: Instant,
        request: Request,
        timers: TimerConfig,
        reliable: bool,
        out: &mut Vec<Action>,
    ) -> InviteServer {
        let mut tx = InviteServer {
            state: InviteServerState::Proceeding,
            request,
            last_response: None,
            timers,
            reliable,
            timer_trying: None,
            timer_g: None,
            timer_h: None,
            timer_i: None,
            timer_l: None,
        };
        match timers.trying {
            TryingPolicy::Immediate => tx.send_trying(out),
            TryingPolicy::After(delay) => tx.timer_trying = Some(now + delay),
        }
        tx
    }

    fn send_trying(&mut self, out: &mut Vec<Action>) {
        // §8.2.6.1: a 100 carries no To tag.
        let trying = self.request.response(100, "Trying", None);
        out.push(Action::Send(SipMessage::Response(trying.clone())));
        self.last_response = Some(trying);
    }

    pub(crate) fn state(&self) -> InviteServerState {
        self.state
    }

    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    /// The To tag of the last response the TU sent, if it carried one.
    pub(crate) fn to_tag(&self) -> Option<String> {
        let resp = self.last_response.as_ref()?;
        resp.to().ok()?.tag().map(str::to_owned)
    }

    /// A retransmission of the INVITE arrived.
    pub(crate) fn handle_retransmission(&mut self, out: &mut Vec<Action>) {
        match self.state {
            InviteServerState::Proceeding | InviteServerState::Completed => {
                if let Some(resp) = &self.last_response {
                    out.push(Action::Send(SipMessage::Response(resp.clone())));
                }
            }
            // RFC 6026 §8.7: in Accepted the 2xx is the TU's to retransmit; absorb.
            _ => {}
        }
    }

    /// An ACK matched this transaction (an ACK to our non-2xx, or an RFC 2543 peer's ACK to a
    /// 2xx reusing the INVITE branch).
    pub(crate) fn handle_ack(&mut self, now: Instant, ack: Request, out: &mut Vec<Action>) {
        match self.state {
            InviteServerState::Completed => {
                self.timer_g = None;
                self.timer_h = None;
                let i = self.timers.i(self.reliable);
                if i.is_zero() {
                    self.state = InviteServerState::Terminated;
                } else {
                    self.state = InviteServerState::Confirmed;
                    self.timer_i = Some(now + i);
                }
            }
            // RFC 6026 §8.7: an ACK in Accepted is passed to the TU.
            InviteServerState::Accepted => out.push(Action::Ack(ack)),
            _ => {}
        }
    }

    /// The TU sends a response. Returns false when the state does not allow it.
    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        resp: Response,
        out: &mut Vec<Action>,
    ) -> bool {
        use InviteServerState::*;
        match (self.state, resp.status) {
            (Proceeding, 100..=199) => {
                self.timer_trying = None;
                out.push(Action::Send(SipMessage::Response(resp.clone())));
                self.last_response = Some(resp);
            }
            (Proceeding, 200..=299) => {
                self.timer_trying = None;
                out.push(Action::Send(SipMessage::Response(resp.clone())));
                self.last_response = Some(resp);
                self.state = Accepted;
                self.timer_l = Some(now + self.timers.l());
            }
            // The UAS core retransmits its 2xx through the Accepted transaction (RFC 6026).
            (Accepted, 200..=299) => out.push(Action::Send(SipMessage::Response(resp))),
            (Proceeding, 300..=699) => {
                self.timer_trying = None;
                out.push(Action::Send(SipMessage::Response(resp.clone())));
                self.last_response = Some(resp);
                self.state = Completed;
                self.timer_g = self.timers.g(self.reliable).map(|interval| Retransmit {
                    at: now + interval,
                    interval,
                });
                self.timer_h = Some(now + self.timers.h());
            }
            _ => return false,
        }
        true
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        use InviteServerState::*;
        if self.timer_trying.is_some_and(|t| t <= now) {
            self.timer_trying = None;
            if self.state == Proceeding && self.last_response.is_none() {
                self.send_trying(out);
            }
        }
        if self.timer_h.is_some_and(|t| t <= now) {
            self.timer_h = None;
            self.timer_g = None;
            self.state = Terminated;
            out.push(Action::Timeout);
            return;
        }
        if let Some(g) = self.timer_g.filter(|g| g.at <= now) {
            if let Some(resp) = &self.last_response {
                out.push(Action::Send(SipMessage::Response(resp.clone())));
            }
            let interval = self.timers.backoff_capped(g.interval);
            self.timer_g = Some(Retransmit {
                at: now + interval,
                interval,
            });
        }
        if self.timer_i.is_some_and(|t| t <= now) {
            // Cleared in any state so a stale deadline cannot spin the caller.
            self.timer_i = None;
            if self.state == Confirmed {
                self.state = Terminated;
            }
        }
        if self.timer_l.is_some_and(|t| t <= now) {
            // Cleared in any state so a stale deadline cannot spin the caller.
            self.timer_l = None;
            if self.state == Accepted {
                self.state = Terminated;
            }
        }
    }

    pub(crate) fn handle_transport_error(&mut self, out: &mut Vec<Action>) {
        if self.state != InviteServerState::Terminated {
            self.state = InviteServerState::Terminated;
            out.push(Action::TransportError);
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timer_trying,
            self.timer_g.map(|g| g.at),
            self.timer_h,
            self.timer_i,
            self.timer_l,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Method;
    use crate::sip::transaction::test_support::{invite, ms, sent_responses, t0, TIMERS};
    use std::time::Duration;
    use InviteServerState::*;

    fn new(reliable: bool) -> (InviteServer, Vec<Action>) {
        let mut out = Vec::new();
        let tx = InviteServer::new(t0(), invite(), TIMERS, reliable, &mut out);
        (tx, out)
    }

    fn ack() -> Request {
        let mut ack = invite();
        ack.method = Method::Ack;
        ack
    }

    #[test]
    fn immediate_trying_and_retransmission_resends_it() {
        let (mut tx, out) = new(false);
        assert_eq!(sent_responses(&out), vec![100]);
        let mut out = Vec::new();
        tx.handle_retransmission(&mut out);
        assert_eq!(sent_responses(&out), vec![100]);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn delayed_trying_only_when_the_tu_is_slow() {
        let timers = TimerConfig {
            trying: TryingPolicy::After(Duration::from_millis(200)),
            ..TIMERS
        };
        let mut out = Vec::new();
        let mut slow = InviteServer::new(t0(), invite(), timers, false, &mut out);
        assert!(out.is_empty());
        assert_eq!(slow.poll_timeout(), Some(t0() + ms(200)));
        slow.handle_timeout(t0() + ms(200), &mut out);
        assert_eq!(sent_responses(&out), vec![100]);

        let mut out = Vec::new();
        let mut quick = InviteServer::new(t0(), invite(), timers, false, &mut out);
        quick.send_response(
            t0() + ms(50),
            invite().response(180, "Ringing", Some("u")),
            &mut out,
        );
        assert_eq!(quick.poll_timeout(), None);
        quick.handle_timeout(t0() + ms(200), &mut out);
        assert_eq!(sent_responses(&out), vec![180]);
    }

    #[test]
    fn timer_g_doubles_to_t2_and_timer_h_times_out() {
        let (mut tx, _) = new(false);
        let mut out = Vec::new();
        assert!(tx.send_response(
            t0(),
            invite().response(486, "Busy Here", Some("u")),
            &mut out
        ));
        assert_eq!(tx.state(), Completed);
        out.clear();
        let mut fired = Vec::new();
        while let Some(at) = tx.poll_timeout() {
            tx.handle_timeout(at, &mut out);
            fired.push(at.duration_since(t0()).as_millis());
        }
        // G: 0.5, 1.5, 3.5, 7.5, 11.5, … every 4 s, H at 32 s.
        assert_eq!(
            fired,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500, 32000]
        );
        assert_eq!(sent_responses(&out).len(), 10);
        assert_eq!(tx.state(), Terminated);
        assert!(matches!(out.last(), Some(Action::Timeout)));
    }

    #[test]
    fn reliable_has_no_timer_g_but_timer_h() {
        let (mut tx, _) = new(true);
        let mut out = Vec::new();
        tx.send_response(
            t0(),
            invite().response(480, "Unavailable", Some("u")),
            &mut out,
        );
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(32_000)));
    }

    #[test]
    fn ack_confirms_and_timer_i_terminates() {
        let (mut tx, _) = new(false);
        let mut out = Vec::new();
        tx.send_response(
            t0(),
            invite().response(404, "Not Found", Some("u")),
            &mut out,
        );
        out.clear();
        tx.handle_retransmission(&mut out);
        assert_eq!(
            sent_responses(&out),
            vec![404],
            "retransmitted INVITE gets the final again"
        );
        out.clear();
        tx.handle_ack(t0() + ms(100), ack(), &mut out);
        assert_eq!(tx.state(), Confirmed);
        assert!(out.is_empty(), "an ACK to a non-2xx is not passed up");
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(5_100)));
        tx.handle_ack(t0() + ms(200), ack(), &mut out);
        tx.handle_timeout(t0() + ms(5_100), &mut out);
        assert_eq!(tx.state(), Terminated);
        assert!(out.is_empty());
    }

    #[test]
    fn timer_i_is_zero_on_reliable_transports() {
        let (mut tx, _) = new(true);
        let mut out = Vec::new();
        tx.send_response(
            t0(),
            invite().response(404, "Not Found", Some("u")),
            &mut out,
        );
        tx.handle_ack(t0() + ms(10), ack(), &mut out);
        assert_eq!(tx.state(), Terminated);
    }

    #[test]
    fn accepted_absorbs_retransmissions_passes_acks_and_timer_l_terminates() {
        let (mut tx, _) = new(false);
        let mut out = Vec::new();
        let ok = invite().response(200, "OK", Some("u"));
        assert!(tx.send_response(t0(), ok.clone(), &mut out));
        assert_eq!(tx.state(), Accepted);
        out.clear();
        tx.handle_retransmission(&mut out);
        assert!(
            out.is_empty(),
            "INVITE retransmissions are absorbed in Accepted"
        );
        assert!(
            tx.send_response(t0() + ms(500), ok, &mut out),
            "TU 2xx retransmission"
        );
        assert_eq!(sent_responses(&out), vec![200]);
        out.clear();
        tx.handle_ack(t0() + ms(600), ack(), &mut out);
        assert!(matches!(&out[..], [Action::Ack(_)]));
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(32_000)));
        tx.handle_timeout(t0() + ms(32_000), &mut out);
        assert_eq!(tx.state(), Terminated);
        assert!(!out.iter().any(|a| matches!(a, Action::Timeout)));
    }

    #[test]
    fn a_final_after_a_final_is_refused() {
        let (mut tx, _) = new(false);
        let mut out = Vec::new();
        assert!(tx.send_response(t0(), invite().response(486, "Busy", Some("u")), &mut out));
        assert!(!tx.send_response(t0(), invite().response(200, "OK", Some("u")), &mut out));
        assert_eq!(tx.to_tag().as_deref(), Some("u"));
    }
}
