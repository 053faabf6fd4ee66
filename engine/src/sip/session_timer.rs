//! SIP session timers (RFC 4028) for voxgate's UAS side, sans-IO: negotiating the interval and
//! the refresher from the INVITE, answering `422 Session Interval Too Small`, and the timer
//! that either refreshes the session (we are the refresher: an UPDATE at half the interval) or
//! ends it (the peer is the refresher and let it lapse: BYE before the interval runs out).

use std::time::{Duration, Instant};

use crate::sip::message::{HeaderName, MinSe, Refresher, Request, SessionExpires};

/// Session timer settings of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// The interval we ask for (and the most we accept), seconds. RFC 4028 recommends 1800.
    pub session_expires: u32,
    /// The smallest interval we accept, seconds (never below the RFC's 90).
    pub min_se: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            session_expires: 1800,
            min_se: 90,
        }
    }
}

/// What the INVITE asked for, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Negotiation {
    /// No session timer on this dialog (the INVITE asked for none).
    NotUsed,
    /// Use a session timer: add these headers to the 2xx.
    Active(Negotiated),
    /// The interval asked for is below our Min-SE: answer `422` with `Min-SE: min_se`.
    TooSmall {
        /// Our Min-SE.
        min_se: u32,
    },
}

/// The agreed session timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The session interval, seconds.
    pub interval: u32,
    /// Who refreshes.
    pub refresher: Refresher,
    /// Whether the UAC supports timers (then the 2xx carries `Require: timer`).
    pub uac_supports: bool,
}

impl Negotiated {
    /// The headers for our 2xx: `Session-Expires` and, when the UAC supports it, `Require`.
    pub fn response_headers(&self) -> Vec<(HeaderName, String)> {
        let refresher = match self.refresher {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        };
        let mut headers = vec![(
            HeaderName::SessionExpires,
            format!("{};refresher={refresher}", self.interval),
        )];
        if self.uac_supports {
            headers.push((HeaderName::Require, "timer".into()));
        }
        headers
    }
}

/// Decides the session timer of an INVITE (initial or re-INVITE) per RFC 4028 §9.
pub fn negotiate(req: &Request, config: SessionTimerConfig) -> Negotiation {
    let our_min = config.min_se.max(90);
    let uac_supports = lists_option(req, &HeaderName::Supported, "timer")
        || lists_option(req, &HeaderName::Require, "timer");
    let Some(Ok(asked)) = req.headers.typed::<SessionExpires>() else {
        return Negotiation::NotUsed;
    };
    if asked.delta < our_min {
        return Negotiation::TooSmall { min_se: our_min };
    }
    // We may lower the interval toward our own preference, never below any Min-SE in play.
    let their_min = match req.headers.typed::<MinSe>() {
        Some(Ok(m)) => m.delta,
        _ => 90,
    };
    let interval = asked
        .delta
        .min(config.session_expires.max(our_min))
        .max(their_min)
        .max(our_min);
    let refresher = match (asked.refresher, uac_supports) {
        (Some(r), true) => r,
        // A UAC without timer support cannot refresh: we must (RFC 4028 §9).
        (_, false) => Refresher::Uas,
        (None, true) => Refresher::Uac,
    };
    Negotiation::Active(Negotiated {
        interval,
        refresher,
        uac_supports,
    })
}

fn lists_option(req: &Request, header: &HeaderName, tag: &str) -> bool {
    req.headers
        .get_all(header)
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(tag))
}

/// What the session timer asks the call to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    /// We are the refresher: send a refresh (UPDATE or re-INVITE) now.
    Refresh,
    /// The peer did not refresh in time: end the session with BYE.
    Expired,
}

/// The running timer of one dialog.
#[derive(Debug, Clone)]
pub struct SessionTimer {
    negotiated: Negotiated,
    last_refresh: Instant,
    refresh_sent: bool,
}

impl SessionTimer {
    /// Starts the timer at `now` (when the 2xx went out).
    pub fn new(negotiated: Negotiated, now: Instant) -> SessionTimer {
        SessionTimer {
            negotiated,
            last_refresh: now,
            refresh_sent: false,
        }
    }

    /// The agreement in force.
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    /// A refresh succeeded at `now` (a 2xx to a re-INVITE or UPDATE, either direction), maybe
    /// with a new agreement.
    pub fn refreshed(&mut self, now: Instant, negotiated: Option<Negotiated>) {
        if let Some(n) = negotiated {
            self.negotiated = n;
        }
        self.last_refresh = now;
        self.refresh_sent = false;
    }

    /// When [`SessionTimer::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Instant {
        let interval = Duration::from_secs(u64::from(self.negotiated.interval));
        match self.negotiated.refresher {
            Refresher::Uas if !self.refresh_sent => self.last_refresh + interval / 2,
            // The side that does not refresh sends BYE at interval − min(32 s, interval/3)
            // (RFC 4028 §10); when we refresh and the refresh got no answer, same deadline.
            _ => self.last_refresh + interval - (interval / 3).min(Duration::from_secs(32)),
        }
    }

    /// What to do at `now`, if anything is due.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        if now < self.poll_timeout() {
            return None;
        }
        if self.negotiated.refresher == Refresher::Uas && !self.refresh_sent {
            self.refresh_sent = true;
            return Some(TimerAction::Refresh);
        }
        Some(TimerAction::Expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Method;

    fn invite(headers: &[(HeaderName, &str)]) -> Request {
        let mut r = Request::new(Method::Invite, "sip:+1@127.0.0.1");
        for (n, v) in headers {
            r.headers.push(n.clone(), *v);
        }
        r
    }

    const CONFIG: SessionTimerConfig = SessionTimerConfig {
        session_expires: 1800,
        min_se: 90,
    };

    #[test]
    fn no_session_expires_means_no_timer() {
        assert_eq!(
            negotiate(&invite(&[(HeaderName::Supported, "timer")]), CONFIG),
            Negotiation::NotUsed
        );
    }

    #[test]
    fn too_small_gets_422_with_our_min_se() {
        let req = invite(&[
            (HeaderName::SessionExpires, "60"),
            (HeaderName::Supported, "timer"),
        ]);
        assert_eq!(
            negotiate(&req, CONFIG),
            Negotiation::TooSmall { min_se: 90 }
        );
    }

    #[test]
    fn refresher_choice_follows_rfc4028_section_9() {
        let req = invite(&[
            (HeaderName::SessionExpires, "600"),
            (HeaderName::Supported, "timer, 100rel"),
        ]);
        let Negotiation::Active(n) = negotiate(&req, CONFIG) else {
            panic!()
        };
        assert_eq!(
            (n.interval, n.refresher, n.uac_supports),
            (600, Refresher::Uac, true)
        );
        assert_eq!(
            n.response_headers(),
            vec![
                (HeaderName::SessionExpires, "600;refresher=uac".into()),
                (HeaderName::Require, "timer".into())
            ]
        );
        // A UAC without timer support: we refresh, and no Require.
        let req = invite(&[(HeaderName::SessionExpires, "600;refresher=uac")]);
        let Negotiation::Active(n) = negotiate(&req, CONFIG) else {
            panic!()
        };
        assert_eq!((n.refresher, n.uac_supports), (Refresher::Uas, false));
        assert_eq!(n.response_headers().len(), 1);
        // The UAC asks us to refresh.
        let req = invite(&[
            (HeaderName::SessionExpires, "600;refresher=uas"),
            (HeaderName::Supported, "timer"),
        ]);
        let Negotiation::Active(n) = negotiate(&req, CONFIG) else {
            panic!()
        };
        assert_eq!(n.refresher, Refresher::Uas);
    }

    #[test]
    fn long_intervals_are_lowered_to_ours_but_not_below_min_se() {
        let req = invite(&[
            (HeaderName::SessionExpires, "7200"),
            (HeaderName::Supported, "timer"),
        ]);
        let Negotiation::Active(n) = negotiate(&req, CONFIG) else {
            panic!()
        };
        assert_eq!(n.interval, 1800);
        let req = invite(&[
            (HeaderName::SessionExpires, "7200"),
            (HeaderName::MinSe, "3600"),
            (HeaderName::Supported, "timer"),
        ]);
        let Negotiation::Active(n) = negotiate(&req, CONFIG) else {
            panic!()
        };
        assert_eq!(n.interval, 3600);
    }

    #[test]
    fn peer_refresher_that_lapses_expires_the_session() {
        let t0 = Instant::now();
        let n = Negotiated {
            interval: 90,
            refresher: Refresher::Uac,
            uac_supports: true,
        };
        let mut timer = SessionTimer::new(n, t0);
        // 90 − min(32, 30) = 60 s.
        assert_eq!(timer.poll_timeout(), t0 + Duration::from_secs(60));
        assert_eq!(timer.handle_timeout(t0 + Duration::from_secs(59)), None);
        timer.refreshed(t0 + Duration::from_secs(50), None);
        assert_eq!(timer.handle_timeout(t0 + Duration::from_secs(100)), None);
        assert_eq!(
            timer.handle_timeout(t0 + Duration::from_secs(110)),
            Some(TimerAction::Expired)
        );
    }

    #[test]
    fn we_refresh_at_half_and_expire_if_the_refresh_is_not_answered() {
        let t0 = Instant::now();
        let n = Negotiated {
            interval: 1800,
            refresher: Refresher::Uas,
            uac_supports: true,
        };
        let mut timer = SessionTimer::new(n, t0);
        assert_eq!(timer.poll_timeout(), t0 + Duration::from_secs(900));
        assert_eq!(
            timer.handle_timeout(t0 + Duration::from_secs(900)),
            Some(TimerAction::Refresh)
        );
        // Unanswered: BYE at 1800 − 32.
        assert_eq!(timer.poll_timeout(), t0 + Duration::from_secs(1768));
        assert_eq!(
            timer.handle_timeout(t0 + Duration::from_secs(1768)),
            Some(TimerAction::Expired)
        );
        // Answered in time instead: the next refresh is half an interval later.
        let mut timer = SessionTimer::new(n, t0);
        timer.handle_timeout(t0 + Duration::from_secs(900));
        timer.refreshed(t0 + Duration::from_secs(901), None);
        assert_eq!(timer.poll_timeout(), t0 + Duration::from_secs(1801));
    }
}
