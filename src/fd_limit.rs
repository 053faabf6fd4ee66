//! File descriptors for a node: every call holds an RTP and an RTCP socket, and a bot leg,
//! a TCP or TLS connection or a Talkdesk stream adds more. The soft limit most systems start a
//! process with (1024) would refuse calls long before `[node] max_calls`, so the node raises
//! its soft limit toward the hard one at start.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors one call may hold at most (RTP, RTCP, a bot leg's socket pair or WebSocket, a
/// TCP/TLS connection), plus room for listeners, the store and the HTTP clients.
const PER_CALL: u64 = 6;
const BASE: u64 = 1024;

/// What was done, for the start-up log.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The soft limit already covered the need.
    Enough { soft: u64 },
    /// The soft limit was raised to `to`.
    Raised { from: u64, to: u64 },
    /// The hard limit is below the need: raised as far as allowed, calls past it will fail.
    Short { to: u64, wanted: u64 },
}

/// Raises the soft `RLIMIT_NOFILE` so that `max_calls` calls fit.
pub fn raise_for(max_calls: usize) -> std::io::Result<Outcome> {
    let wanted = BASE + PER_CALL * max_calls as u64;
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    if soft >= wanted {
        return Ok(Outcome::Enough { soft });
    }
    let to = wanted.min(hard);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(to),
            maximum: limit.maximum,
        },
    )?;
    Ok(if to < wanted {
        Outcome::Short { to, wanted }
    } else {
        Outcome::Raised { from: soft, to }
    })
}

/// Raises the limit and says so in the log.
pub fn raise_and_log(max_calls: usize) {
    match raise_for(max_calls) {
        Ok(Outcome::Enough { soft }) => tracing::debug!(soft, "file descriptor limit suffices"),
        Ok(Outcome::Raised { from, to }) => {
            tracing::debug!(from, to, "raised the file descriptor limit")
        }
        Ok(Outcome::Short { to, wanted }) => tracing::warn!(
            limit = to,
            wanted,
            max_calls,
            "the hard file descriptor limit is below what [node] max_calls needs; raise it \
             (LimitNOFILE= in the systemd unit, ulimit -Hn) or lower max_calls"
        ),
        Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_covers_max_calls_afterwards() {
        // Asking for little never lowers anything.
        assert!(matches!(raise_for(0).unwrap(), Outcome::Enough { .. }));
        let hard = getrlimit(Resource::Nofile).maximum.unwrap_or(u64::MAX);
        let soft_after = |o: &Outcome| match *o {
            Outcome::Enough { soft } => soft,
            Outcome::Raised { to, .. } | Outcome::Short { to, .. } => to,
        };
        let outcome = raise_for(2000).unwrap();
        let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        assert_eq!(soft, soft_after(&outcome).max(soft));
        assert!(soft >= (BASE + PER_CALL * 2000).min(hard), "{outcome:?}");
    }
}
