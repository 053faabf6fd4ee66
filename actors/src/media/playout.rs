//! The outgoing audio queue of an RTP leg: encoded frames waiting for their 20 ms tick, and the
//! marks placed between them.
//!
//! Storage is one slab of fixed-size slots, so queueing a frame costs a copy. The slab starts
//! at [`INITIAL_SLOTS`] frames and doubles, up to the queue's capacity, only when a bot queues
//! more than it holds: most calls never queue more than a few frames (an echo, a streamed
//! reply), and a 10 s queue allocated up front was half of a call's memory (80 KiB of 165 KiB
//! per G.711 call, heaptrack). Growth happens at most log2(capacity / 16) times in a call's life
//! and never on the steady path, so frames still cost no allocation once the queue is as deep as
//! the bot's bursts. A queue that grew goes back to [`INITIAL_SLOTS`] when it has played out
//! (at the next push into the empty queue): the demo greeting (33 frames queued at once) grew
//! every call's queue to 64 slots and kept them for the whole call (heaptrack: 8 KiB per call). When the queue is full the *newest* frame (the one being pushed) is
//! refused and counted: what is already queued keeps playing without a hole, and a bot that
//! streams faster than real time for more than the queue's length loses its tail rather than
//! the audio the caller is about to hear.
//!
//! Marks are positions in the stream of frames: a mark placed after `n` frames were ever queued
//! is played once `n` frames were consumed (played, discarded on hold, or cleared).

use std::collections::VecDeque;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds its capacity of frames.
    Full,
    /// The frame is larger than a slot.
    TooLarge,
}

/// Slots allocated when a queue is made (320 ms of 20 ms frames).
pub(crate) const INITIAL_SLOTS: usize = 16;

/// A bounded FIFO of encoded frames with marks between them, growing its slab on demand.
pub struct PlayoutQueue {
    slot_bytes: usize,
    /// Most frames queued at once.
    capacity: usize,
    /// `lens.len()` slots of `slot_bytes` each.
    data: Vec<u8>,
    lens: Vec<u16>,
    /// Slot of the oldest frame.
    head: usize,
    /// Frames queued.
    len: usize,
    /// Frames ever accepted.
    pushed: u64,
    /// Frames ever taken out (played, discarded or cleared).
    consumed: u64,
    /// Pending marks with the `pushed` count they follow.
    marks: VecDeque<(u64, String)>,
}

impl PlayoutQueue {
    /// A queue of `capacity` frames (at least 1) of up to `slot_bytes` bytes each (at most
    /// 65535); room for [`INITIAL_SLOTS`] of them is allocated here, more when needed.
    pub fn new(capacity: usize, slot_bytes: usize) -> Self {
        let capacity = capacity.max(1);
        let slot_bytes = slot_bytes.clamp(1, usize::from(u16::MAX));
        let slots = capacity.min(INITIAL_SLOTS);
        Self {
            slot_bytes,
            capacity,
            data: vec![0; slots * slot_bytes],
            lens: vec![0; slots],
            head: 0,
            len: 0,
            pushed: 0,
            consumed: 0,
            marks: VecDeque::with_capacity(8),
        }
    }

    /// Frames the queue can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Frames the queue has room for without growing.
    pub fn allocated(&self) -> usize {
        self.lens.len()
    }

    /// Doubles the slab (up to the capacity), the queued frames moved to its start in order.
    fn grow(&mut self) {
        let old = self.lens.len();
        let slots = (old * 2).min(self.capacity);
        let mut data = vec![0; slots * self.slot_bytes];
        let mut lens = vec![0; slots];
        for (i, len) in lens.iter_mut().enumerate().take(self.len) {
            let from = (self.head + i) % old;
            let src = from * self.slot_bytes;
            let dst = i * self.slot_bytes;
            data[dst..dst + self.slot_bytes]
                .copy_from_slice(&self.data[src..src + self.slot_bytes]);
            *len = self.lens[from];
        }
        self.data = data;
        self.lens = lens;
        self.head = 0;
    }

    /// Largest frame a slot holds, in bytes.
    pub fn slot_bytes(&self) -> usize {
        self.slot_bytes
    }

    /// Frames queued now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no frame is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Marks not yet played.
    pub fn pending_marks(&self) -> usize {
        self.marks.len()
    }

    /// Queues a copy of `frame` behind the frames queued so far.
    pub fn push(&mut self, frame: &[u8]) -> Result<(), PushError> {
        if frame.len() > self.slot_bytes {
            return Err(PushError::TooLarge);
        }
        if self.len == self.capacity {
            return Err(PushError::Full);
        }
        if self.len == 0 && self.lens.len() > INITIAL_SLOTS {
            // The burst that grew the queue has played out: give the room back.
            self.data = vec![0; INITIAL_SLOTS * self.slot_bytes];
            self.lens = vec![0; INITIAL_SLOTS];
            self.head = 0;
        } else if self.len == self.lens.len() {
            self.grow();
        }
        let slot = (self.head + self.len) % self.lens.len();
        let start = slot * self.slot_bytes;
        self.data[start..start + frame.len()].copy_from_slice(frame);
        // frame.len() <= slot_bytes <= u16::MAX, checked above and in new().
        self.lens[slot] = frame.len() as u16;
        self.len += 1;
        self.pushed += 1;
        Ok(())
    }

    /// Takes the oldest frame out; its bytes stay valid until the next mutation.
    pub fn pop(&mut self) -> Option<&[u8]> {
        if self.len == 0 {
            return None;
        }
        let slot = self.head;
        self.len -= 1;
        // Emptied: start again at the first slot, so a queue holding about one frame at a time
        // (an echo, a live stream) reuses that slot's memory, warm in the cache, instead of
        // walking through all of them.
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + 1) % self.lens.len()
        };
        self.consumed += 1;
        let start = slot * self.slot_bytes;
        Some(&self.data[start..start + usize::from(self.lens[slot])])
    }

    /// Places a mark after the frames queued so far. Returns it back when nothing is queued
    /// (it is played at once) and no earlier mark is still waiting to be drained.
    pub fn mark(&mut self, name: String) -> Option<String> {
        if self.len == 0 && self.marks.is_empty() {
            return Some(name);
        }
        self.marks.push_back((self.pushed, name));
        None
    }

    /// The next mark whose frames have all been consumed, if any; call until `None`.
    pub fn pop_played_mark(&mut self) -> Option<String> {
        match self.marks.front() {
            Some((position, _)) if *position <= self.consumed => {
                self.marks.pop_front().map(|(_, name)| name)
            }
            _ => None,
        }
    }

    /// Drops every queued frame now; the pending marks become played (drain them with
    /// [`pop_played_mark`](Self::pop_played_mark)). Returns how many frames were dropped.
    pub fn clear(&mut self) -> usize {
        let dropped = self.len;
        self.consumed += dropped as u64;
        self.head = 0;
        self.len = 0;
        dropped
    }
}

impl std::fmt::Debug for PlayoutQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayoutQueue")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .field("allocated", &self.lens.len())
            .field("slot_bytes", &self.slot_bytes)
            .field("pending_marks", &self.marks.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_wrap() {
        let mut q = PlayoutQueue::new(3, 4);
        for round in 0u8..5 {
            q.push(&[round, 1]).unwrap();
            q.push(&[round, 2, 2]).unwrap();
            assert_eq!(q.pop(), Some(&[round, 1][..]));
            assert_eq!(q.pop(), Some(&[round, 2, 2][..]));
            assert_eq!(q.pop(), None);
        }
        // Never emptied: the frames walk around the slots.
        q.push(&[9]).unwrap();
        for round in 0u8..7 {
            q.push(&[round]).unwrap();
            assert_eq!(q.pop(), Some(&[if round == 0 { 9 } else { round - 1 }][..]));
        }
        assert_eq!(q.pop(), Some(&[6][..]));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn an_emptied_queue_starts_again_at_the_first_slot() {
        let mut q = PlayoutQueue::new(8, 4);
        for round in 0u8..20 {
            q.push(&[round]).unwrap();
            assert_eq!(q.pop(), Some(&[round][..]));
            assert_eq!(q.head, 0, "one frame at a time reuses slot 0");
        }
        q.push(&[1]).unwrap();
        q.push(&[2]).unwrap();
        assert_eq!(q.pop(), Some(&[1][..]));
        assert_eq!(q.head, 1);
        assert_eq!(q.pop(), Some(&[2][..]));
        assert_eq!(q.head, 0);
    }

    #[test]
    fn full_refuses_newest_and_oversize() {
        let mut q = PlayoutQueue::new(2, 2);
        assert_eq!(q.push(&[1, 2, 3]), Err(PushError::TooLarge));
        q.push(&[1]).unwrap();
        q.push(&[2]).unwrap();
        assert_eq!(q.push(&[3]), Err(PushError::Full));
        assert_eq!(q.pop(), Some(&[1][..]));
        assert_eq!(q.pop(), Some(&[2][..]));
    }

    #[test]
    fn grows_on_demand_keeping_order_up_to_capacity() {
        let mut q = PlayoutQueue::new(100, 2);
        assert_eq!(q.allocated(), INITIAL_SLOTS);
        // Wrap the initial slab first, so growth has to unroll a ring.
        for i in 0..10u8 {
            q.push(&[i, i]).unwrap();
            q.pop();
        }
        for i in 0..100u8 {
            q.push(&[i, 0]).unwrap();
        }
        assert_eq!(q.push(&[0]), Err(PushError::Full));
        assert_eq!(q.allocated(), 100);
        for i in 0..100u8 {
            assert_eq!(q.pop(), Some(&[i, 0][..]));
        }
        assert_eq!(q.pop(), None);
        // Played out, it shrinks back at the next push.
        q.push(&[1, 2]).unwrap();
        assert_eq!(q.allocated(), INITIAL_SLOTS);
        assert_eq!(q.pop(), Some(&[1, 2][..]));
        // A queue kept shallow never grows.
        let mut q = PlayoutQueue::new(500, 160);
        for _ in 0..1000 {
            for _ in 0..4 {
                q.push(&[7; 160]).unwrap();
            }
            while q.pop().is_some() {}
        }
        assert_eq!(q.allocated(), INITIAL_SLOTS);
    }

    #[test]
    fn marks_follow_their_frames() {
        let mut q = PlayoutQueue::new(8, 1);
        assert_eq!(q.mark("empty".into()), Some("empty".into()));
        q.push(&[1]).unwrap();
        q.push(&[2]).unwrap();
        assert_eq!(q.mark("a".into()), None);
        q.push(&[3]).unwrap();
        assert_eq!(q.mark("b".into()), None);
        q.pop();
        assert_eq!(q.pop_played_mark(), None);
        q.pop();
        assert_eq!(q.pop_played_mark(), Some("a".into()));
        assert_eq!(q.pop_played_mark(), None);
        q.pop();
        assert_eq!(q.pop_played_mark(), Some("b".into()));
    }

    #[test]
    fn clear_plays_pending_marks() {
        let mut q = PlayoutQueue::new(8, 1);
        q.push(&[1]).unwrap();
        q.mark("a".into());
        q.push(&[2]).unwrap();
        q.mark("b".into());
        assert_eq!(q.clear(), 2);
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
        assert_eq!(q.pop_played_mark(), Some("a".into()));
        assert_eq!(q.pop_played_mark(), Some("b".into()));
        q.push(&[9]).unwrap();
        assert_eq!(q.pop(), Some(&[9][..]));
    }
}
