//! The loop every storm mode shares: calls started on schedule up to the concurrency cap, one
//! timer wheel of [`SLOTS`] × [`TICK`] that visits each call once per 20 ms (its next frame
//! and all of its timers), the progress bar, the node's memory sampled, and at the end the
//! CPU of the storm, the node and the echo turned into the [`Report`].
//!
//! A mode ([`Load`]) owns its sockets and calls; the driver owns time.

use std::time::{Duration, Instant};

use crate::generator::Options;
use crate::proc_stat::Process;
use crate::report::{CpuReport, FullLoad, Report, Stats};
use crate::StormError;

/// The wheel's resolution: each wake-up costs a context switch, so the loop wakes no more
/// often than this (a frame leaves at most 2 ms off its 20 ms grid, well within any jitter
/// buffer, and the spacing of one call's frames stays exactly 20 ms on average).
pub(crate) const TICK: Duration = Duration::from_millis(2);
/// Slots of the wheel: one turn is one 20 ms frame interval.
pub(crate) const SLOTS: usize = 10;
/// How long an escalating call waits for the node's hand-back after pressing the digit.
pub(crate) const HANDBACK_WAIT: Duration = Duration::from_secs(10);
/// How long our own hang-up may go unanswered (64 × T1, RFC 3261 Timer F).
pub(crate) const HANGUP_TIMEOUT: Duration = Duration::from_secs(32);

/// A call's serial: unique over the run, while its slot is reused.
pub(crate) trait Serial {
    /// The serial.
    fn serial(&self) -> u64;
}

/// The calls in progress by slot; a finished call's slot is reused, its serial is not.
pub(crate) struct Slots<T> {
    /// Calls by slot.
    pub(crate) calls: Vec<Option<T>>,
    free: Vec<u32>,
    active: usize,
    next_serial: u64,
}

impl<T: Serial> Slots<T> {
    pub(crate) fn new() -> Self {
        Slots {
            calls: Vec::new(),
            free: Vec::new(),
            active: 0,
            next_serial: 0,
        }
    }

    /// A free slot and a fresh serial for a new call; [`Slots::put`] fills the slot.
    pub(crate) fn reserve(&mut self) -> (u32, u64) {
        let serial = self.next_serial;
        self.next_serial += 1;
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.calls.push(None);
                // Slots stay far below 2^32: they are bounded by the concurrency.
                (self.calls.len() - 1) as u32
            }
        };
        (slot, serial)
    }

    /// Fills a reserved slot; the call is now in progress.
    pub(crate) fn put(&mut self, slot: u32, call: T, stats: &mut Stats) {
        self.calls[slot as usize] = Some(call);
        self.active += 1;
        stats.peak_active = stats.peak_active.max(self.active);
    }

    /// Takes a finished call out and frees its slot.
    pub(crate) fn take(&mut self, slot: u32) -> Option<T> {
        let call = self.calls.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        self.active -= 1;
        Some(call)
    }

    fn is_live(&self, slot: u32, serial: u64) -> bool {
        matches!(self.calls.get(slot as usize), Some(Some(c)) if c.serial() == serial)
    }

    fn occupied(&self) -> Vec<u32> {
        // Slots fit in u32 (see reserve).
        (0..self.calls.len() as u32)
            .filter(|&s| self.calls[s as usize].is_some())
            .collect()
    }
}

/// One storm mode: its calls, its sockets, its protocol.
pub(crate) trait Load {
    /// What one call of this mode is.
    type Call: Serial;
    /// Waits for I/O until `until` at the latest and handles what arrived.
    fn wait(&mut self, until: Instant) -> Result<(), StormError>;
    /// Starts one call; returns its slot and serial for the wheel.
    fn start_call(&mut self, now: Instant) -> Result<(u32, u64), StormError>;
    /// The call's 20 ms visit: its next frame and its timers.
    fn visit(&mut self, slot: u32, now: Instant) -> Result<(), StormError>;
    /// The calls in progress.
    fn slots(&self) -> &Slots<Self::Call>;
    /// The totals so far.
    fn stats(&self) -> &Stats;
    /// Ends the call at `slot` as unfinished (the run's safety deadline passed).
    fn abandon(&mut self, slot: u32, now: Instant);

    /// Whether the call at `slot` is still the one with `serial`.
    fn is_live(&self, slot: u32, serial: u64) -> bool {
        self.slots().is_live(slot, serial)
    }

    /// Calls in progress.
    fn active(&self) -> usize {
        self.slots().active
    }

    /// Ends every call still up as unfinished.
    fn abandon_all(&mut self) {
        let now = Instant::now();
        for slot in self.slots().occupied() {
            self.abandon(slot, now);
        }
    }
}

/// Calls by wheel slot: (call slot, serial); entries of finished calls are dropped lazily.
struct Wheel {
    slots: Vec<Vec<(u32, u64)>>,
    tick: u64,
}

impl Wheel {
    /// Visits the calls of this tick's slot.
    fn turn(&mut self, load: &mut impl Load, now: Instant) -> Result<(), StormError> {
        let slot = (self.tick % SLOTS as u64) as usize;
        self.tick += 1;
        let mut entries = std::mem::take(&mut self.slots[slot]);
        let mut i = 0;
        while i < entries.len() {
            let (idx, serial) = entries[i];
            if load.is_live(idx, serial) {
                load.visit(idx, now)?;
                i += 1;
            } else {
                entries.swap_remove(i);
            }
        }
        self.slots[slot] = entries;
        Ok(())
    }

    /// A new call: first visited on the next tick.
    fn add(&mut self, entry: (u32, u64)) {
        let slot = ((self.tick + 1) % SLOTS as u64) as usize;
        self.slots[slot].push(entry);
    }
}

/// Each frame the storm sent was received and sent back by the node (and by the echo, when
/// mirrored): CPU per such relayed frame, in µs.
fn per_packet(cpu: Duration, packets: u64) -> Option<f64> {
    (packets > 0).then(|| cpu.as_secs_f64() * 1e6 / packets as f64)
}

/// What the storm reads at each end of a stretch with all calls up.
struct Reading {
    at: Instant,
    node_cpu: Duration,
    echo_cpu: Option<Duration>,
    sent: u64,
    echoed: u64,
}

impl Reading {
    /// `None` without a node to read.
    fn take(
        at: Instant,
        node: Option<Process>,
        echo: Option<Process>,
        stats: &Stats,
    ) -> Option<Reading> {
        Some(Reading {
            at,
            node_cpu: node.and_then(Process::cpu_time)?,
            echo_cpu: echo.and_then(Process::cpu_time),
            sent: stats.frames_sent_now,
            echoed: stats.echo.received,
        })
    }

    /// The node's (and the echo's) cost from this reading to `end`, `calls` calls up all along.
    fn full_load(&self, end: &Reading, calls: usize) -> Option<FullLoad> {
        let seconds = end.at.saturating_duration_since(self.at).as_secs_f64();
        let node_cpu = end.node_cpu.saturating_sub(self.node_cpu);
        let mut full = FullLoad::new(calls, seconds, node_cpu)?;
        full.node_us_per_packet = per_packet(node_cpu, end.sent.saturating_sub(self.sent));
        full.echo_us_per_packet = self.echo_cpu.zip(end.echo_cpu).and_then(|(a, b)| {
            per_packet(b.saturating_sub(a), end.echoed.saturating_sub(self.echoed))
        });
        Some(full)
    }
}

/// Runs `load` as `opts` say until every call has ended (or the safety deadline), and
/// reports.
pub(crate) fn drive(load: &mut impl Load, opts: &Options) -> Result<Report, StormError> {
    let node = opts.node_pid.map(Process::Pid);
    let echo = opts.echo_pid.map(Process::Pid);
    let storm_cpu0 = Process::OwnProcess.cpu_time().unwrap_or_default();
    let node_cpu0 = node.and_then(Process::cpu_time);
    let echo_cpu0 = echo.and_then(Process::cpu_time);
    let rss_start = node.and_then(Process::rss_kib);
    let mut rss_peak = rss_start;

    let bar = if opts.progress {
        indicatif::ProgressBar::new(opts.expected_calls())
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} calls done  {msg}",
        )
        // The template is a constant known to be valid.
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );

    let mut wheel = Wheel {
        slots: vec![Vec::new(); SLOTS],
        tick: 0,
    };
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / opts.rate);
    let mut next_start = start;
    let mut next_tick = start;
    let mut next_sample = start;
    let mut started_all_at = None;
    // Where the stretch during which all calls are up began, and the longest such stretch.
    let mut full_since: Option<Reading> = None;
    let mut full_load: Option<FullLoad> = None;
    // Whatever goes wrong, the run ends: long enough for the last call's setup, hold,
    // escalation and hang-up.
    let hard_end =
        start + opts.duration + opts.setup_timeout + opts.hold + HANDBACK_WAIT + HANGUP_TIMEOUT;

    loop {
        load.wait(next_tick)?;

        let now = Instant::now();
        // Start calls on schedule; when the concurrency cap is reached, postpone rather
        // than burst later.
        let starting =
            now < start + opts.duration && opts.total.is_none_or(|t| load.stats().attempted < t);
        if starting {
            while next_start <= now {
                if load.active() < opts.max_concurrent {
                    let entry = load.start_call(now)?;
                    wheel.add(entry);
                }
                next_start += interval;
            }
        } else if started_all_at.is_none() {
            started_all_at = Some(now);
        }

        let full = load.active() >= opts.max_concurrent;
        match (full, &full_since) {
            (true, None) => full_since = Reading::take(now, node, echo, load.stats()),
            (false, Some(since)) => {
                let stretch = Reading::take(now, node, echo, load.stats())
                    .and_then(|end| since.full_load(&end, opts.max_concurrent));
                if stretch.map(|w| w.seconds) > full_load.map(|w| w.seconds) {
                    full_load = stretch;
                }
                full_since = None;
            }
            _ => {}
        }

        while next_tick <= now {
            wheel.turn(load, now)?;
            next_tick += TICK;
        }
        // After a stall (the machine was busy), do not replay every missed tick.
        if now.saturating_duration_since(next_tick) > Duration::from_millis(100) {
            next_tick = now + TICK;
        }

        if now >= next_sample {
            next_sample = now + Duration::from_millis(200);
            if let Some(rss) = node.and_then(Process::rss_kib) {
                rss_peak = rss_peak.max(Some(rss));
            }
            let stats = load.stats();
            bar.set_position(stats.succeeded + stats.failed());
            bar.set_message(format!(
                "active {}  answered {}  failed {}",
                load.active(),
                stats.answered,
                stats.failed()
            ));
        }

        if started_all_at.is_some() && load.active() == 0 {
            break;
        }
        if now >= hard_end {
            load.abandon_all();
            break;
        }
    }
    bar.finish_and_clear();

    let stats = load.stats();
    let elapsed = start.elapsed();
    let window = started_all_at.map_or(elapsed, |t| t.saturating_duration_since(start));
    let per_call = |cpu: Duration| {
        (stats.call_seconds > 0.0).then(|| cpu.as_secs_f64() / stats.call_seconds * 100.0)
    };
    let storm_cpu = Process::OwnProcess
        .cpu_time()
        .unwrap_or_default()
        .saturating_sub(storm_cpu0);
    let spent = |p: Option<Process>, before: Option<Duration>| {
        p.and_then(Process::cpu_time)
            .zip(before)
            .map(|(b, a)| b.saturating_sub(a))
    };
    let node_cpu = spent(node, node_cpu0);
    let echo_cpu = spent(echo, echo_cpu0);
    let cpu = CpuReport {
        storm_cpu_s: storm_cpu.as_secs_f64(),
        node_cpu_s: node_cpu.map(|d| d.as_secs_f64()),
        storm_percent_per_call: per_call(storm_cpu),
        node_percent_per_call: node_cpu.and_then(per_call),
        node_us_per_packet: node_cpu.and_then(|c| per_packet(c, stats.rtp.sent)),
        echo_cpu_s: echo_cpu.map(|d| d.as_secs_f64()),
        // Per copy the echo sent back: copies its socket dropped (one blocking thread falls
        // behind the storm's bursts at 1,000 calls) cost it nothing, and counting them would
        // understate what it spends on a packet it relays.
        echo_us_per_packet: echo_cpu.and_then(|c| per_packet(c, stats.echo.received)),
        node_rss_start_kib: rss_start,
        node_rss_peak_kib: rss_peak,
        node_rss_per_call_kib: rss_start.zip(rss_peak).and_then(|(a, b)| {
            (stats.peak_active > 0).then(|| b.saturating_sub(a) as f64 / stats.peak_active as f64)
        }),
        node_full_load: full_load,
    };
    Ok(stats.report(elapsed, window, cpu))
}
