//! Per-source-address flood control, in the manner of Kamailio's `pike` module: each address
//! gets a request budget per window; one that exceeds it is blocked for a while, and while it is
//! blocked every request of it is refused at once (with `503` or silently, as the caller
//! decides). The same type, with other numbers, throttles failed digest attempts.
//!
//! The count is a sliding window approximated from two fixed buckets (the previous window's
//! count weighted by how much of it still overlaps), so one address costs a few words and the
//! check is O(1). The table is bounded: when it is full, entries idle for two windows are swept
//! out, and if none are, the new address shares the overflow entry (a flood from very many
//! addresses then throttles itself as one). Sans-IO: every call takes `now`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The limits of one [`RateLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Events allowed per window and address.
    pub per_window: u32,
    /// The window.
    pub window: Duration,
    /// How long an address that went over stays blocked.
    pub block_for: Duration,
    /// Addresses tracked at once before the table sweeps.
    pub max_addresses: usize,
}

/// The verdict on one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within budget.
    Allow,
    /// Over budget: this event just tipped the address over (log it once).
    Blocked,
    /// The address is already blocked.
    StillBlocked,
}

impl Verdict {
    /// Whether the event may go on.
    pub fn allowed(self) -> bool {
        self == Verdict::Allow
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    current: u32,
    previous: u32,
    blocked_until: Option<Instant>,
    last_seen: Instant,
}

/// A flood detector over source addresses.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Limits,
    table: HashMap<IpAddr, Entry>,
    overflow: Option<Entry>,
}

impl RateLimiter {
    /// A limiter with these limits (a zero `per_window` disables it: everything is allowed).
    pub fn new(limits: Limits) -> RateLimiter {
        RateLimiter {
            limits,
            table: HashMap::new(),
            overflow: None,
        }
    }

    /// Counts one event from `addr` at `now` and says whether it may go on.
    pub fn check(&mut self, addr: IpAddr, now: Instant) -> Verdict {
        if self.limits.per_window == 0 {
            return Verdict::Allow;
        }
        let limits = self.limits;
        if !self.table.contains_key(&addr) && self.table.len() >= limits.max_addresses {
            self.sweep(now);
        }
        let entry = if self.table.len() < limits.max_addresses || self.table.contains_key(&addr) {
            self.table.entry(addr).or_insert_with(|| Entry::new(now))
        } else {
            self.overflow.get_or_insert_with(|| Entry::new(now))
        };
        entry.count(now, limits)
    }

    /// Whether `addr` is blocked at `now`, without counting anything.
    pub fn is_blocked(&self, addr: IpAddr, now: Instant) -> bool {
        self.table
            .get(&addr)
            .and_then(|e| e.blocked_until)
            .is_some_and(|until| now < until)
    }

    /// Addresses tracked now.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Drops entries idle for two windows and not blocked (call now and then, or let
    /// [`check`](Self::check) do it when the table is full).
    pub fn sweep(&mut self, now: Instant) {
        let idle = self.limits.window * 2;
        self.table.retain(|_, e| {
            now.saturating_duration_since(e.last_seen) < idle
                || e.blocked_until.is_some_and(|u| now < u)
        });
    }
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            window_start: now,
            current: 0,
            previous: 0,
            blocked_until: None,
            last_seen: now,
        }
    }

    fn count(&mut self, now: Instant, limits: Limits) -> Verdict {
        self.last_seen = now;
        if let Some(until) = self.blocked_until {
            if now < until {
                return Verdict::StillBlocked;
            }
            self.blocked_until = None;
            self.current = 0;
            self.previous = 0;
            self.window_start = now;
        }
        let window = limits.window.max(Duration::from_millis(1));
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= window * 2 {
            self.previous = 0;
            self.current = 0;
            self.window_start = now;
        } else if elapsed >= window {
            self.previous = self.current;
            self.current = 0;
            self.window_start += window;
        }
        self.current = self.current.saturating_add(1);
        let into = now
            .saturating_duration_since(self.window_start)
            .as_secs_f64()
            / window.as_secs_f64();
        let weighted = f64::from(self.previous) * (1.0 - into.min(1.0)) + f64::from(self.current);
        if weighted > f64::from(limits.per_window) {
            self.blocked_until = Some(now + limits.block_for);
            Verdict::Blocked
        } else {
            Verdict::Allow
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            per_window: 10,
            window: Duration::from_secs(2),
            block_for: Duration::from_secs(10),
            max_addresses: 4,
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn under_budget_is_allowed_over_is_blocked_then_released() {
        let mut r = RateLimiter::new(limits());
        let t0 = Instant::now();
        for i in 0..10 {
            assert_eq!(
                r.check(ip(1), t0 + Duration::from_millis(i)),
                Verdict::Allow
            );
        }
        assert_eq!(
            r.check(ip(1), t0 + Duration::from_millis(20)),
            Verdict::Blocked
        );
        assert_eq!(
            r.check(ip(1), t0 + Duration::from_secs(5)),
            Verdict::StillBlocked
        );
        assert!(r.is_blocked(ip(1), t0 + Duration::from_secs(9)));
        // Others are unaffected.
        assert_eq!(r.check(ip(2), t0), Verdict::Allow);
        // Released after block_for.
        assert_eq!(r.check(ip(1), t0 + Duration::from_secs(11)), Verdict::Allow);
    }

    #[test]
    fn a_steady_rate_below_budget_never_blocks() {
        let mut r = RateLimiter::new(limits());
        let t0 = Instant::now();
        // 4 per second against 10 per 2 s.
        for i in 0..400u64 {
            let v = r.check(ip(1), t0 + Duration::from_millis(i * 250));
            assert_eq!(v, Verdict::Allow, "event {i}");
        }
    }

    #[test]
    fn a_burst_straddling_two_windows_is_caught() {
        let mut r = RateLimiter::new(limits());
        let t0 = Instant::now();
        // 8 just before the window ends, 8 just after: 16 in 200 ms.
        for i in 0..8 {
            assert!(r
                .check(ip(1), t0 + Duration::from_millis(1900 + i))
                .allowed());
        }
        let mut blocked = false;
        for i in 0..8 {
            blocked |= !r
                .check(ip(1), t0 + Duration::from_millis(2001 + i))
                .allowed();
        }
        assert!(blocked);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut r = RateLimiter::new(limits());
        let t0 = Instant::now();
        for n in 0..200u8 {
            r.check(ip(n), t0);
        }
        assert!(r.len() <= 4);
        // After two idle windows the table makes room again.
        r.check(ip(250), t0 + Duration::from_secs(5));
        assert!(r.table.contains_key(&ip(250)));
    }

    #[test]
    fn zero_budget_disables() {
        let mut r = RateLimiter::new(Limits {
            per_window: 0,
            ..limits()
        });
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(r.check(ip(1), t0).allowed());
        }
        assert!(r.is_empty());
    }
}
