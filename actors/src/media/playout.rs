//! The outgoing audio queue of an RTP leg: encoded frames waiting for their 20 ms tick, and the
//! marks placed between them.
//!
//! Storage is one slab of fixed-size slots allocated at construction, so queueing a frame costs
//! a copy and no allocation. When the queue is full the *newest* frame (the one being pushed) is
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

/// A bounded, preallocated FIFO of encoded frames with marks between them.
pub struct PlayoutQueue {
    slot_bytes: usize,
    data: Box<[u8]>,
    lens: Box<[u16]>,
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
    /// 65535); all storage is allocated here.
    pub fn new(capacity: usize, slot_bytes: usize) -> Self {
        let capacity = capacity.max(1);
        let slot_bytes = slot_bytes.clamp(1, usize::from(u16::MAX));
        Self {
            slot_bytes,
            data: vec![0; capacity * slot_bytes].into_boxed_slice(),
            lens: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
            pushed: 0,
            consumed: 0,
            marks: VecDeque::with_capacity(8),
        }
    }

    /// Frames the queue can hold.
    pub fn capacity(&self) -> usize {
        self.lens.len()
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
        if self.len == self.capacity() {
            return Err(PushError::Full);
        }
        let slot = (self.head + self.len) % self.capacity();
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
        self.head = (self.head + 1) % self.capacity();
        self.len -= 1;
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
            .field("capacity", &self.capacity())
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
