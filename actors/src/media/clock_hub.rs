//! The frame clock of every RTP leg on one arbiter thread: one timer and one task that run
//! each registered leg's due tick in turn.
//!
//! Legs tick on a shared grid (see `on_shared_grid` in the RTP leg), so the legs of an arbiter
//! come due together. With a timer per leg each tick still cost every leg a timer-wheel entry,
//! a task wake, a run-queue slot and a poll of its actor's context and mailbox (profiled at
//! about an eighth of the node's CPU with 600 calls). Here a tick costs the arbiter one timer
//! and one task poll, and each leg a call: the leg's media state is shared with its actor
//! through `Rc<RefCell<…>>` (both live on this thread and never run at the same time: the hub
//! and the actor are separate tasks of one thread), so the actor still handles its messages
//! while the hub drives its clock.
//!
//! The hub holds legs weakly: a leg whose actor is gone is forgotten at its next deadline. A
//! leg that reports no next deadline (it has exited) is forgotten at once. A panic in one leg's
//! tick is caught: that leg is told ([`Clocked::clock_panicked`]) and forgotten, the others keep
//! ticking. The task ends when no leg is left and is started again by the next registration.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Weak;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Something the hub runs at its deadlines (an RTP leg's media state).
pub(crate) trait Clocked {
    /// Its deadline came: do what is due; returns the next deadline, or `None` when it is done.
    fn on_clock(&mut self) -> Option<Instant>;

    /// `on_clock` panicked: the hub forgets this leg after this call.
    fn clock_panicked(&mut self);
}

/// A registered leg.
struct Entry {
    leg: Weak<RefCell<dyn Clocked>>,
    next: Instant,
}

#[derive(Default)]
struct Hub {
    /// The registered legs; out of the hub while the task runs them (legs registered then
    /// land here and are merged after).
    entries: Vec<Entry>,
    /// The running task's number, if one runs.
    task: Option<u64>,
    /// Tasks started so far on this thread.
    started: u64,
    /// Wakes the running task when a leg registers (its deadline may be the earliest).
    waker: Option<Waker>,
}

thread_local! {
    static HUB: RefCell<Hub> = RefCell::default();
}

/// Runs `leg` on this thread's hub from `first` on. Call it on the leg's arbiter, inside its
/// runtime (the hub's task is spawned there when none runs).
pub(crate) fn register(leg: Weak<RefCell<dyn Clocked>>, first: Instant) {
    let start = HUB.with_borrow_mut(|hub| {
        hub.entries.push(Entry { leg, next: first });
        if let Some(w) = hub.waker.take() {
            w.wake();
        }
        if hub.task.is_some() {
            return None;
        }
        hub.started += 1;
        hub.task = Some(hub.started);
        Some(hub.started)
    });
    if let Some(id) = start {
        actix_rt::spawn(HubTask {
            id,
            sleep: Box::pin(tokio::time::sleep_until(first.into())),
        });
    }
}

/// Legs on this thread's hub (for tests and the debugger).
#[cfg(test)]
fn registered() -> usize {
    HUB.with_borrow(|hub| hub.entries.len())
}

/// Runs every leg due by `now`, forgets the finished ones, and returns the earliest next
/// deadline (`None`: no leg left; the task `id` then counts as ended).
fn run_due(id: u64, now: Instant) -> Option<Instant> {
    let mut entries = HUB.with_borrow_mut(|hub| std::mem::take(&mut hub.entries));
    let mut earliest: Option<Instant> = None;
    entries.retain_mut(|e| {
        if e.next <= now {
            let Some(leg) = e.leg.upgrade() else {
                return false;
            };
            // The leg's actor borrows it only inside its own handlers, which never run while
            // this task does (one thread, one task polled at a time): the borrow is free.
            let mut leg = leg.borrow_mut();
            match catch_unwind(AssertUnwindSafe(|| leg.on_clock())) {
                Ok(Some(next)) => e.next = next,
                Ok(None) => return false,
                Err(_) => {
                    tracing::error!("RTP leg panicked on its frame clock; leg ended");
                    let _ = catch_unwind(AssertUnwindSafe(|| leg.clock_panicked()));
                    return false;
                }
            }
        }
        earliest = Some(earliest.map_or(e.next, |t| t.min(e.next)));
        true
    });
    HUB.with_borrow_mut(|hub| {
        for e in &hub.entries {
            earliest = Some(earliest.map_or(e.next, |t| t.min(e.next)));
        }
        entries.append(&mut hub.entries);
        hub.entries = entries;
        if earliest.is_none() && hub.task == Some(id) {
            hub.task = None;
            hub.waker = None;
        }
    });
    earliest
}

/// The hub's task: sleeps to the earliest deadline, runs the legs due, again.
struct HubTask {
    id: u64,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HubTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            // Woken by a registration or by the timer: either way run what is due (nothing,
            // after a registration) and sleep to the earliest deadline, which may be new.
            let Some(next) = run_due(self.id, Instant::now()) else {
                return Poll::Ready(());
            };
            let next = tokio::time::Instant::from(next);
            if self.sleep.deadline() != next {
                self.sleep.as_mut().reset(next);
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                HUB.with_borrow_mut(|hub| {
                    if !hub.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        hub.waker = Some(cx.waker().clone());
                    }
                });
                return Poll::Pending;
            }
        }
    }
}

impl Drop for HubTask {
    fn drop(&mut self) {
        // Dropped without finishing (its runtime stopped): the next registration starts a new
        // task. During thread teardown the hub may be gone already: nothing to do then.
        let _ = HUB.try_with(|hub| {
            if let Ok(mut hub) = hub.try_borrow_mut() {
                if hub.task == Some(self.id) {
                    hub.task = None;
                    hub.waker = None;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;

    /// Ticks every `period`, `left` times, recording when; panics on tick `panic_at`.
    struct Fake {
        period: Duration,
        next: Instant,
        left: u32,
        ticks: Vec<Instant>,
        panic_at: Option<usize>,
        panicked: bool,
    }

    impl Fake {
        fn new(period_ms: u64, left: u32) -> Rc<RefCell<Fake>> {
            let period = Duration::from_millis(period_ms);
            Rc::new(RefCell::new(Fake {
                period,
                next: Instant::now() + period,
                left,
                ticks: Vec::new(),
                panic_at: None,
                panicked: false,
            }))
        }
    }

    impl Clocked for Fake {
        fn on_clock(&mut self) -> Option<Instant> {
            let now = Instant::now();
            assert!(now >= self.next, "run before its deadline");
            self.ticks.push(now);
            if self.panic_at == Some(self.ticks.len()) {
                panic!("a bug in one leg");
            }
            self.left = self.left.checked_sub(1)?;
            self.next += self.period;
            Some(self.next)
        }

        fn clock_panicked(&mut self) {
            self.panicked = true;
        }
    }

    fn add(fake: &Rc<RefCell<Fake>>) {
        let first = fake.borrow().next;
        let weak: Weak<RefCell<dyn Clocked>> = Rc::downgrade(&(Rc::clone(fake) as _));
        register(weak, first);
    }

    async fn until(mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "condition not met in time");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[actix_rt::test]
    async fn runs_legs_with_different_periods_at_their_deadlines_then_forgets_them() {
        let a = Fake::new(10, 5);
        let b = Fake::new(25, 2);
        add(&a);
        add(&b);
        until(|| registered() == 0).await;
        {
            let (a, b) = (a.borrow(), b.borrow());
            assert_eq!(a.ticks.len(), 6);
            assert_eq!(b.ticks.len(), 3);
            for pair in a.ticks.windows(2) {
                assert!(pair[1] - pair[0] >= Duration::from_millis(9));
            }
        }
        // The task ended with the last leg; the next registration starts another.
        assert_eq!(HUB.with_borrow(|h| h.task), None);
        let c = Fake::new(5, 1);
        add(&c);
        until(|| c.borrow().ticks.len() == 2).await;
    }

    #[actix_rt::test]
    async fn a_later_registration_with_an_earlier_deadline_wakes_the_task() {
        let slow = Fake::new(2_000, 0);
        add(&slow);
        let fast = Fake::new(5, 3);
        add(&fast);
        until(|| fast.borrow().ticks.len() == 4).await;
        assert!(slow.borrow().ticks.is_empty());
    }

    #[actix_rt::test]
    async fn a_dropped_leg_is_forgotten_and_a_panicking_one_does_not_stop_the_others() {
        let gone = Fake::new(5, 100);
        add(&gone);
        drop(gone);
        let buggy = Fake::new(5, 100);
        buggy.borrow_mut().panic_at = Some(2);
        add(&buggy);
        let fine = Fake::new(5, 10);
        add(&fine);
        until(|| fine.borrow().ticks.len() == 11).await;
        assert_eq!(buggy.borrow().ticks.len(), 2);
        assert!(buggy.borrow().panicked);
        until(|| registered() == 0).await;
    }
}
