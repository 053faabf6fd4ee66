//! RFC 3261 §17 timer values (Table 4 of RFC 3261, plus Timers L and M of RFC 6026).
//!
//! Every derived timer is a method of [`TimerConfig`], taking `reliable` where the RFC gives
//! a different value (usually zero) for reliable transports, so the state machines never hold
//! a timer constant of their own.

use std::time::Duration;

use serde::Deserialize;

/// When the INVITE server transaction answers `100 Trying` on its own (RFC 3261 §17.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TryingPolicy {
    /// Send `100 Trying` as soon as the INVITE arrives (the B2BUA default: the bot side may
    /// take longer than 200 ms to answer).
    #[default]
    Immediate,
    /// Send `100 Trying` only when the TU has sent no provisional within this delay (the RFC's
    /// 200 ms suggestion).
    After(Duration),
}

/// The base timer values of RFC 3261 Table 4 and the 100 Trying policy.
///
/// Deserialises from humane fields, all optional: `t1_ms`, `t2_ms`, `t4_ms` and
/// `trying_delay_ms` (absent or 0 = send 100 Trying immediately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(from = "RawTimerConfig")]
pub struct TimerConfig {
    /// RTT estimate, default 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, default 5 s.
    pub t4: Duration,
    /// When the INVITE server transaction sends `100 Trying` itself.
    pub trying: TryingPolicy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimerConfig {
    t1_ms: Option<u64>,
    t2_ms: Option<u64>,
    t4_ms: Option<u64>,
    trying_delay_ms: Option<u64>,
}

impl From<RawTimerConfig> for TimerConfig {
    fn from(raw: RawTimerConfig) -> Self {
        let d = TimerConfig::default();
        let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
        TimerConfig {
            t1: ms(raw.t1_ms, d.t1),
            t2: ms(raw.t2_ms, d.t2),
            t4: ms(raw.t4_ms, d.t4),
            trying: match raw.trying_delay_ms {
                None | Some(0) => TryingPolicy::Immediate,
                Some(delay) => TryingPolicy::After(Duration::from_millis(delay)),
            },
        }
    }
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying: TryingPolicy::Immediate,
        }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H, J (unreliable), L, M and the UAS 2xx give-up.
    pub fn t1_x64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer A: first INVITE retransmit interval (T1), `None` on reliable transports.
    pub fn a(&self, reliable: bool) -> Option<Duration> {
        (!reliable).then_some(self.t1)
    }

    /// Timer B: INVITE transaction timeout (64·T1).
    pub fn b(&self) -> Duration {
        self.t1_x64()
    }

    /// Timer D: wait time for response retransmits (> 32 s unreliable, 0 reliable).
    pub fn d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.t1_x64())
        }
    }

    /// Timer E: first non-INVITE retransmit interval (T1), `None` on reliable transports.
    pub fn e(&self, reliable: bool) -> Option<Duration> {
        (!reliable).then_some(self.t1)
    }

    /// Timer F: non-INVITE transaction timeout (64·T1).
    pub fn f(&self) -> Duration {
        self.t1_x64()
    }

    /// Timer G: first INVITE final response retransmit interval (T1), `None` when reliable.
    pub fn g(&self, reliable: bool) -> Option<Duration> {
        (!reliable).then_some(self.t1)
    }

    /// Timer H: wait time for the ACK (64·T1).
    pub fn h(&self) -> Duration {
        self.t1_x64()
    }

    /// Timer I: wait time for ACK retransmits (T4, 0 reliable).
    pub fn i(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J: wait time for non-INVITE request retransmits (64·T1, 0 reliable).
    pub fn j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1_x64()
        }
    }

    /// Timer K: wait time for response retransmits (T4, 0 reliable).
    pub fn k(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer L (RFC 6026): wait time for accepted INVITE request retransmits (64·T1).
    pub fn l(&self) -> Duration {
        self.t1_x64()
    }

    /// Timer M (RFC 6026): wait time for 2xx retransmits at the INVITE client (64·T1).
    pub fn m(&self) -> Duration {
        self.t1_x64()
    }

    /// The next retransmit interval after `current`: doubled, capped at T2 (Timers E, G and
    /// the UAS 2xx retransmission).
    pub fn backoff_capped(&self, current: Duration) -> Duration {
        (current * 2).min(self.t2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_rfc_values() {
        let t = TimerConfig::default();
        assert_eq!(t.t1, Duration::from_millis(500));
        assert_eq!(t.t2, Duration::from_secs(4));
        assert_eq!(t.t4, Duration::from_secs(5));
        assert_eq!(t.b(), Duration::from_secs(32));
        assert_eq!(t.d(false), Duration::from_secs(32));
        assert_eq!(t.d(true), Duration::ZERO);
        assert_eq!(t.i(true), Duration::ZERO);
        assert_eq!(t.j(false), Duration::from_secs(32));
        assert_eq!(t.k(false), Duration::from_secs(5));
        assert_eq!(t.a(true), None);
        assert_eq!(t.trying, TryingPolicy::Immediate);
    }

    #[test]
    fn backoff_doubles_up_to_t2() {
        let t = TimerConfig::default();
        assert_eq!(
            t.backoff_capped(Duration::from_millis(500)),
            Duration::from_secs(1)
        );
        assert_eq!(
            t.backoff_capped(Duration::from_secs(2)),
            Duration::from_secs(4)
        );
        assert_eq!(
            t.backoff_capped(Duration::from_secs(4)),
            Duration::from_secs(4)
        );
    }

    #[test]
    fn deserialises_humane_fields() {
        let t: TimerConfig = toml::from_str("t1_ms = 100\ntrying_delay_ms = 200").unwrap();
        assert_eq!(t.t1, Duration::from_millis(100));
        assert_eq!(t.t2, Duration::from_secs(4));
        assert_eq!(t.trying, TryingPolicy::After(Duration::from_millis(200)));
        let empty: TimerConfig = toml::from_str("").unwrap();
        assert_eq!(empty, TimerConfig::default());
        assert!(toml::from_str::<TimerConfig>("t3_ms = 1").is_err());
    }
}
