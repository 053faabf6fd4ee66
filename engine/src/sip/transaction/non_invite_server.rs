//! The non-INVITE server transaction (RFC 3261 §17.2.2).
//!
//! ```text
//!  Trying --1xx--> Proceeding --200-699--> Completed --Timer J--> Terminated
//!     '-----------200-699-------------^
//! ```

use std::time::Instant;

use super::timers::TimerConfig;
use super::Action;
use crate::sip::message::{Request, Response, SipMessage};

/// States of the non-INVITE server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerState {
    /// The request is with the TU; retransmissions are absorbed silently.
    Trying,
    /// A provisional was sent; retransmissions get it again.
    Proceeding,
    /// A final response was sent; retransmissions get it again until Timer J.
    Completed,
    /// Done; the layer forgets the transaction.
    Terminated,
}

#[derive(Debug)]
pub(crate) struct NonInviteServer {
    state: NonInviteServerState,
    request: Request,
    last_response: Option<Response>,
    timers: TimerConfig,
    reliable: bool,
    timer_j: Option<Instant>,
}

impl NonInviteServer {
    pub(crate) fn new(request: Request, timers: TimerConfig, reliable: bool) -> NonInviteServer {
        NonInviteServer {
            state: NonInviteServerState::Trying,
            request,
            last_response: None,
            timers,
            reliable,
            timer_j: None,
        }
    }

    pub(crate) fn state(&self) -> NonInviteServerState {
        self.state
    }

    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    pub(crate) fn handle_retransmission(&mut self, out: &mut Vec<Action>) {
        match self.state {
            NonInviteServerState::Proceeding | NonInviteServerState::Completed => {
                if let Some(resp) = &self.last_response {
                    out.push(Action::Send(SipMessage::Response(resp.clone())));
                }
            }
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
        use NonInviteServerState::*;
        match (self.state, resp.status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                out.push(Action::Send(SipMessage::Response(resp.clone())));
                self.last_response = Some(resp);
            }
            (Trying | Proceeding, 200..=699) => {
                out.push(Action::Send(SipMessage::Response(resp.clone())));
                self.last_response = Some(resp);
                let j = self.timers.j(self.reliable);
                if j.is_zero() {
                    self.state = Terminated;
                } else {
                    self.state = Completed;
                    self.timer_j = Some(now + j);
                }
            }
            _ => return false,
        }
        true
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.timer_j.is_some_and(|t| t <= now) {
            self.timer_j = None;
            self.state = NonInviteServerState::Terminated;
        }
    }

    pub(crate) fn handle_transport_error(&mut self, out: &mut Vec<Action>) {
        if self.state != NonInviteServerState::Terminated {
            self.state = NonInviteServerState::Terminated;
            out.push(Action::TransportError);
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timer_j
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::test_support::{bye, ms, sent_responses, t0, TIMERS};
    use NonInviteServerState::*;

    #[test]
    fn trying_absorbs_then_proceeding_resends_provisional() {
        let mut tx = NonInviteServer::new(bye(), TIMERS, false);
        let mut out = Vec::new();
        tx.handle_retransmission(&mut out);
        assert!(out.is_empty());
        tx.send_response(t0(), bye().response(100, "Trying", None), &mut out);
        assert_eq!(tx.state(), Proceeding);
        out.clear();
        tx.handle_retransmission(&mut out);
        assert_eq!(sent_responses(&out), vec![100]);
    }

    #[test]
    fn completed_resends_final_until_timer_j() {
        let mut tx = NonInviteServer::new(bye(), TIMERS, false);
        let mut out = Vec::new();
        assert!(tx.send_response(t0(), bye().response(200, "OK", None), &mut out));
        assert_eq!(tx.state(), Completed);
        out.clear();
        tx.handle_retransmission(&mut out);
        assert_eq!(sent_responses(&out), vec![200]);
        assert!(!tx.send_response(t0(), bye().response(500, "Oops", None), &mut out));
        assert_eq!(tx.poll_timeout(), Some(t0() + ms(32_000)));
        tx.handle_timeout(t0() + ms(31_999));
        assert_eq!(tx.state(), Completed);
        tx.handle_timeout(t0() + ms(32_000));
        assert_eq!(tx.state(), Terminated);
    }

    #[test]
    fn timer_j_is_zero_on_reliable_transports() {
        let mut tx = NonInviteServer::new(bye(), TIMERS, true);
        let mut out = Vec::new();
        tx.send_response(t0(), bye().response(200, "OK", None), &mut out);
        assert_eq!(tx.state(), Terminated);
        assert_eq!(sent_responses(&out), vec![200]);
    }
}
