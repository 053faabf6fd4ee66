//! The non-INVITE client transaction (RFC 3261 §17.1.2).
//!
//! ```text
//!  Trying --1xx--> Proceeding --200-699--> Completed --Timer K--> Terminated
//!     |  '-----------200-699-------------^
//!     '--Timer F (also from Proceeding)--> Terminated (timeout)
//! ```

use std::time::Instant;

use super::invite_client::Retransmit;
use super::timers::TimerConfig;
use super::Action;
use crate::sip::message::{Request, Response, SipMessage};

/// States of the non-INVITE client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteClientState {
    /// Request sent; Timer E retransmits it (T1 doubling to T2).
    Trying,
    /// A provisional arrived; Timer E retransmits every T2.
    Proceeding,
    /// A final response arrived; retransmissions of it are absorbed until Timer K.
    Completed,
    /// Done; the layer forgets the transaction.
    Terminated,
}

#[derive(Debug)]
pub(crate) struct NonInviteClient {
    state: NonInviteClientState,
    request: Request,
    timers: TimerConfig,
    reliable: bool,
    timer_e: Option<Retransmit>,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl NonInviteClient {
    /// Starts the transaction and sends the request.
    pub(crate) fn start(
        now: Instant,
        request: Request,
        timers: TimerConfig,
        reliable: bool,
        out: &mut Vec<Action>,
    ) -> NonInviteClient {
        out.push(Action::Send(SipMessage::Request(request.clone())));
        NonInviteClient {
            state: NonInviteClientState::Trying,
            timer_e: timers.e(reliable).map(|interval| Retransmit {
                at: now + interval,
                interval,
            }),
            timer_f: Some(now + timers.f()),
            timer_k: None,
            request,
            timers,
            reliable,
        }
    }

    pub(crate) fn state(&self) -> NonInviteClientState {
        self.state
    }

    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    pub(crate) fn handle_response(&mut self, now: Instant, resp: Response, out: &mut Vec<Action>) {
        use NonInviteClientState::*;
        match (self.state, resp.status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                out.push(Action::Response(resp));
            }
            (Trying | Proceeding, 200..=699) => {
                self.timer_e = None;
                self.timer_f = None;
                out.push(Action::Response(resp));
                let k = self.timers.k(self.reliable);
                if k.is_zero() {
                    self.state = Terminated;
                } else {
                    self.state = Completed;
                    self.timer_k = Some(now + k);
                }
            }
            // Retransmitted finals in Completed and anything unexpected are absorbed.
            _ => {}
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        use NonInviteClientState::*;
        if self.timer_f.is_some_and(|t| t <= now) {
            self.timer_f = None;
            self.timer_e = None;
            self.state = Terminated;
            out.push(Action::Timeout);
            return;
        }
        if let Some(e) = self.timer_e.filter(|e| e.at <= now) {
            out.push(Action::Send(SipMessage::Request(self.request.clone())));
            // §17.1.2.2: doubling capped at T2 in Trying, a flat T2 in Proceeding.
            let interval = match self.state {
                Proceeding => self.timers.t2,
                _ => self.timers.backoff_capped(e.interval),
            };
            self.timer_e = Some(Retransmit {
                at: now + interval,
                interval,
            });
        }
        if self.timer_k.is_some_and(|t| t <= now) {
            // Cleared in any state so a stale deadline cannot spin the caller.
            self.timer_k = None;
            if self.state == Completed {
                self.state = Terminated;
            }
        }
    }

    pub(crate) fn handle_transport_error(&mut self, out: &mut Vec<Action>) {
        if self.state != NonInviteClientState::Terminated {
            self.state = NonInviteClientState::Terminated;
            out.push(Action::TransportError);
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.timer_e.map(|e| e.at), self.timer_f, self.timer_k]
            .into_iter()
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::test_support::{bye, ms, sent_requests, t0, TIMERS};
    use NonInviteClientState::*;

    fn fire_all(tx: &mut NonInviteClient, out: &mut Vec<Action>) -> Vec<u128> {
        let mut fired = Vec::new();
        while let Some(at) = tx.poll_timeout() {
            tx.handle_timeout(at, out);
            fired.push(at.duration_since(t0()).as_millis());
        }
        fired
    }

    #[test]
    fn timer_e_doubles_to_t2_and_timer_f_times_out() {
        let mut out = Vec::new();
        let mut tx = NonInviteClient::start(t0(), bye(), TIMERS, false, &mut out);
        let fired = fire_all(&mut tx, &mut out);
        assert_eq!(
            fired,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500, 32000]
        );
        assert_eq!(
            sent_requests(&out),
            11,
            "the original and ten retransmissions"
        );
        assert!(matches!(out.last(), Some(Action::Timeout)));
        assert_eq!(tx.state(), Terminated);
    }

    #[test]
    fn timer_e_is_t2_in_proceeding() {
        let mut out = Vec::new();
        let mut tx = NonInviteClient::start(t0(), bye(), TIMERS, false, &mut out);
        tx.handle_response(
            t0() + ms(100),
            bye().response(100, "Trying", None),
            &mut out,
        );
        assert_eq!(tx.state(), Proceeding);
        tx.handle_timeout(t0() + ms(500), &mut out);
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(4_500)));
        tx.handle_timeout(t0() + ms(4_500), &mut out);
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(8_500)));
    }

    #[test]
    fn reliable_has_no_timer_e_but_timer_f() {
        let mut out = Vec::new();
        let mut tx = NonInviteClient::start(t0(), bye(), TIMERS, true, &mut out);
        out.clear();
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(32_000)));
        tx.handle_timeout(t0() + ms(32_000), &mut out);
        assert!(matches!(&out[..], [Action::Timeout]));
        assert_eq!(tx.state(), Terminated);
    }

    #[test]
    fn final_response_then_timer_k() {
        let mut out = Vec::new();
        let mut tx = NonInviteClient::start(t0(), bye(), TIMERS, false, &mut out);
        out.clear();
        let ok = bye().response(200, "OK", None);
        tx.handle_response(t0() + ms(100), ok.clone(), &mut out);
        tx.handle_response(t0() + ms(200), ok, &mut out);
        assert_eq!(out.len(), 1, "the retransmitted 200 is absorbed");
        assert_eq!(tx.state(), Completed);
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(5_100)));
        tx.handle_timeout(t0() + ms(5_100), &mut out);
        assert_eq!(tx.state(), Terminated);
    }

    #[test]
    fn timer_k_is_zero_on_reliable_transports() {
        let mut out = Vec::new();
        let mut tx = NonInviteClient::start(t0(), bye(), TIMERS, true, &mut out);
        tx.handle_response(t0(), bye().response(481, "Gone", None), &mut out);
        assert_eq!(tx.state(), Terminated);
    }
}
