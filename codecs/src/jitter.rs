//! Sans-IO playout (jitter) buffer for one RTP stream.
//!
//! The caller feeds packets with [`JitterBuffer::push`] as they arrive (with the arrival time)
//! and calls [`JitterBuffer::pop`] once per frame tick (every 20 ms). The buffer reorders,
//! drops duplicates and packets that come after their playout slot, reports a missing frame as
//! [`Playout::Lost`] (the caller runs PLC or repeats/attenuates), handles 16-bit sequence
//! wrap-around, and adapts its depth between the configured bounds from the RFC 3550
//! interarrival jitter estimate and late arrivals. Payload storage is one slab of equal slots
//! sized for the largest payload seen so far: it is allocated at the first packet and
//! re-laid out, at least doubling the slot, when a larger one comes (at most a few times per
//! stream, up to `max_payload`), never per packet. A 20 ms G.711 stream keeps 160-byte slots
//! although `max_payload` admits 60 ms packets.

use crate::error::{CodecError, Result};
use std::time::Instant;

/// Jitter buffer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the stream (8000 for G.711/G.722, 48000 for Opus).
    pub clock_rate: u32,
    /// Frame duration in milliseconds (one packet per frame).
    pub frame_ms: u32,
    /// Smallest playout depth in frames.
    pub min_depth: usize,
    /// Largest playout depth in frames.
    pub max_depth: usize,
    /// Number of packet slots (must exceed `max_depth`; the reorder window).
    pub capacity: usize,
    /// Largest payload stored, in bytes.
    pub max_payload: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            clock_rate: 8000,
            frame_ms: 20,
            min_depth: 2,
            max_depth: 10,
            capacity: 32,
            max_payload: 1500,
        }
    }
}

/// Counters kept by the buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets offered to `push` (including rejected ones).
    pub received: u64,
    /// Packets that arrived after their playout slot had passed (including copies of frames
    /// already played).
    pub late: u64,
    /// Copies of packets still buffered.
    pub duplicate: u64,
    /// Frames reported as [`Playout::Lost`].
    pub lost: u64,
    /// Packets that arrived with a lower sequence number than one seen before.
    pub reordered: u64,
    /// Frames dropped to shrink latency, oversize payloads, or flushed by a stream reset.
    pub discarded: u64,
    /// Frames handed out as [`Playout::Frame`].
    pub played: u64,
    /// Sequence jumps beyond the reorder window that restarted the buffer.
    pub resets: u64,
}

/// What `push` did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Buffered for playout.
    Stored,
    /// Already buffered (or played): dropped.
    Duplicate,
    /// Its playout slot has passed: dropped.
    Late,
    /// Larger than `max_payload`: dropped.
    TooLarge,
    /// Sequence jumped beyond the window: the buffer restarted with this packet.
    Reset,
}

/// What to play for this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout<'a> {
    /// The next frame.
    Frame {
        /// RTP sequence number.
        seq: u16,
        /// RTP timestamp.
        timestamp: u32,
        /// Payload bytes.
        payload: &'a [u8],
    },
    /// The frame with this sequence number is missing: conceal it.
    Lost {
        /// RTP sequence number of the missing frame.
        seq: u16,
    },
    /// Nothing to play yet (initial fill or rebuffering after an underrun): play silence/comfort
    /// noise; no sequence number is consumed.
    Empty,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    ext: u64,
    timestamp: u32,
    len: u16,
    occupied: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Buffering,
    Playing,
}

/// Ticks without a late packet after which the late-driven depth bonus decays by one frame.
const LATE_DECAY_TICKS: u32 = 250;

/// The playout buffer (see the module docs).
pub struct JitterBuffer {
    cfg: JitterConfig,
    slots: Vec<Slot>,
    /// `capacity` slots of `slot_bytes` each.
    data: Vec<u8>,
    slot_bytes: usize,
    state: State,
    /// Extended sequence number to play next.
    next: Option<u64>,
    /// Highest extended sequence number received.
    highest: Option<u64>,
    buffered: usize,
    /// Whether playout has begun since construction or the last reset.
    started: bool,
    first_arrival: Option<Instant>,
    last_transit: Option<f64>,
    jitter: f64,
    late_bonus: usize,
    ticks_since_late: u32,
    target: usize,
    stats: JitterStats,
}

impl JitterBuffer {
    /// Builds a buffer; payload storage is allocated with the first packet (see the module docs).
    pub fn new(cfg: JitterConfig) -> Result<Self> {
        if cfg.min_depth == 0
            || cfg.min_depth > cfg.max_depth
            || cfg.capacity <= cfg.max_depth
            || cfg.max_payload == 0
            || cfg.max_payload > usize::from(u16::MAX)
            || cfg.clock_rate == 0
            || cfg.frame_ms == 0
        {
            return Err(CodecError::BadConfig(
                "jitter: need 0 < min_depth <= max_depth < capacity, 0 < max_payload <= 65535",
            ));
        }
        Ok(JitterBuffer {
            slots: vec![Slot::default(); cfg.capacity],
            data: Vec::new(),
            slot_bytes: 0,
            state: State::Buffering,
            next: None,
            highest: None,
            buffered: 0,
            started: false,
            first_arrival: None,
            last_transit: None,
            jitter: 0.0,
            late_bonus: 0,
            ticks_since_late: 0,
            target: cfg.min_depth,
            stats: JitterStats::default(),
            cfg,
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Current target depth in frames (within `min_depth..=max_depth`).
    pub fn target_depth(&self) -> usize {
        self.target
    }

    /// Packets currently buffered.
    pub fn len(&self) -> usize {
        self.buffered
    }

    /// True when no packet is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffered == 0
    }

    /// Interarrival jitter estimate (RFC 3550 §6.4.1) in RTP timestamp units.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    fn frame_units(&self) -> f64 {
        f64::from(self.cfg.clock_rate) * f64::from(self.cfg.frame_ms) / 1000.0
    }

    /// Extends a 16-bit sequence number to the one nearest the highest seen.
    fn extend(&self, seq: u16) -> u64 {
        let Some(h) = self.highest else {
            // Start well above zero so earlier (reordered) packets stay representable.
            return (1u64 << 32) + u64::from(seq);
        };
        let cand = (h & !0xFFFF) | u64::from(seq);
        [cand.wrapping_sub(1 << 16), cand, cand + (1 << 16)]
            .into_iter()
            .min_by_key(|&c| c.abs_diff(h))
            // The array is non-empty, so min_by_key always returns Some.
            .unwrap_or(cand)
    }

    fn update_jitter(&mut self, timestamp: u32, now: Instant) {
        let first = *self.first_arrival.get_or_insert(now);
        let arrival =
            now.saturating_duration_since(first).as_secs_f64() * f64::from(self.cfg.clock_rate);
        let transit = arrival - f64::from(timestamp);
        if let Some(last) = self.last_transit {
            let mut d = (transit - last).abs();
            // A timestamp wrap shows up as a 2^32 jump: fold it back.
            if d > f64::from(u32::MAX) / 2.0 {
                d = (d - 4_294_967_296.0).abs();
            }
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
        self.retarget();
    }

    fn retarget(&mut self) {
        let from_jitter = 1 + (3.0 * self.jitter / self.frame_units()).ceil().min(1e6) as usize;
        self.target = (from_jitter + self.late_bonus).clamp(self.cfg.min_depth, self.cfg.max_depth);
    }

    fn clear(&mut self) {
        for s in &mut self.slots {
            s.occupied = false;
        }
        self.buffered = 0;
        self.next = None;
        self.highest = None;
        self.started = false;
        // A new stream has a new timestamp origin: restart the transit-time reference.
        self.last_transit = None;
        self.state = State::Buffering;
    }

    /// Drops what is buffered and starts over with the next packet: the stream was replaced
    /// (a new SSRC), so its sequence numbers say nothing about the old ones.
    pub fn restart(&mut self) {
        self.stats.discarded += self.buffered as u64;
        self.stats.resets += 1;
        self.clear();
    }

    /// Re-lays the slab out with slots of at least `need` bytes (`need <= max_payload`),
    /// keeping what is buffered. Slots at least double, so a stream whose packets creep up
    /// byte by byte still re-lays it out only a few times.
    fn grow_slots(&mut self, need: usize) {
        let old = self.slot_bytes;
        let new = need.max(old * 2).min(self.cfg.max_payload);
        let mut data = vec![0; self.cfg.capacity * new];
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.occupied {
                let len = usize::from(slot.len);
                data[i * new..i * new + len].copy_from_slice(&self.data[i * old..i * old + len]);
            }
        }
        self.data = data;
        self.slot_bytes = new;
    }

    /// Offers one received packet (`now` is its arrival time).
    pub fn push(&mut self, seq: u16, timestamp: u32, payload: &[u8], now: Instant) -> PushOutcome {
        self.stats.received += 1;
        if payload.len() > self.cfg.max_payload {
            self.stats.discarded += 1;
            return PushOutcome::TooLarge;
        }
        let ext = self.extend(seq);
        let mut outcome = PushOutcome::Stored;
        if let Some(next) = self.next {
            if ext < next {
                if self.started {
                    self.stats.late += 1;
                    self.late_bonus = (self.late_bonus + 1).min(self.cfg.max_depth);
                    self.ticks_since_late = 0;
                    self.retarget();
                    return PushOutcome::Late;
                }
                // Nothing played yet: an earlier packet can still become the head, if it fits.
                if self
                    .highest
                    .is_some_and(|h| h - ext >= self.cfg.capacity as u64)
                {
                    self.stats.late += 1;
                    return PushOutcome::Late;
                }
                self.next = Some(ext);
            } else if ext - next >= self.cfg.capacity as u64 {
                // Far beyond the window: a new stream or a huge gap. Restart around it.
                self.stats.discarded += self.buffered as u64;
                self.stats.resets += 1;
                self.clear();
                outcome = PushOutcome::Reset;
            }
        }
        let ext = if outcome == PushOutcome::Reset {
            self.extend(seq)
        } else {
            ext
        };
        let idx = (ext % self.cfg.capacity as u64) as usize;
        if self.slots[idx].occupied && self.slots[idx].ext == ext {
            self.stats.duplicate += 1;
            return PushOutcome::Duplicate;
        }
        if self.highest.is_some_and(|h| ext < h) {
            self.stats.reordered += 1;
        }
        if payload.len() > self.slot_bytes {
            self.grow_slots(payload.len());
        }
        let slot = &mut self.slots[idx];
        if !slot.occupied {
            self.buffered += 1;
        }
        let start = idx * self.slot_bytes;
        self.data[start..start + payload.len()].copy_from_slice(payload);
        // payload.len() <= max_payload <= u16::MAX, checked above and in new().
        *slot = Slot {
            ext,
            timestamp,
            len: payload.len() as u16,
            occupied: true,
        };
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        if self.next.is_none() {
            self.next = Some(ext);
        }
        self.update_jitter(timestamp, now);
        outcome
    }

    /// Called once per frame tick: returns what to play now.
    pub fn pop(&mut self) -> Playout<'_> {
        self.ticks_since_late = self.ticks_since_late.saturating_add(1);
        if self.ticks_since_late >= LATE_DECAY_TICKS && self.late_bonus > 0 {
            self.late_bonus -= 1;
            self.ticks_since_late = 0;
            self.retarget();
        }
        let (Some(mut next), Some(highest)) = (self.next, self.highest) else {
            return Playout::Empty;
        };
        let span = (highest + 1).saturating_sub(next) as usize;
        match self.state {
            State::Buffering if span >= self.target => {
                self.state = State::Playing;
                self.started = true;
            }
            State::Buffering => return Playout::Empty,
            State::Playing if self.buffered == 0 => {
                // Underrun: rebuffer to the target depth; the playout point waits.
                self.state = State::Buffering;
                return Playout::Empty;
            }
            State::Playing => {}
        }
        if span > self.target + 2 {
            // Too much latency: drop the head frame (one per tick, gently).
            let idx = (next % self.cfg.capacity as u64) as usize;
            if self.slots[idx].occupied && self.slots[idx].ext == next {
                self.slots[idx].occupied = false;
                self.buffered -= 1;
                self.stats.discarded += 1;
            }
            next += 1;
        }
        self.next = Some(next + 1);
        let seq = (next & 0xFFFF) as u16;
        let idx = (next % self.cfg.capacity as u64) as usize;
        let slot = self.slots[idx];
        if slot.occupied && slot.ext == next {
            self.slots[idx].occupied = false;
            self.buffered -= 1;
            self.stats.played += 1;
            let start = idx * self.slot_bytes;
            Playout::Frame {
                seq,
                timestamp: slot.timestamp,
                payload: &self.data[start..start + usize::from(slot.len)],
            }
        } else {
            self.stats.lost += 1;
            Playout::Lost { seq }
        }
    }
}

impl std::fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("state", &self.state)
            .field("next", &self.next)
            .field("buffered", &self.buffered)
            .field("target", &self.target)
            .field("stats", &self.stats)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn cfg() -> JitterConfig {
        JitterConfig {
            min_depth: 2,
            max_depth: 6,
            capacity: 16,
            max_payload: 8,
            ..Default::default()
        }
    }

    fn drain(jb: &mut JitterBuffer, n: usize) -> Vec<Option<u16>> {
        (0..n)
            .filter_map(|_| match jb.pop() {
                Playout::Frame { seq, payload, .. } => {
                    assert_eq!(payload, &seq.to_be_bytes());
                    Some(Some(seq))
                }
                Playout::Lost { .. } => Some(None),
                Playout::Empty => None,
            })
            .collect()
    }

    #[test]
    fn reorders_drops_duplicates_and_reports_loss_across_wrap() {
        let mut jb = JitterBuffer::new(cfg()).unwrap();
        let t0 = Instant::now();
        // Arrivals per 20 ms tick; 65534 comes after 65535 and twice; 1 never comes.
        let ticks: [&[u16]; 6] = [&[65533], &[65535, 65534, 65534], &[0], &[2], &[3], &[4]];
        let mut played = Vec::new();
        for (i, arrivals) in ticks.iter().enumerate() {
            let now = t0 + Duration::from_millis(20 * i as u64);
            for &s in *arrivals {
                let ts = u32::from(s.wrapping_sub(65533)) * 160;
                jb.push(s, ts, &s.to_be_bytes(), now);
            }
            played.extend(drain(&mut jb, 1));
        }
        played.extend(drain(&mut jb, 5));
        assert_eq!(
            played,
            [
                Some(65533),
                Some(65534),
                Some(65535),
                Some(0),
                None,
                Some(2),
                Some(3),
                Some(4)
            ]
        );
        let st = jb.stats();
        assert_eq!(
            (st.received, st.duplicate, st.reordered, st.lost, st.played),
            (8, 1, 1, 1, 7)
        );
        // Seq 1 arriving now is late.
        assert_eq!(jb.push(1, 4 * 160, &[0, 1], t0), PushOutcome::Late);
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn slots_grow_to_larger_payloads_and_keep_what_is_buffered() {
        let mut jb = JitterBuffer::new(JitterConfig {
            max_payload: 480,
            ..cfg()
        })
        .unwrap();
        let t0 = Instant::now();
        let small = [7u8; 160];
        let large = [9u8; 480];
        assert_eq!(jb.push(10, 0, &small, t0), PushOutcome::Stored);
        assert_eq!(jb.slot_bytes, 160);
        assert_eq!(jb.push(11, 160, &large, t0), PushOutcome::Stored);
        assert_eq!(jb.slot_bytes, 480);
        assert_eq!(jb.push(12, 320, &[0; 481], t0), PushOutcome::TooLarge);
        let mut played = Vec::new();
        for _ in 0..4 {
            if let Playout::Frame { payload, .. } = jb.pop() {
                played.push(payload.to_vec());
            }
        }
        assert_eq!(played, [small.to_vec(), large.to_vec()]);
    }

    #[test]
    fn a_restart_lets_a_new_stream_with_lower_numbers_play() {
        let mut jb = JitterBuffer::new(cfg()).unwrap();
        let t0 = Instant::now();
        for (i, s) in (1000u16..1004).enumerate() {
            jb.push(s, u32::from(s) * 160, &s.to_be_bytes(), t0);
            if i > 0 {
                drain(&mut jb, 1);
            }
        }
        // Without a restart, a new source numbering from 200 would be "late" for good.
        assert_eq!(
            jb.push(200, 0, &200u16.to_be_bytes(), t0),
            PushOutcome::Late
        );
        jb.restart();
        for s in 200u16..204 {
            assert_eq!(jb.push(s, 0, &s.to_be_bytes(), t0), PushOutcome::Stored);
        }
        assert_eq!(
            drain(&mut jb, 4),
            [Some(200), Some(201), Some(202), Some(203)]
        );
        assert_eq!(jb.stats().resets, 1);
    }

    #[test]
    fn waits_for_target_depth_then_plays() {
        let mut jb = JitterBuffer::new(cfg()).unwrap();
        let t0 = Instant::now();
        assert_eq!(jb.pop(), Playout::Empty);
        jb.push(10, 0, &10u16.to_be_bytes(), t0);
        assert_eq!(jb.pop(), Playout::Empty, "below min depth 2");
        jb.push(
            11,
            160,
            &11u16.to_be_bytes(),
            t0 + Duration::from_millis(20),
        );
        assert!(matches!(jb.pop(), Playout::Frame { seq: 10, .. }));
        assert!(matches!(jb.pop(), Playout::Frame { seq: 11, .. }));
        // Underrun: Empty, and the buffer waits for the next packet rather than counting loss.
        assert_eq!(jb.pop(), Playout::Empty);
        assert_eq!(jb.stats().lost, 0);
        assert_eq!(
            jb.push(9000, 160 * 8990, &[0; 9], t0),
            PushOutcome::TooLarge
        );
        // A huge jump resets.
        assert_eq!(
            jb.push(9000, 0, &9000u16.to_be_bytes(), t0),
            PushOutcome::Reset
        );
    }

    #[test]
    fn depth_adapts_to_jitter_within_bounds() {
        let mut jb = JitterBuffer::new(cfg()).unwrap();
        let t0 = Instant::now();
        // Steady arrivals: minimum depth.
        for i in 0..50u16 {
            jb.push(
                i,
                u32::from(i) * 160,
                &i.to_be_bytes(),
                t0 + Duration::from_millis(20 * u64::from(i)),
            );
            let _ = jb.pop();
        }
        assert_eq!(jb.target_depth(), 2);
        // Arrivals jittered by ±30 ms: depth grows, but not above max.
        for i in 50..300u16 {
            let wobble = if i % 2 == 0 { 0 } else { 60 };
            let at = t0 + Duration::from_millis(20 * u64::from(i) + wobble);
            jb.push(i, u32::from(i) * 160, &i.to_be_bytes(), at);
            let _ = jb.pop();
        }
        assert!(
            jb.target_depth() > 2 && jb.target_depth() <= 6,
            "{}",
            jb.target_depth()
        );
    }

    #[test]
    fn bad_config() {
        assert!(JitterBuffer::new(JitterConfig {
            min_depth: 0,
            ..cfg()
        })
        .is_err());
        assert!(JitterBuffer::new(JitterConfig {
            capacity: 6,
            ..cfg()
        })
        .is_err());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u16, u16),
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u16>(), 0u16..40).prop_map(|(base, delta)| Op::Push(base, delta)),
            Just(Op::Pop),
        ]
    }

    proptest! {
        /// Arbitrary pushes (mostly near a moving sequence, some anywhere) and pops: no panic,
        /// every frame played carries its own payload, no sequence is played twice in a row
        /// of monotone playout, depth stays within bounds, counters add up.
        #[test]
        fn arbitrary_sequences(ops in proptest::collection::vec(op(), 0..400), wild in any::<bool>()) {
            let c = cfg();
            let mut jb = JitterBuffer::new(c).unwrap();
            let t0 = Instant::now();
            let mut base: u16 = 65500;
            let mut last_played: Option<u16> = None;
            let mut resets = 0;
            for (i, o) in ops.into_iter().enumerate() {
                if jb.stats().resets != resets {
                    resets = jb.stats().resets;
                    last_played = None;
                }
                let now = t0 + Duration::from_millis(i as u64 * 7);
                match o {
                    Op::Push(any_seq, delta) => {
                        let seq = if wild && delta == 0 { any_seq } else { base.wrapping_add(delta) };
                        if delta % 3 == 0 { base = base.wrapping_add(1); }
                        jb.push(seq, u32::from(seq) * 160, &seq.to_be_bytes(), now);
                    }
                    Op::Pop => match jb.pop() {
                        Playout::Frame { seq, payload, timestamp } => {
                            prop_assert_eq!(payload, &seq.to_be_bytes());
                            prop_assert_eq!(timestamp, u32::from(seq) * 160);
                            if let (Some(l), false) = (last_played, wild) {
                                prop_assert!(seq.wrapping_sub(l) as i16 > 0, "{} after {}", seq, l);
                            }
                            last_played = Some(seq);
                        }
                        Playout::Lost { seq } => {
                            if let (Some(l), false) = (last_played, wild) {
                                prop_assert!(seq.wrapping_sub(l) as i16 > 0);
                            }
                            last_played = Some(seq);
                        }
                        Playout::Empty => {}
                    },
                }
                prop_assert!(jb.target_depth() >= c.min_depth && jb.target_depth() <= c.max_depth);
                prop_assert!(jb.len() <= c.capacity);
                let s = jb.stats();
                prop_assert!(s.played + s.duplicate + s.late + s.discarded + jb.len() as u64 <= s.received + s.discarded);
            }
        }
    }
}
