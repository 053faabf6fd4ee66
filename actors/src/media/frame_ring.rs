//! [`FrameRing`]: a bounded ring of fixed-size audio frames between two legs of one call, the
//! escape hatch ARCHITECTURE §2 sanctions when actor envelopes are the cost (control stays on
//! messages).
//!
//! The RTP leg and the builtin bot speaking the caller's own G.711 law exchange whole 20 ms
//! frames through two rings instead of an `AudioFrame`/`Downstream` message each: the leg
//! pushes the caller's frame on its tick and the push wakes the bot's reader task (no envelope,
//! no mailbox); the bot's echo goes into the return ring, which the leg drains on its next tick
//! without being woken at all. The slots are allocated once, sized to the format's frame, and a
//! push copies only the frame's bytes; a full ring refuses the frame (the producer counts the
//! drop, as it would for a full mailbox). Both ends live on the call's arbiter, so the lock is
//! never contended; it only makes the ring `Send` like the actors holding it.
//!
//! A consumer whose answer to every frame is that frame (the builtin bot's echo) can say so
//! once instead of handling each: [`FrameRing::reflect_into`] makes the ring copy each pushed
//! frame straight into the return ring (an empty one, a lost frame, as the given filler), with
//! no wake of the consumer at all. The consumer switches it off when it has other things to say.
//!
//! A bot that sends marks (the WebSocket bot) puts them in the return ring between its frames
//! ([`FrameRing::push_mark`]), so a mark is applied after exactly the frames pushed before it:
//! a mark sent on a message beside the ring could be overtaken by frames pushed after it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};

use actix::fut::ActorFuture;
use actix::{Actor, Context};

use voxgate_codecs::AudioFormat;

/// Why a frame was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The ring is full: the consumer is behind; the frame is dropped (count it).
    Full,
    /// The consumer is gone (the call is ending, or the bot was detached): nothing to count.
    Closed,
    /// The frame is longer than a slot.
    TooLong,
}

/// What [`FrameRing::pop_entry_with`] hands over: a frame's bytes (empty: a lost frame) or a
/// mark pushed between frames.
#[derive(Debug, PartialEq, Eq)]
pub enum RingEntry<'a> {
    /// A frame, in the ring's format.
    Frame(&'a [u8]),
    /// A mark: every frame pushed before it has been handed over.
    Mark(String),
}

/// The slot length that stands for a mark (slots are at most one byte shorter).
const MARK_SLOT: u16 = u16::MAX;

/// A bounded single-format frame ring; see the module documentation.
#[derive(Debug)]
pub struct FrameRing {
    format: AudioFormat,
    slot_bytes: usize,
    inner: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    /// `capacity` slots of `slot_bytes` each, back to back.
    bytes: Box<[u8]>,
    lens: Box<[u16]>,
    /// The names of the marks in the ring (slots of length [`MARK_SLOT`]), oldest first.
    marks: VecDeque<String>,
    /// Index of the oldest frame.
    head: usize,
    len: usize,
    /// The consumer's task, woken by the next push.
    waker: Option<Waker>,
    closed: bool,
    /// Set by [`FrameRing::reflect_into`]: where pushed frames go instead, and what an empty
    /// frame becomes.
    reflect: Option<(Arc<FrameRing>, Box<[u8]>)>,
}

impl Ring {
    /// The slot after the newest entry; `None` when the ring is full.
    fn free_slot(&self) -> Option<usize> {
        let capacity = self.lens.len();
        (self.len < capacity).then(|| (self.head + self.len) % capacity)
    }

    /// Makes `slot` (from [`Ring::free_slot`], its bytes written) the newest entry, of `len`
    /// bytes or a mark, and wakes the consumer if it waits. The waker runs under the lock,
    /// which it does not take: it only schedules the consumer's task.
    fn fill(&mut self, slot: usize, len: u16) {
        self.lens[slot] = len;
        self.len += 1;
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl FrameRing {
    /// A ring of `capacity` frames of `format`, each at most `slot_bytes` long.
    pub fn new(format: AudioFormat, slot_bytes: usize, capacity: usize) -> Arc<Self> {
        let capacity = capacity.max(1);
        let slot_bytes = slot_bytes.clamp(1, usize::from(MARK_SLOT - 1));
        Arc::new(FrameRing {
            format,
            slot_bytes,
            inner: Mutex::new(Ring {
                bytes: vec![0; capacity * slot_bytes].into_boxed_slice(),
                lens: vec![0; capacity].into_boxed_slice(),
                marks: VecDeque::new(),
                head: 0,
                len: 0,
                waker: None,
                closed: false,
                reflect: None,
            }),
        })
    }

    /// The format of every frame in the ring.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves the indices consistent (they are only written
        // after the copy), so a poisoned ring is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Copies `frame` into the next free slot and wakes the consumer if it waits.
    pub fn push(&self, frame: &[u8]) -> Result<(), RingError> {
        if frame.len() > self.slot_bytes {
            return Err(RingError::TooLong);
        }
        let mut ring = self.lock();
        if ring.closed {
            return Err(RingError::Closed);
        }
        if let Some((to, filler)) = &ring.reflect {
            // `to` is another ring (see `reflect_into`): its lock is not this one.
            return to.push(if frame.is_empty() { filler } else { frame });
        }
        let Some(slot) = ring.free_slot() else {
            return Err(RingError::Full);
        };
        let start = slot * self.slot_bytes;
        ring.bytes[start..start + frame.len()].copy_from_slice(frame);
        // frame.len() <= slot_bytes < MARK_SLOT.
        ring.fill(slot, frame.len() as u16);
        Ok(())
    }

    /// Queues the mark `name` behind the frames pushed so far; it takes a slot. A full or
    /// closed ring gives the name back with the reason.
    pub fn push_mark(&self, name: String) -> Result<(), (RingError, String)> {
        let mut ring = self.lock();
        if ring.closed {
            return Err((RingError::Closed, name));
        }
        let Some(slot) = ring.free_slot() else {
            return Err((RingError::Full, name));
        };
        ring.marks.push_back(name);
        ring.fill(slot, MARK_SLOT);
        Ok(())
    }

    /// Hands the oldest frame to `f` in place and frees its slot; `None` when empty. `f` runs
    /// under the ring's lock: it must not use this ring. Marks ahead of the frame are dropped
    /// (a consumer that takes marks uses [`FrameRing::pop_entry_with`]).
    pub fn pop_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let mut ring = self.lock();
        Self::pop_locked(&mut ring, self.slot_bytes, f)
    }

    /// Hands the oldest entry, a frame in place or a mark, to `f` and frees its slot; `None`
    /// when empty. `f` runs under the ring's lock: it must not use this ring.
    pub fn pop_entry_with<R>(&self, f: impl FnOnce(RingEntry<'_>) -> R) -> Option<R> {
        let mut ring = self.lock();
        Self::take_entry(&mut ring, self.slot_bytes, f)
    }

    /// Hands every waiting entry to `f` in order, under one lock, and frees their slots;
    /// returns how many. `f` runs under the ring's lock: it must not use this ring.
    pub fn drain_entries_with(&self, mut f: impl FnMut(RingEntry<'_>)) -> usize {
        let mut ring = self.lock();
        let mut n = 0;
        while Self::take_entry(&mut ring, self.slot_bytes, &mut f).is_some() {
            n += 1;
        }
        n
    }

    /// As [`FrameRing::pop_with`], but when the ring is empty `waker` is woken by the next push.
    pub fn pop_or_register<R>(&self, waker: &Waker, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let mut ring = self.lock();
        if ring.len == 0 {
            if !ring.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                ring.waker = Some(waker.clone());
            }
            return None;
        }
        Self::pop_locked(&mut ring, self.slot_bytes, f)
    }

    fn pop_locked<R>(ring: &mut Ring, slot_bytes: usize, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        // Marks ahead of the frame are dropped: this consumer takes frames only.
        while ring.len > 0 && ring.lens[ring.head] == MARK_SLOT {
            Self::take_entry(ring, slot_bytes, |_| ());
        }
        Self::take_entry(ring, slot_bytes, |entry| match entry {
            RingEntry::Frame(bytes) => Some(f(bytes)),
            RingEntry::Mark(_) => None,
        })
        .flatten()
    }

    /// Takes the oldest entry off `ring` and hands it to `f`.
    fn take_entry<R>(
        ring: &mut Ring,
        slot_bytes: usize,
        f: impl FnOnce(RingEntry<'_>) -> R,
    ) -> Option<R> {
        if ring.len == 0 {
            return None;
        }
        let slot = ring.head;
        let out = if ring.lens[slot] == MARK_SLOT {
            // Every mark slot has its name queued, in the same order.
            let name = ring.marks.pop_front().unwrap_or_default();
            f(RingEntry::Mark(name))
        } else {
            let start = slot * slot_bytes;
            let len = usize::from(ring.lens[slot]);
            f(RingEntry::Frame(&ring.bytes[start..start + len]))
        };
        ring.len -= 1;
        // Emptied: the next frame goes into the first slot again, whose memory a ring that
        // holds about one frame at a time (the usual case) then keeps reusing, warm in the
        // cache, instead of walking through every slot.
        ring.head = if ring.len == 0 {
            0
        } else {
            (slot + 1) % ring.lens.len()
        };
        Some(out)
    }

    /// From now on (`Some`) every frame pushed here is pushed into `to` instead, an empty frame
    /// replaced by `filler`; `None` switches back to queueing. `to` must not be this ring
    /// (it would wait on its own lock): such a request is ignored.
    pub fn reflect_into(&self, reflect: Option<(Arc<FrameRing>, &[u8])>) {
        let reflect = reflect
            .filter(|(to, _)| !std::ptr::eq(Arc::as_ptr(to), self))
            .map(|(to, filler)| (to, Box::from(filler)));
        self.lock().reflect = reflect;
    }

    /// Drops every queued entry; returns how many, and the names of the marks among them (in
    /// order), which their sender still expects to hear about.
    pub fn clear(&self) -> (usize, Vec<String>) {
        let mut ring = self.lock();
        let n = ring.len;
        ring.len = 0;
        ring.head = 0;
        (n, ring.marks.drain(..).collect())
    }

    /// The consumer is gone: later pushes are refused with [`RingError::Closed`].
    pub fn close(&self) {
        let mut ring = self.lock();
        ring.closed = true;
        ring.len = 0;
        ring.marks.clear();
        ring.waker = None;
        ring.reflect = None;
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An actor that takes frames off a [`FrameRing`]: a bot wired to the RTP leg directly.
pub trait RingConsumer: Actor<Context = Context<Self>> {
    /// One frame taken off the ring: its bytes (empty: a lost frame), in the ring's format.
    /// It runs under the ring's lock, so it must not use that ring.
    fn take_frame(&mut self, format: AudioFormat, bytes: &[u8]);
}

/// Spawned on a [`RingConsumer`]: woken by the producer's push, it hands over every frame
/// waiting, then registers for the next push. It never ends on its own; the actor's stop
/// drops it.
pub struct RingReader(pub Arc<FrameRing>);

impl<A: RingConsumer> ActorFuture<A> for RingReader {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        actor: &mut A,
        _ctx: &mut Context<A>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let format = self.0.format();
        // The ring holds a few frames at most, so this loop is bounded by its capacity (the
        // producer pushes on its own task, not while this runs).
        while self
            .0
            .pop_or_register(task.waker(), |bytes| actor.take_frame(format, bytes))
            .is_some()
        {}
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    fn pop(ring: &FrameRing) -> Option<Vec<u8>> {
        ring.pop_with(<[u8]>::to_vec)
    }

    #[test]
    fn wraps_around_in_order_and_refuses_when_full() {
        let ring = FrameRing::new(AudioFormat::Pcmu, 4, 3);
        for round in 0..5u8 {
            // Fill it: three frames of varying length, then one too many.
            for i in 0..3u8 {
                let n = usize::from(i) + 1;
                ring.push(&vec![round * 10 + i; n]).unwrap();
            }
            assert_eq!(ring.push(&[9]), Err(RingError::Full));
            assert_eq!(ring.len(), 3);
            // Take two, put one back: the start moves around the slots.
            assert_eq!(pop(&ring), Some(vec![round * 10]));
            assert_eq!(pop(&ring), Some(vec![round * 10 + 1; 2]));
            ring.push(&[0xee; 4]).unwrap();
            assert_eq!(pop(&ring), Some(vec![round * 10 + 2; 3]));
            assert_eq!(pop(&ring), Some(vec![0xee; 4]));
            assert_eq!(pop(&ring), None);
            assert!(ring.is_empty());
        }
    }

    #[test]
    fn refuses_oversize_and_closed_and_clears() {
        let ring = FrameRing::new(AudioFormat::Pcma, 160, 4);
        assert_eq!(ring.format(), AudioFormat::Pcma);
        assert_eq!(ring.push(&[0; 161]), Err(RingError::TooLong));
        ring.push(&[1; 160]).unwrap();
        ring.push(&[]).unwrap();
        assert_eq!(ring.clear(), (2, vec![]));
        assert_eq!(pop(&ring), None);
        ring.push(&[2; 10]).unwrap();
        ring.close();
        assert_eq!(pop(&ring), None, "closing drops what was queued");
        assert_eq!(ring.push(&[3; 10]), Err(RingError::Closed));
    }

    #[test]
    fn reflection_copies_pushes_into_the_return_ring_with_a_filler_for_lost_frames() {
        let input = FrameRing::new(AudioFormat::Pcmu, 4, 2);
        let output = FrameRing::new(AudioFormat::Pcmu, 4, 2);
        let count = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        assert_eq!(input.pop_or_register(&waker, <[u8]>::to_vec), None);
        input.reflect_into(Some((Arc::clone(&output), &[0xff; 4][..])));
        input.push(&[1, 2]).unwrap();
        input.push(&[]).unwrap();
        // The return ring is full: the reflected push is refused like any full ring's.
        assert_eq!(input.push(&[3]), Err(RingError::Full));
        assert!(input.is_empty());
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "the consumer is not woken"
        );
        assert_eq!(pop(&output), Some(vec![1, 2]));
        assert_eq!(pop(&output), Some(vec![0xff; 4]));
        // Off again: frames queue for the consumer and wake it.
        input.reflect_into(None);
        input.push(&[4]).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(pop(&input), Some(vec![4]));
        // A ring cannot reflect into itself.
        input.reflect_into(Some((Arc::clone(&input), &[0][..])));
        input.push(&[5]).unwrap();
        assert_eq!(pop(&input), Some(vec![5]));
        // Closing ends the reflection too.
        input.reflect_into(Some((Arc::clone(&output), &[0][..])));
        input.close();
        assert_eq!(input.push(&[6]), Err(RingError::Closed));
        assert!(output.is_empty());
    }

    fn entry(ring: &FrameRing) -> Option<String> {
        ring.pop_entry_with(|e| match e {
            RingEntry::Frame(bytes) => format!("frame {bytes:?}"),
            RingEntry::Mark(name) => format!("mark {name}"),
        })
    }

    #[test]
    fn marks_come_out_between_the_frames_they_were_pushed_between() {
        let ring = FrameRing::new(AudioFormat::Pcmu, 4, 4);
        let count = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        for round in 0..3u8 {
            ring.push(&[round]).unwrap();
            ring.push_mark(format!("a{round}")).unwrap();
            ring.push_mark(format!("b{round}")).unwrap();
            ring.push(&[]).unwrap();
            // A mark takes a slot like a frame: the ring is full.
            assert_eq!(
                ring.push_mark("c".into()),
                Err((RingError::Full, "c".into()))
            );
            assert_eq!(entry(&ring).unwrap(), format!("frame [{round}]"));
            assert_eq!(entry(&ring).unwrap(), format!("mark a{round}"));
            assert_eq!(entry(&ring).unwrap(), format!("mark b{round}"));
            assert_eq!(entry(&ring).unwrap(), "frame []");
            assert_eq!(entry(&ring), None);
        }
        // A mark wakes a waiting consumer as a frame does.
        assert_eq!(ring.pop_or_register(&waker, <[u8]>::to_vec), None);
        ring.push_mark("w".into()).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // A frame-only reader skips marks.
        ring.push(&[7]).unwrap();
        assert_eq!(pop(&ring), Some(vec![7]));
        assert!(ring.is_empty());
        // Clearing gives back the marks' names; closing refuses marks too.
        ring.push_mark("x".into()).unwrap();
        ring.push(&[8]).unwrap();
        ring.push_mark("y".into()).unwrap();
        assert_eq!(ring.clear(), (3, vec!["x".to_owned(), "y".to_owned()]));
        assert_eq!(entry(&ring), None);
        ring.close();
        assert_eq!(
            ring.push_mark("z".into()),
            Err((RingError::Closed, "z".into()))
        );
    }

    #[test]
    fn drains_entries_in_order_and_an_emptied_ring_starts_again_at_the_first_slot() {
        let ring = FrameRing::new(AudioFormat::Pcmu, 4, 4);
        for round in 0..6u8 {
            ring.push(&[round]).unwrap();
            ring.push(&[round, round]).unwrap();
            let mut got = Vec::new();
            ring.push_mark(format!("m{round}")).unwrap();
            let drained = ring.drain_entries_with(|e| got.push(format!("{e:?}")));
            assert_eq!(drained, 3);
            assert_eq!(
                got,
                [
                    format!("Frame([{round}])"),
                    format!("Frame([{round}, {round}])"),
                    format!("Mark(\"m{round}\")")
                ]
            );
            assert!(ring.is_empty());
            // Every round reuses slots 0 and 1.
            assert_eq!(ring.lock().head, 0);
        }
        assert_eq!(ring.drain_entries_with(|_| panic!("nothing waits")), 0);
        ring.push(&[7]).unwrap();
        ring.push(&[8]).unwrap();
        assert_eq!(pop(&ring), Some(vec![7]));
        assert_eq!(ring.lock().head, 1, "not empty yet: the ring goes on");
        assert_eq!(ring.clear(), (1, vec![]));
        assert_eq!(ring.lock().head, 0);
    }

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn an_empty_read_registers_the_consumer_and_the_next_push_wakes_it_once() {
        let ring = FrameRing::new(AudioFormat::Pcmu, 8, 4);
        let count = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        // Nothing registered: a push wakes nobody.
        ring.push(&[1]).unwrap();
        assert_eq!(ring.pop_or_register(&waker, <[u8]>::to_vec), Some(vec![1]));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        // Empty: registered; the next push wakes, the one after does not (not re-registered).
        assert_eq!(ring.pop_or_register(&waker, <[u8]>::to_vec), None);
        ring.push(&[2]).unwrap();
        ring.push(&[3]).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(pop(&ring), Some(vec![2]));
        assert_eq!(pop(&ring), Some(vec![3]));
    }
}
