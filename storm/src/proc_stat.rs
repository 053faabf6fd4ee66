//! CPU time and resident memory of a process, read from `/proc` (Linux).

use std::path::PathBuf;
use std::time::Duration;

/// `/proc/PID/stat` counts CPU time in USER_HZ ticks, which the kernel's ABI fixes at 100 on
/// every architecture Linux supports (`sysconf(_SC_CLK_TCK)` returns it too; reading it would
/// need libc).
const TICKS_PER_SECOND: u64 = 100;

/// Which process to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// The storm itself.
    OwnProcess,
    /// Another process by id (the node under test).
    Pid(u32),
}

impl Process {
    fn dir(self) -> PathBuf {
        match self {
            Process::OwnProcess => PathBuf::from("/proc/self"),
            Process::Pid(pid) => PathBuf::from(format!("/proc/{pid}")),
        }
    }

    /// User plus system CPU time so far; `None` when the process is gone or not on Linux.
    pub fn cpu_time(self) -> Option<Duration> {
        let stat = std::fs::read_to_string(self.dir().join("stat")).ok()?;
        // The command name (field 2) is in parentheses and may contain spaces: count fields
        // after the last ')'. utime and stime are fields 14 and 15, i.e. 12th and 13th after.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        let ticks = utime + stime;
        Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
    }

    /// Resident set size in KiB (`VmRSS`).
    pub fn rss_kib(self) -> Option<u64> {
        let status = std::fs::read_to_string(self.dir().join("status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_memory() {
        let start = Process::OwnProcess.cpu_time().expect("cpu time");
        // Burn a little CPU so the counter moves past one tick.
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(60) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(Process::OwnProcess.cpu_time().expect("cpu time") >= start);
        assert!(Process::OwnProcess.rss_kib().expect("rss") > 100);
        let own = Process::Pid(std::process::id());
        assert!(own.cpu_time().is_some());
    }
}
