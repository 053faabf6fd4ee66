//! Receive statistics for one remote source: loss per RFC 3550 A.3 and interarrival jitter
//! per A.8, with the running max/mean (ms) the session record keeps.

use std::time::Duration;

use super::rtcp::ReportBlock;
use super::sequence::{SeqUpdate, SequenceTracker};

/// Converts a time since an arbitrary epoch into RTP timestamp units of `clock_rate`,
/// wrapping like an RTP timestamp does.
pub fn arrival_units(since_epoch: Duration, clock_rate: u32) -> u32 {
    let units = since_epoch.as_nanos() * u128::from(clock_rate) / 1_000_000_000;
    // Wrapping truncation is the point: A.8 only uses differences of these values.
    units as u32
}

/// Interarrival jitter estimator (RFC 3550 A.8), in timestamp units.
#[derive(Debug, Clone)]
pub struct Jitter {
    clock_rate: u32,
    last_transit: Option<u32>,
    jitter: f64,
    max: f64,
    sum: f64,
    samples: u64,
}

impl Jitter {
    /// A fresh estimator for a payload clock of `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            last_transit: None,
            jitter: 0.0,
            max: 0.0,
            sum: 0.0,
            samples: 0,
        }
    }

    /// Feeds one packet: its arrival time and RTP timestamp, both in timestamp units.
    pub fn update(&mut self, arrival: u32, rtp_timestamp: u32) {
        let transit = arrival.wrapping_sub(rtp_timestamp);
        if let Some(last) = self.last_transit {
            // Reinterpreting the wrapped difference as signed gives the true small delta.
            let d = f64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
            self.max = self.max.max(self.jitter);
            self.sum += self.jitter;
            self.samples += 1;
        }
        self.last_transit = Some(transit);
    }

    /// Current estimate in timestamp units.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// Current estimate in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.to_ms(self.jitter)
    }

    /// Largest estimate so far, in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.to_ms(self.max)
    }

    /// Mean of the estimate over all updates, in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.to_ms(self.sum / self.samples as f64)
        }
    }

    /// Number of estimates made (packets after the first).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    fn to_ms(&self, units: f64) -> f64 {
        units * 1000.0 / f64::from(self.clock_rate)
    }
}

/// Everything we know about the source we receive from: sequence state, jitter, and the
/// interval bookkeeping of the next reception report.
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    ssrc: u32,
    sequence: SequenceTracker,
    jitter: Jitter,
    expected_prior: u32,
    received_prior: u32,
}

impl ReceiveStats {
    /// Starts statistics for `ssrc`, first heard with sequence `first_seq`.
    pub fn new(ssrc: u32, first_seq: u16, min_sequential: u16, clock_rate: u32) -> Self {
        Self {
            ssrc,
            sequence: SequenceTracker::new(first_seq, min_sequential),
            jitter: Jitter::new(clock_rate),
            expected_prior: 0,
            received_prior: 0,
        }
    }

    /// Feeds one packet. `arrival` is in timestamp units (see [`arrival_units`]); `timed` is
    /// false for packets whose timestamp is not a sampling instant (RFC 4733 events reuse the
    /// event start), which then stay out of the jitter estimate.
    pub fn on_packet(
        &mut self,
        seq: u16,
        rtp_timestamp: u32,
        arrival: u32,
        timed: bool,
    ) -> SeqUpdate {
        let update = self.sequence.update(seq);
        if let SeqUpdate::Restarted { .. } = update {
            self.expected_prior = 0;
            self.received_prior = 0;
        }
        if timed && update.is_valid() {
            self.jitter.update(arrival, rtp_timestamp);
        }
        update
    }

    /// The source's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Sequence-number state and counters.
    pub fn sequence(&self) -> &SequenceTracker {
        &self.sequence
    }

    /// Jitter estimator.
    pub fn jitter(&self) -> &Jitter {
        &self.jitter
    }

    /// Builds the reception report block for this source and starts a new interval (A.3).
    /// `lsr`/`dlsr` come from the last SR heard from the source (zero when none).
    pub fn report_block(&mut self, lsr: u32, dlsr: u32) -> ReportBlock {
        let expected = self.sequence.expected();
        let received = self.sequence.received();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            // lost_interval <= expected_interval, so the quotient is below 256.
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            // The field is a signed 24-bit integer: clamp as A.3 says.
            cumulative_lost: self.sequence.lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            extended_highest_seq: self.sequence.extended_max(),
            jitter: self.jitter.jitter().round() as u32,
            last_sr: lsr,
            delay_since_last_sr: dlsr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_matches_hand_computed_sequence() {
        let mut j = Jitter::new(8000);
        // RTP timestamps every 160 units; transit times 0, 10, 0, 20.
        for (arrival, ts) in [(0u32, 0u32), (170, 160), (320, 320), (500, 480)] {
            j.update(arrival, ts);
        }
        // D = 10, 10, 20:
        // J1 = 10/16 = 0.625
        // J2 = 0.625 + (10 - 0.625)/16 = 1.2109375
        // J3 = 1.2109375 + (20 - 1.2109375)/16 = 2.38525390625
        let j1 = 0.625;
        let j2 = 1.210_937_5;
        let j3 = 2.385_253_906_25;
        assert!((j.jitter() - j3).abs() < 1e-12, "{}", j.jitter());
        assert!((j.jitter_ms() - j3 / 8.0).abs() < 1e-12);
        assert!((j.max_ms() - j3 / 8.0).abs() < 1e-12);
        assert!((j.mean_ms() - (j1 + j2 + j3) / 3.0 / 8.0).abs() < 1e-12);
        assert_eq!(j.samples(), 3);
    }

    #[test]
    fn jitter_survives_timestamp_wrap() {
        let mut j = Jitter::new(8000);
        j.update(5, u32::MAX - 100);
        j.update(5 + 160, (u32::MAX - 100).wrapping_add(160));
        assert_eq!(j.jitter(), 0.0);
        j.update(5 + 320 + 16, (u32::MAX - 100).wrapping_add(320));
        assert!((j.jitter() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn arrival_units_scale_and_wrap() {
        assert_eq!(arrival_units(Duration::from_millis(20), 8000), 160);
        assert_eq!(arrival_units(Duration::from_millis(20), 48000), 960);
        let wrap = Duration::from_secs(u64::from(u32::MAX) / 8000 + 1);
        assert!(arrival_units(wrap, 8000) < 8000);
    }

    #[test]
    fn report_block_fraction_lost_per_interval() {
        let mut s = ReceiveStats::new(42, 1, 1, 8000);
        let mut t = 0;
        // Interval 1: 1..=10 with 4 and 5 lost.
        for seq in (1u16..=10).filter(|s| *s != 4 && *s != 5) {
            assert!(s.on_packet(seq, u32::from(seq) * 160, t, true).is_valid());
            t += 160;
        }
        let rb = s.report_block(0, 0);
        assert_eq!(rb.ssrc, 42);
        assert_eq!(rb.extended_highest_seq, 10);
        assert_eq!(rb.cumulative_lost, 2);
        assert_eq!(rb.fraction_lost, (2 * 256 / 10) as u8);
        // Interval 2: 11..=20, nothing lost; the late arrival of 4 makes the interval negative.
        assert!(s.on_packet(4, 4 * 160, t, true).is_valid());
        for seq in 11u16..=20 {
            s.on_packet(seq, u32::from(seq) * 160, t, true);
            t += 160;
        }
        let rb = s.report_block(0, 0);
        assert_eq!(rb.fraction_lost, 0);
        assert_eq!(rb.cumulative_lost, 1);
        assert_eq!(rb.extended_highest_seq, 20);
    }

    #[test]
    fn events_stay_out_of_jitter() {
        let mut s = ReceiveStats::new(1, 1, 1, 8000);
        s.on_packet(1, 1000, 0, false);
        s.on_packet(2, 1000, 160, false);
        s.on_packet(3, 1000, 320, false);
        assert_eq!(s.jitter().samples(), 0);
    }
}
