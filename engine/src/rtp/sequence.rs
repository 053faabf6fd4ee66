//! Sequence-number validation for one remote source (RFC 3550 appendix A.1): probation of a new
//! source, 32-bit extended sequence numbers across wrap-around, large-jump resynchronisation,
//! and our addition of duplicate detection over a 128-packet window.

/// Largest forward jump still treated as loss rather than a restart (RFC 3550 A.1).
const MAX_DROPOUT: u16 = 3000;
/// Largest backward jump treated as reordering rather than a restart (RFC 3550 A.1).
const MAX_MISORDER: u16 = 100;
/// How many packets behind the highest one duplicates are detected.
const DUP_WINDOW: u32 = 128;
const _: () = assert!(DUP_WINDOW > MAX_MISORDER as u32);

/// What one packet's sequence number meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqUpdate {
    /// In order or ahead (possibly after a gap); `extended` is the new highest sequence.
    InOrder {
        /// 32-bit extended sequence number of this packet.
        extended: u32,
    },
    /// Behind the highest sequence seen, not seen before: reordered but usable.
    Late {
        /// 32-bit extended sequence number of this packet.
        extended: u32,
    },
    /// Seen before (within the detection window): drop it.
    Duplicate,
    /// The source is still on probation; the packet is not yet valid.
    Probation,
    /// A jump too large to be loss; dropped unless the next packet confirms it.
    BadJump,
    /// A confirmed large jump: the source restarted its numbering and statistics were reset.
    Restarted {
        /// 32-bit extended sequence number of this packet.
        extended: u32,
    },
}

impl SeqUpdate {
    /// Whether the packet should be passed on (in order, late or after a restart).
    pub fn is_valid(self) -> bool {
        matches!(
            self,
            Self::InOrder { .. } | Self::Late { .. } | Self::Restarted { .. }
        )
    }
}

/// RFC 3550 A.1 state for one SSRC, with the counters A.3 needs.
#[derive(Debug, Clone)]
pub struct SequenceTracker {
    max_seq: u16,
    /// Shifted count of wrap-arounds (a multiple of 65536, wrapping at 2^32 as in A.1).
    cycles: u32,
    base_seq: u32,
    /// Sequence that would confirm a large jump (`u32` so that "none" is out of u16 range).
    bad_seq: u32,
    probation: u16,
    min_sequential: u16,
    received: u32,
    late: u64,
    duplicates: u64,
    /// Bit `k` set ⇔ extended sequence `highest - k` was received.
    seen: u128,
}

impl SequenceTracker {
    /// Starts tracking a source first heard with `seq`; it becomes valid after `min_sequential`
    /// consecutive packets (RFC 3550 suggests 2; 1 accepts the first packet at once).
    pub fn new(seq: u16, min_sequential: u16) -> Self {
        let min_sequential = min_sequential.max(1);
        // A.1: init_seq(seq), then max_seq = seq - 1 so that `seq` itself counts as sequential.
        Self {
            max_seq: seq.wrapping_sub(1),
            cycles: 0,
            base_seq: u32::from(seq),
            bad_seq: u32::from(u16::MAX) + 2,
            probation: min_sequential,
            min_sequential,
            received: 0,
            late: 0,
            duplicates: 0,
            seen: 0,
        }
    }

    fn init(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = u32::from(u16::MAX) + 2;
        self.cycles = 0;
        self.received = 0;
        self.seen = 0;
    }

    /// Feeds one packet's sequence number.
    pub fn update(&mut self, seq: u16) -> SeqUpdate {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init(seq);
                    self.accept_highest(0);
                    return SeqUpdate::InOrder {
                        extended: self.extended_max(),
                    };
                }
            } else {
                self.probation = self.min_sequential - 1;
                self.max_seq = seq;
            }
            return SeqUpdate::Probation;
        }
        if udelta == 0 {
            self.duplicates += 1;
            return SeqUpdate::Duplicate;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
            self.accept_highest(u32::from(udelta));
            SeqUpdate::InOrder {
                extended: self.extended_max(),
            }
        } else if udelta <= u16::MAX - MAX_MISORDER + 1 {
            // RFC 3550: "udelta <= RTP_SEQ_MOD - MAX_MISORDER" with RTP_SEQ_MOD = 65536.
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after the jump: the sender restarted.
                self.init(seq);
                self.accept_highest(0);
                SeqUpdate::Restarted {
                    extended: self.extended_max(),
                }
            } else {
                self.bad_seq = u32::from(seq.wrapping_add(1));
                SeqUpdate::BadJump
            }
        } else {
            let back = u32::from(self.max_seq.wrapping_sub(seq));
            if back < DUP_WINDOW {
                let bit = 1u128 << back;
                if self.seen & bit != 0 {
                    self.duplicates += 1;
                    return SeqUpdate::Duplicate;
                }
                self.seen |= bit;
            }
            self.received = self.received.wrapping_add(1);
            self.late += 1;
            SeqUpdate::Late {
                extended: self.extended_max().wrapping_sub(back),
            }
        }
    }

    fn accept_highest(&mut self, advance: u32) {
        self.seen = if advance >= DUP_WINDOW {
            0
        } else {
            self.seen << advance
        };
        self.seen |= 1;
        self.received = self.received.wrapping_add(1);
    }

    /// Whether the source passed probation.
    pub fn is_valid(&self) -> bool {
        self.probation == 0
    }

    /// Highest extended sequence number received (cycles + max_seq).
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected since the source became valid (A.3).
    pub fn expected(&self) -> u32 {
        if !self.is_valid() {
            return 0;
        }
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Valid packets received (in order, late, restarted; not duplicates or probation).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Cumulative packets lost (A.3), negative when more arrived than expected.
    pub fn lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    /// Packets that arrived after a higher sequence number.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Packets dropped as duplicates.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(start: u16) -> SequenceTracker {
        let mut t = SequenceTracker::new(start, 2);
        assert_eq!(t.update(start), SeqUpdate::Probation);
        assert!(t.update(start.wrapping_add(1)).is_valid());
        t
    }

    #[test]
    fn probation_needs_two_sequential_packets() {
        let mut t = SequenceTracker::new(100, 2);
        assert_eq!(t.update(100), SeqUpdate::Probation);
        assert_eq!(t.update(105), SeqUpdate::Probation); // not sequential: restarts probation
        assert_eq!(t.update(106), SeqUpdate::InOrder { extended: 106 });
        assert!(t.is_valid());
        assert_eq!(t.expected(), 1);
        assert_eq!(t.received(), 1);
    }

    #[test]
    fn min_sequential_one_accepts_the_first_packet() {
        let mut t = SequenceTracker::new(7, 1);
        assert_eq!(t.update(7), SeqUpdate::InOrder { extended: 7 });
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn loss_across_wrap_around() {
        let mut t = valid(65530); // valid at 65531
        for s in [65532u16, 65533, 65535, 0, 1, 3] {
            assert!(matches!(t.update(s), SeqUpdate::InOrder { .. }));
        }
        // 65534 and 2 were lost.
        assert_eq!(t.extended_max(), 65536 + 3);
        assert_eq!(t.expected(), 65536 + 3 - 65531 + 1);
        assert_eq!(t.received(), 7);
        assert_eq!(t.lost(), 2);
    }

    #[test]
    fn reordering_is_late_not_lost_and_duplicates_are_dropped() {
        let mut t = valid(10); // valid at 11
        assert_eq!(t.update(13), SeqUpdate::InOrder { extended: 13 });
        assert_eq!(t.lost(), 1);
        assert_eq!(t.update(12), SeqUpdate::Late { extended: 12 });
        assert_eq!(t.lost(), 0);
        assert_eq!(t.update(12), SeqUpdate::Duplicate);
        assert_eq!(t.update(13), SeqUpdate::Duplicate);
        assert_eq!(t.late(), 1);
        assert_eq!(t.duplicates(), 2);
        assert_eq!(t.received(), 3);
    }

    #[test]
    fn late_packet_from_previous_cycle_gets_lower_extended_seq() {
        let mut t = valid(65533); // valid at 65534
        assert!(t.update(1).is_valid()); // 65535 and 0 missing, wrapped
        assert_eq!(t.extended_max(), 65537);
        assert_eq!(t.update(65535), SeqUpdate::Late { extended: 65535 });
        assert_eq!(t.update(0), SeqUpdate::Late { extended: 65536 });
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn large_jump_needs_confirmation_then_restarts() {
        let mut t = valid(1000);
        assert_eq!(t.update(30000), SeqUpdate::BadJump);
        assert_eq!(t.update(30001), SeqUpdate::Restarted { extended: 30001 });
        assert_eq!(t.expected(), 1);
        assert_eq!(t.update(30002), SeqUpdate::InOrder { extended: 30002 });
        // A single stray jump is ignored.
        assert_eq!(t.update(5), SeqUpdate::BadJump);
        assert_eq!(t.update(30003), SeqUpdate::InOrder { extended: 30003 });
    }

    #[test]
    fn every_late_packet_falls_inside_the_duplicate_window() {
        // Late means at most MAX_MISORDER behind, and the window is wider than that.
        let mut t = valid(0); // valid at 1
        assert!(t.update(200).is_valid());
        assert_eq!(t.update(101), SeqUpdate::Late { extended: 101 });
        assert_eq!(t.update(101), SeqUpdate::Duplicate);
        assert_eq!(t.update(99), SeqUpdate::BadJump); // 101 behind: treated as a jump
    }
}
