//! What a storm measured: counters and latency histograms while it runs, and the report
//! printed at the end (a table for people, JSON for scripts and tests).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::call::Failure;
use crate::frames::SignedFrames;
use crate::media::Media;

/// Running totals of a storm.
#[derive(Debug)]
pub struct Stats {
    /// INVITEs sent (new calls).
    pub attempted: u64,
    /// Calls that got a 2xx.
    pub answered: u64,
    /// Calls that ended as expected in every respect.
    pub succeeded: u64,
    /// Escalating calls that ended with the expected BYE reason.
    pub escalated: u64,
    /// Calls ended by our own BYE.
    pub hung_up: u64,
    /// Failed calls by kind.
    pub failures: BTreeMap<Failure, u64>,
    /// Most calls in progress at once.
    pub peak_active: usize,
    /// Sum of the answered time of all calls (concurrency integrated over time).
    pub call_seconds: f64,
    /// RTP packets sent / received / expected from sequence numbers / lost.
    pub rtp: RtpTotals,
    /// Packets mirrored to the bare UDP echo and echoed back by it.
    pub echo: EchoTotals,
    /// Media frames sent so far, counted as they go (`rtp.sent` adds a call's when it ends).
    pub frames_sent_now: u64,
    setup: Histogram<u64>,
    rtt: Histogram<u64>,
}

/// RTP counters summed over calls.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct RtpTotals {
    /// Packets the storm sent.
    pub sent: u64,
    /// Packets the node sent that arrived.
    pub received: u64,
    /// Packets the node's sequence numbers say it sent.
    pub expected: u64,
    /// `expected - received`.
    pub lost: u64,
    /// Our frames that came back.
    pub echoed: u64,
    /// Frames of another call that came back.
    pub foreign: u64,
}

/// Packets mirrored to the bare UDP echo (`--echo-target`).
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct EchoTotals {
    /// Copies sent to the echo.
    pub sent: u64,
    /// Copies the echo sent back.
    pub received: u64,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits: valid bounds, so creation cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            attempted: 0,
            answered: 0,
            succeeded: 0,
            escalated: 0,
            hung_up: 0,
            failures: BTreeMap::new(),
            peak_active: 0,
            call_seconds: 0.0,
            rtp: RtpTotals::default(),
            echo: EchoTotals::default(),
            frames_sent_now: 0,
            setup: histogram(),
            rtt: histogram(),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Stats {
    /// Records one INVITE → 2xx time.
    pub fn setup(&mut self, d: Duration) {
        self.answered += 1;
        self.setup.saturating_record(micros(d));
    }

    /// Records one media round trip.
    pub fn rtt(&mut self, d: Duration) {
        self.rtt.saturating_record(micros(d));
    }

    /// Counts one failure.
    pub fn fail(&mut self, kind: Failure) {
        *self.failures.entry(kind).or_default() += 1;
    }

    /// Counts a finished call by its verdict.
    pub fn count(&mut self, verdict: Result<(), Failure>, escalating: bool) {
        match verdict {
            Ok(()) if escalating => {
                self.succeeded += 1;
                self.escalated += 1;
            }
            Ok(()) => {
                self.succeeded += 1;
                self.hung_up += 1;
            }
            Err(kind) => self.fail(kind),
        }
    }

    /// Failed calls so far.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Adds a finished call's stream.
    pub fn add_media(&mut self, m: &Media) {
        self.add_frames(m.sent, m.received, &m.frames);
        self.rtp.expected += m.expected();
        self.rtp.lost += m.lost();
    }

    /// Adds a finished call's frames: `sent` by the storm, `received` from the node, and what
    /// the check found. A stream without sequence numbers (Talkdesk over TCP) adds nothing to
    /// `expected` and `lost`.
    pub fn add_frames(&mut self, sent: u64, received: u64, frames: &SignedFrames) {
        self.rtp.sent += sent;
        self.rtp.received += received;
        self.rtp.echoed += frames.echoed;
        self.rtp.foreign += frames.foreign;
    }

    fn quantile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
        (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
    }

    /// The report of a run that took `elapsed`, starting calls during `start_window`.
    pub fn report(&self, elapsed: Duration, start_window: Duration, cpu: CpuReport) -> Report {
        let q = |h: &Histogram<u64>| Latency {
            p50: Stats::quantile_ms(h, 0.50),
            p95: Stats::quantile_ms(h, 0.95),
            p99: Stats::quantile_ms(h, 0.99),
            max: (!h.is_empty()).then(|| h.max() as f64 / 1000.0),
        };
        let window = start_window.as_secs_f64().max(1e-3);
        Report {
            mode: "sip",
            transport: "udp",
            attempted: self.attempted,
            answered: self.answered,
            succeeded: self.succeeded,
            failed: self.failed(),
            escalated: self.escalated,
            hung_up: self.hung_up,
            failures: self
                .failures
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            setup_ms: q(&self.setup),
            media_rtt_ms: q(&self.rtt),
            rtp: self.rtp,
            echo: self.echo,
            rtp_loss_percent: if self.rtp.expected == 0 {
                0.0
            } else {
                self.rtp.lost as f64 * 100.0 / self.rtp.expected as f64
            },
            elapsed_s: elapsed.as_secs_f64(),
            calls_per_second: self.attempted as f64 / window,
            answered_per_second: self.answered as f64 / window,
            peak_concurrent: self.peak_active,
            mean_concurrent: self.call_seconds / elapsed.as_secs_f64().max(1e-3),
            call_seconds: self.call_seconds,
            cpu,
        }
    }
}

/// Latency percentiles in milliseconds (`null` when nothing was measured).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

/// CPU and memory of the storm and, when its pid was given, of the node.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CpuReport {
    /// The storm's CPU time over the run, seconds.
    pub storm_cpu_s: f64,
    /// The node's CPU time over the run, seconds.
    pub node_cpu_s: Option<f64>,
    /// The storm's CPU per concurrent call: CPU seconds per call-second, in % of one core.
    pub storm_percent_per_call: Option<f64>,
    /// The same for the node.
    pub node_percent_per_call: Option<f64>,
    /// The node's CPU per RTP packet the storm sent it (received, relayed through the call and
    /// sent back), µs; SIP, RTCP and call setup included.
    pub node_us_per_packet: Option<f64>,
    /// The bare UDP echo's CPU time over the run, seconds.
    pub echo_cpu_s: Option<f64>,
    /// The bare UDP echo's CPU per packet it echoed (came back), µs.
    pub echo_us_per_packet: Option<f64>,
    /// The node's RSS when the storm started, KiB.
    pub node_rss_start_kib: Option<u64>,
    /// The node's largest RSS seen while calls were up, KiB.
    pub node_rss_peak_kib: Option<u64>,
    /// `(peak - start) / peak concurrent calls`, KiB.
    pub node_rss_per_call_kib: Option<f64>,
    /// The node's CPU while the storm held all the calls it may hold (the longest such
    /// stretch): the steady state, with no call set up or torn down in it.
    pub node_full_load: Option<FullLoad>,
}

/// The node's CPU over a stretch of a storm during which every call was up.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FullLoad {
    /// Calls up all along.
    pub calls: usize,
    /// How long, seconds.
    pub seconds: f64,
    /// The node's CPU per call over it, in % of one core.
    pub percent_per_call: f64,
    /// The node's CPU per RTP packet the storm sent it over it, µs.
    pub node_us_per_packet: Option<f64>,
    /// The bare UDP echo's CPU per packet it echoed over it, µs (with `--echo-target`).
    pub echo_us_per_packet: Option<f64>,
}

impl FullLoad {
    /// `cpu` spent over `seconds` with `calls` calls up; `None` for a stretch too short to
    /// tell (under a second: `/proc` counts CPU in 10 ms ticks).
    pub fn new(calls: usize, seconds: f64, cpu: Duration) -> Option<FullLoad> {
        (calls > 0 && seconds >= 1.0).then(|| FullLoad {
            calls,
            seconds,
            percent_per_call: cpu.as_secs_f64() / (seconds * calls as f64) * 100.0,
            node_us_per_packet: None,
            echo_us_per_packet: None,
        })
    }

    /// Calls one core of the node would hold at this cost.
    pub fn calls_per_core(&self) -> f64 {
        100.0 / self.percent_per_call.max(1e-9)
    }
}

/// The outcome of a storm.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `sip` (calls with RTP) or `talkdesk` (WebSocket streams: "answered" is the HTTP 101,
    /// "rtp" counts `media` frames, and there is no loss: TCP has no sequence gaps to count).
    pub mode: &'static str,
    /// What carried the signalling: `udp` or `tcp` (SIP), `websocket` (Talkdesk).
    pub transport: &'static str,
    /// Calls started.
    pub attempted: u64,
    /// Calls answered (2xx).
    pub answered: u64,
    /// Calls that went right in every respect.
    pub succeeded: u64,
    /// Calls that failed (sum of `failures`).
    pub failed: u64,
    /// Escalating calls that got the expected BYE.
    pub escalated: u64,
    /// Calls that ended with our BYE.
    pub hung_up: u64,
    /// Failures by kind.
    pub failures: BTreeMap<String, u64>,
    /// INVITE → 2xx.
    pub setup_ms: Latency,
    /// A frame sent → the same frame echoed back.
    pub media_rtt_ms: Latency,
    /// RTP totals.
    pub rtp: RtpTotals,
    /// Packets mirrored to the bare UDP echo.
    pub echo: EchoTotals,
    /// Loss of the node's streams, from sequence numbers, in %.
    pub rtp_loss_percent: f64,
    /// Wall time of the run, seconds.
    pub elapsed_s: f64,
    /// Calls started per second over the start window.
    pub calls_per_second: f64,
    /// Calls answered per second over the start window.
    pub answered_per_second: f64,
    /// Most calls in progress at once.
    pub peak_concurrent: usize,
    /// Answered calls in progress, averaged over the run.
    pub mean_concurrent: f64,
    /// Answered time summed over calls, seconds.
    pub call_seconds: f64,
    /// CPU and memory.
    pub cpu: CpuReport,
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2} ms"))
        .unwrap_or_else(|| "-".into())
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3} %")).unwrap_or_else(|| "-".into())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, k: &str, v: String| writeln!(f, "  {k:<28} {v}");
        let talkdesk = self.mode == "talkdesk";
        writeln!(
            f,
            "voxgate storm summary ({} over {})",
            self.mode, self.transport
        )?;
        row(f, "calls attempted", self.attempted.to_string())?;
        row(f, "answered", self.answered.to_string())?;
        row(
            f,
            "succeeded",
            format!(
                "{} ({} hung up by us, {} escalated)",
                self.succeeded, self.hung_up, self.escalated
            ),
        )?;
        row(f, "failed", self.failed.to_string())?;
        for (kind, n) in &self.failures {
            row(f, &format!("  {kind}"), n.to_string())?;
        }
        let l = &self.setup_ms;
        row(
            f,
            if talkdesk {
                "setup connect→101 p50/p95/p99"
            } else {
                "setup INVITE→200 p50/p95/p99"
            },
            format!("{} / {} / {}", ms(l.p50), ms(l.p95), ms(l.p99)),
        )?;
        let r = &self.media_rtt_ms;
        row(
            f,
            "media round trip p50/p99",
            format!("{} / {}", ms(r.p50), ms(r.p99)),
        )?;
        if talkdesk {
            row(
                f,
                "media frames sent / received",
                format!("{} / {}", self.rtp.sent, self.rtp.received),
            )?;
        } else {
            row(
                f,
                "RTP sent / received",
                format!("{} / {}", self.rtp.sent, self.rtp.received),
            )?;
            row(
                f,
                "RTP loss (node → storm)",
                format!("{} ({:.3} %)", self.rtp.lost, self.rtp_loss_percent),
            )?;
        }
        row(
            f,
            "frames echoed / foreign",
            format!("{} / {}", self.rtp.echoed, self.rtp.foreign),
        )?;
        row(
            f,
            "calls/s started / answered",
            format!(
                "{:.1} / {:.1}",
                self.calls_per_second, self.answered_per_second
            ),
        )?;
        row(
            f,
            "concurrent peak / mean",
            format!("{} / {:.1}", self.peak_concurrent, self.mean_concurrent),
        )?;
        row(f, "elapsed", format!("{:.1} s", self.elapsed_s))?;
        let c = &self.cpu;
        row(
            f,
            "storm CPU (per call)",
            format!("{:.2} s ({})", c.storm_cpu_s, pct(c.storm_percent_per_call)),
        )?;
        if let Some(node) = c.node_cpu_s {
            row(
                f,
                "node CPU (per call)",
                format!("{node:.2} s ({})", pct(c.node_percent_per_call)),
            )?;
        }
        if let Some(full) = c.node_full_load {
            row(
                f,
                "node CPU at full load",
                format!(
                    "{} per call, {} calls up for {:.1} s (≈ {:.0} per core)",
                    pct(Some(full.percent_per_call)),
                    full.calls,
                    full.seconds,
                    full.calls_per_core()
                ),
            )?;
            if let Some(node) = full.node_us_per_packet {
                let echo = full.echo_us_per_packet.map_or_else(String::new, |e| {
                    format!(", echo {e:.2} µs ({:.2} ×)", node / e.max(1e-9))
                });
                row(f, "  per RTP packet", format!("node {node:.2} µs{echo}"))?;
            }
        }
        let us = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.2} µs"));
        if c.node_us_per_packet.is_some() {
            row(
                f,
                if talkdesk {
                    "node CPU per media frame"
                } else {
                    "node CPU per RTP packet"
                },
                us(c.node_us_per_packet),
            )?;
        }
        if let Some(echo) = c.echo_cpu_s {
            row(
                f,
                "echo CPU (per packet)",
                format!(
                    "{echo:.2} s ({}; {} sent / {} back)",
                    us(c.echo_us_per_packet),
                    self.echo.sent,
                    self.echo.received
                ),
            )?;
        }
        if let (Some(a), Some(b)) = (c.node_rss_start_kib, c.node_rss_peak_kib) {
            let per = c
                .node_rss_per_call_kib
                .map(|v| format!("{v:.1} KiB per call"))
                .unwrap_or_else(|| "-".into());
            row(
                f,
                "node RSS start → peak",
                format!(
                    "{:.1} → {:.1} MiB, {per}",
                    a as f64 / 1024.0,
                    b as f64 / 1024.0
                ),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_load_is_cpu_per_call_second_over_the_stretch() {
        // 5 s of CPU over 10 s with 1,000 calls up: 0.05 % of a core per call.
        let full = FullLoad::new(1000, 10.0, Duration::from_secs(5)).unwrap();
        assert!((full.percent_per_call - 0.05).abs() < 1e-12);
        assert!((full.calls_per_core() - 2000.0).abs() < 1e-6);
    }

    #[test]
    fn a_stretch_under_a_second_or_with_no_calls_tells_nothing() {
        assert!(FullLoad::new(1000, 0.9, Duration::from_millis(50)).is_none());
        assert!(FullLoad::new(0, 10.0, Duration::from_secs(1)).is_none());
    }
}
