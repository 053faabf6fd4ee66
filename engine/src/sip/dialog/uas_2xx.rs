//! The UAS core's 2xx retransmission (RFC 3261 §13.3.1.4): a 2xx to INVITE is retransmitted
//! by the UAS core, not the transaction, starting at T1 and doubling up to T2, until the ACK
//! arrives; after 64·T1 without an ACK the session should be ended with BYE.

use std::time::{Duration, Instant};

use crate::sip::message::Response;
use crate::sip::transaction::{TimerConfig, TransactionKey};

/// What a [`Uas2xx`] asks for when its timer fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uas2xxAction {
    /// Send the 2xx again (through the INVITE server transaction, which is in Accepted).
    Retransmit(Response),
    /// 64·T1 passed without an ACK: confirm-and-end the dialog with BYE.
    GiveUp,
}

/// The retransmission state of one 2xx awaiting its ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uas2xx {
    response: Response,
    invite_key: TransactionKey,
    cseq: u32,
    next: Option<Instant>,
    interval: Duration,
    give_up: Instant,
    t2: Duration,
}

impl Uas2xx {
    /// Starts retransmitting `response` (already sent once at `now`) for the INVITE of
    /// server transaction `invite_key`. On reliable transports there are no retransmissions
    /// but the 64·T1 give-up still applies.
    pub fn new(
        now: Instant,
        invite_key: TransactionKey,
        response: Response,
        timers: &TimerConfig,
        reliable: bool,
    ) -> Uas2xx {
        let cseq = response.cseq().map(|c| c.seq).unwrap_or(0);
        Uas2xx {
            response,
            invite_key,
            cseq,
            next: (!reliable).then(|| now + timers.t1),
            interval: timers.t1,
            give_up: now + timers.t1_x64(),
            t2: timers.t2,
        }
    }

    /// The INVITE server transaction the 2xx belongs to.
    pub fn invite_key(&self) -> &TransactionKey {
        &self.invite_key
    }

    /// The CSeq number an ACK must carry to stop this.
    pub fn cseq(&self) -> u32 {
        self.cseq
    }

    /// When [`Uas2xx::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Instant {
        self.next.map_or(self.give_up, |n| n.min(self.give_up))
    }

    /// Fires the timer due at `now`, if any.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Uas2xxAction> {
        if self.give_up <= now {
            self.next = None;
            return Some(Uas2xxAction::GiveUp);
        }
        if self.next.is_none_or(|n| n > now) {
            return None;
        }
        self.interval = (self.interval * 2).min(self.t2);
        self.next = Some(now + self.interval);
        Some(Uas2xxAction::Retransmit(self.response.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{HeaderName, Method, Request};
    use crate::sip::transaction::key::Role;

    #[test]
    fn retransmits_t1_doubling_to_t2_then_gives_up_at_64_t1() {
        let t0 = Instant::now();
        let mut invite = Request::new(Method::Invite, "sip:x@y");
        invite.headers.push(HeaderName::CSeq, "4 INVITE");
        let ok = invite.response(200, "OK", Some("t"));
        let key = TransactionKey {
            role: Role::Server,
            branch: "z9hG4bKx".into(),
            sent_by: "y".into(),
            method: Method::Invite,
        };
        let mut r = Uas2xx::new(t0, key, ok, &TimerConfig::default(), false);
        assert_eq!(r.cseq(), 4);
        let mut fired = Vec::new();
        loop {
            let at = r.poll_timeout();
            let action = r.handle_timeout(at).expect("a due timer fires");
            fired.push(at.duration_since(t0).as_millis());
            if action == Uas2xxAction::GiveUp {
                break;
            }
        }
        assert_eq!(
            fired,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500, 32000]
        );
        assert_eq!(r.handle_timeout(t0 + Duration::from_millis(100)), None);
    }

    #[test]
    fn reliable_only_gives_up() {
        let t0 = Instant::now();
        let ok = Request::new(Method::Invite, "sip:x@y").response(200, "OK", None);
        let key = TransactionKey {
            role: Role::Server,
            branch: "z9hG4bKx".into(),
            sent_by: "y".into(),
            method: Method::Invite,
        };
        let mut r = Uas2xx::new(t0, key, ok, &TimerConfig::default(), true);
        assert_eq!(r.poll_timeout(), t0 + Duration::from_secs(32));
        assert_eq!(
            r.handle_timeout(r.poll_timeout()),
            Some(Uas2xxAction::GiveUp)
        );
    }
}
