//! The bot leg's restart budget (ARCHITECTURE §2, supervision): at most `max_restarts` restarts
//! within a sliding `window_secs`, each after a backoff that doubles within the window. Plain
//! state on the caller's clock, so every supervisor (SIP call, Talkdesk stream) counts alike.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use voxgate_engine::config::RestartConfig;

/// The restarts one call's bot leg has used.
#[derive(Debug, Default)]
pub(crate) struct RestartBudget {
    /// When the leg was restarted, within the window.
    used: VecDeque<Instant>,
}

impl RestartBudget {
    /// Takes one restart at `now` and returns the backoff to wait before it, or `None` when the
    /// budget is spent (the caller is then handed back with `BotFailure`).
    pub(crate) fn take(&mut self, config: &RestartConfig, now: Instant) -> Option<Duration> {
        let window = Duration::from_secs(config.window_secs);
        while self
            .used
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.used.pop_front();
        }
        let used = self.used.len() as u32;
        if used >= config.max_restarts {
            return None;
        }
        self.used.push_back(now);
        Some(Duration::from_millis(
            config.backoff_ms.saturating_mul(1 << used.min(16)),
        ))
    }

    /// Restarts used within the window at the last [`take`](Self::take).
    pub(crate) fn used(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_budget_is_spent_until_the_window_passes() {
        let config = RestartConfig {
            max_restarts: 2,
            window_secs: 10,
            backoff_ms: 100,
        };
        let t0 = Instant::now();
        let mut b = RestartBudget::default();
        assert_eq!(b.take(&config, t0), Some(Duration::from_millis(100)));
        assert_eq!(b.take(&config, t0), Some(Duration::from_millis(200)));
        assert_eq!(b.take(&config, t0), None);
        assert_eq!(b.used(), 2);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.take(&config, later), Some(Duration::from_millis(100)));
    }

    #[test]
    fn zero_restarts_means_never() {
        let config = RestartConfig {
            max_restarts: 0,
            ..RestartConfig::default()
        };
        assert_eq!(RestartBudget::default().take(&config, Instant::now()), None);
    }
}
