//! [`BatchReceiver`]: reads the datagrams waiting on a non-blocking UDP socket, a batch per
//! `recvmmsg(MSG_DONTWAIT)` call, each with the kernel's receive timestamp (`SO_TIMESTAMPNS`).
//!
//! The RTP leg reads its sockets at the start of each frame tick instead of on every datagram:
//! a packet that arrived before the tick is in the jitter buffer when the tick pops it either
//! way, so playout is the same, while the node no longer wakes (epoll, task, thread) once per
//! packet. The sockets are not registered with the reactor at all. A batch that comes back
//! short means the queue was empty at that moment, so no extra call is made to see `EAGAIN`.
//!
//! The arrival time of each datagram is the kernel's stamp, placed on the monotonic clock with
//! one wall/monotonic reading per drain ([`DrainClock`]), so the RFC 3550 interarrival jitter,
//! the jitter buffer's depth estimate and DTMF timing see when a packet really came, not when
//! the tick read it. Without a stamp (the option refused) the drain time is used, which
//! quantises arrivals to the frame grid.
//!
//! The receive buffers and message headers are one set per thread (legs on an arbiter drain
//! one at a time), so a drain touches memory the previous leg's drain left warm in the cache
//! (per-leg headers were a cache miss per leg and tick). The headers are kept per address
//! family ([`BatchReceiver`] names it): the kernel writes the address and control lengths back
//! into them, which `nix` does not reset between calls, so headers shared by sockets of
//! different families would truncate addresses. Within one family the written-back lengths are
//! always the same (every leg's sockets have kernel stamps on), so sharing loses nothing.

use std::cell::RefCell;
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::sys::socket::{
    recvmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, RecvMsg,
    SockaddrStorage,
};
use nix::sys::time::TimeSpec;

/// Largest datagram read; longer ones are truncated (and then fail to parse or are cut audio).
pub(crate) const RECV_BUF: usize = 2048;
/// Datagrams read per system call. At one packet per call per frame a batch is rarely full.
const BATCH: usize = 8;

thread_local! {
    /// The receive buffers of every leg on this thread; a drain borrows them for its duration.
    static BUFFERS: RefCell<Box<[[u8; RECV_BUF]; BATCH]>> =
        RefCell::new(Box::new([[0; RECV_BUF]; BATCH]));
    /// The message headers of every leg on this thread, IPv4 and IPv6, made on first use.
    static HEADERS: RefCell<[Option<MultiHeaders<SockaddrStorage>>; 2]> =
        const { RefCell::new([None, None]) };
}

/// Asks the kernel to stamp every datagram `socket` receives (`SO_TIMESTAMPNS`).
pub(crate) fn enable_timestamps(socket: &UdpSocket) -> io::Result<()> {
    setsockopt(socket.as_raw_fd(), sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)
}

/// One reading of both clocks, taken when a drain starts, to turn kernel stamps (wall clock)
/// into [`Instant`]s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainClock {
    wall: SystemTime,
    mono: Instant,
    floor: Instant,
}

impl DrainClock {
    /// Both clocks now; no arrival is placed before `floor` (the previous drain: what is read
    /// now arrived after it, whatever the wall clock did in between).
    pub(crate) fn now(floor: Instant) -> Self {
        Self::at(SystemTime::now(), Instant::now(), floor)
    }

    fn at(wall: SystemTime, mono: Instant, floor: Instant) -> Self {
        Self {
            wall,
            mono,
            floor: floor.min(mono),
        }
    }

    /// The same reading with another floor (a socket drained on its own schedule).
    pub(crate) fn with_floor(self, floor: Instant) -> Self {
        Self::at(self.wall, self.mono, floor)
    }

    /// The monotonic instant of this reading.
    pub(crate) fn mono(&self) -> Instant {
        self.mono
    }

    /// When a datagram stamped `stamp` (time since the Unix epoch) arrived, within
    /// `[floor, now]`; the drain time when there is no stamp.
    fn arrival(&self, stamp: Option<Duration>) -> Instant {
        let Some(at) = stamp.and_then(|s| SystemTime::UNIX_EPOCH.checked_add(s)) else {
            return self.mono;
        };
        let age = self.wall.duration_since(at).unwrap_or(Duration::ZERO);
        self.mono
            .checked_sub(age)
            .unwrap_or(self.floor)
            .max(self.floor)
    }
}

/// Batched reads of UDP sockets of one address family, with this thread's headers; see the
/// module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchReceiver {
    ipv6: bool,
}

/// IPv4.
impl Default for BatchReceiver {
    fn default() -> Self {
        Self { ipv6: false }
    }
}

impl BatchReceiver {
    /// For sockets bound to an address of `local`'s family.
    pub(crate) fn for_address(local: &SocketAddr) -> Self {
        Self {
            ipv6: local.is_ipv6(),
        }
    }

    /// Reads what waits on the UDP socket `fd` (non-blocking or not: the reads do not wait),
    /// at most about `budget` datagrams (the rest stays queued for the next drain), handing
    /// each to `on` in arrival order with where it came from and when. Errors that concern one
    /// datagram (ICMP feedback) are skipped; `Err` is a failure of the socket itself. Returns
    /// how many datagrams were handed on. `on` must not drain (the thread's buffers are in use).
    pub(crate) fn drain(
        self,
        fd: RawFd,
        clock: &DrainClock,
        budget: usize,
        mut on: impl FnMut(SocketAddr, &[u8], Instant),
    ) -> io::Result<usize> {
        HEADERS.with_borrow_mut(|headers| {
            let headers = headers[usize::from(self.ipv6)].get_or_insert_with(|| {
                MultiHeaders::preallocate(BATCH, Some(nix::cmsg_space!(TimeSpec)))
            });
            BUFFERS.with_borrow_mut(|bufs| {
                let mut handed = 0;
                let mut calls = 0;
                while handed < budget && calls < budget {
                    calls += 1;
                    let mut meta = [(0usize, None::<SocketAddr>, None::<Duration>); BATCH];
                    let got = {
                        let iovs = bufs.each_mut().map(|b| [IoSliceMut::new(&mut b[..])]);
                        match recvmmsg(fd, headers, iovs.iter(), MsgFlags::MSG_DONTWAIT, None) {
                            Ok(results) => {
                                let mut got = 0;
                                for (m, r) in meta.iter_mut().zip(results) {
                                    *m = (r.bytes, r.address.and_then(socket_addr), stamp(&r));
                                    got += 1;
                                }
                                got
                            }
                            Err(Errno::EAGAIN) => break,
                            Err(e) => {
                                let e = io::Error::from(e);
                                if super::rtp_leg::transient(&e) {
                                    continue;
                                }
                                return Err(e);
                            }
                        }
                    };
                    for (buf, &(len, from, stamp)) in bufs.iter().zip(&meta[..got]) {
                        // A datagram without a usable source address cannot be latched or
                        // answered.
                        if let Some(from) = from {
                            on(from, &buf[..len.min(RECV_BUF)], clock.arrival(stamp));
                        }
                    }
                    handed += got;
                    if got < BATCH {
                        break;
                    }
                }
                Ok(handed)
            })
        })
    }
}

/// The kernel's receive stamp of `msg`, as time since the Unix epoch.
fn stamp(msg: &RecvMsg<'_, '_, SockaddrStorage>) -> Option<Duration> {
    msg.cmsgs().find_map(|c| match c {
        ControlMessageOwned::ScmTimestampns(ts) => Some(Duration::new(
            u64::try_from(ts.tv_sec()).ok()?,
            u32::try_from(ts.tv_nsec()).ok()?,
        )),
        _ => None,
    })
}

fn socket_addr(addr: SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound() -> UdpSocket {
        bound_at("127.0.0.1:0")
    }

    fn bound_at(addr: &str) -> UdpSocket {
        let s = UdpSocket::bind(addr).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    }

    fn receiver(s: &UdpSocket) -> BatchReceiver {
        BatchReceiver::for_address(&s.local_addr().unwrap())
    }

    fn drain_all(s: &UdpSocket, budget: usize) -> Vec<(SocketAddr, Vec<u8>, Instant)> {
        let mut got = Vec::new();
        let clock = DrainClock::now(Instant::now() - Duration::from_secs(5));
        let n = receiver(s)
            .drain(s.as_raw_fd(), &clock, budget, |from, b, at| {
                got.push((from, b.to_vec(), at))
            })
            .unwrap();
        assert_eq!(n, got.len());
        got
    }

    /// A receiving socket with kernel stamps on, a sending socket, and where to send.
    fn receiver_and_sender() -> (UdpSocket, UdpSocket, SocketAddr) {
        let rx = bound();
        enable_timestamps(&rx).unwrap();
        let to = rx.local_addr().unwrap();
        (rx, bound(), to)
    }

    /// Waits (bounded) until `s` has something to read, without taking it.
    fn wait_readable(s: &UdpSocket) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut b = [0u8; 1];
        while s.peek_from(&mut b).is_err() {
            assert!(Instant::now() < deadline, "nothing arrived");
            std::thread::yield_now();
        }
    }

    #[test]
    fn reads_every_waiting_datagram_in_order_across_batches() {
        let (rx_socket, tx, to) = receiver_and_sender();
        let count = BATCH * 2 + 3;
        for i in 0..count {
            tx.send_to(&[i as u8; 12], to).unwrap();
        }
        // Loopback delivers within `send_to`; the wait only guards against a slower path.
        wait_readable(&rx_socket);
        let got = drain_all(&rx_socket, 64);
        assert_eq!(got.len(), count);
        for (i, (from, bytes, _)) in got.iter().enumerate() {
            assert_eq!(*from, tx.local_addr().unwrap());
            assert_eq!(bytes, &vec![i as u8; 12]);
        }
        // Drained: the next drain finds nothing and does not block.
        assert!(drain_all(&rx_socket, 64).is_empty());
    }

    #[test]
    fn budget_leaves_the_rest_for_the_next_drain() {
        let (rx_socket, tx, to) = receiver_and_sender();
        for i in 0..(BATCH * 3) {
            tx.send_to(&[i as u8], to).unwrap();
        }
        wait_readable(&rx_socket);
        let first = drain_all(&rx_socket, BATCH);
        assert_eq!(first.len(), BATCH);
        let rest = drain_all(&rx_socket, 64);
        assert_eq!(rest.len(), BATCH * 2);
        assert_eq!(rest[0].1, vec![BATCH as u8]);
    }

    #[test]
    fn kernel_stamps_give_the_arrival_not_the_drain_time() {
        let (rx_socket, tx, to) = receiver_and_sender();
        let rx = receiver(&rx_socket);
        // Sends one datagram and lets it age in the socket for `age` before it is read.
        let send_aged = |payload: &[u8], age: Duration| {
            tx.send_to(payload, to).unwrap();
            wait_readable(&rx_socket);
            std::thread::sleep(age);
        };
        let before = Instant::now();
        send_aged(b"first", Duration::from_millis(30));
        let clock = DrainClock::now(before - Duration::from_secs(1));
        let mut arrivals = Vec::new();
        rx.drain(rx_socket.as_raw_fd(), &clock, 8, |_, _, at| {
            arrivals.push(at)
        })
        .unwrap();
        assert_eq!(arrivals.len(), 1);
        let age = clock.mono().duration_since(arrivals[0]);
        assert!(
            age >= Duration::from_millis(25),
            "arrival {age:?} before the drain: the stamp was not used"
        );
        assert!(arrivals[0] >= before - Duration::from_millis(5));
        // The headers are reused: the next batch is stamped too.
        send_aged(b"second", Duration::from_millis(20));
        let clock = DrainClock::now(clock.mono());
        let mut arrivals = Vec::new();
        rx.drain(rx_socket.as_raw_fd(), &clock, 8, |_, _, at| {
            arrivals.push(at)
        })
        .unwrap();
        assert!(clock.mono().duration_since(arrivals[0]) >= Duration::from_millis(15));
    }

    #[test]
    fn sockets_of_both_families_share_the_thread_headers_without_truncated_addresses() {
        let (v4, v4_tx, v4_to) = receiver_and_sender();
        let v6 = bound_at("[::1]:0");
        enable_timestamps(&v6).unwrap();
        let v6_tx = bound_at("[::1]:0");
        let v6_to = v6.local_addr().unwrap();
        assert_ne!(receiver(&v4), receiver(&v6));
        for _ in 0..3 {
            // Each drain writes its family's address length back into the headers it used.
            v4_tx.send_to(b"four", v4_to).unwrap();
            wait_readable(&v4);
            let got = drain_all(&v4, 8);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0, v4_tx.local_addr().unwrap());
            v6_tx.send_to(b"six", v6_to).unwrap();
            wait_readable(&v6);
            let got = drain_all(&v6, 8);
            assert_eq!(got.len(), 1);
            assert_eq!(
                got[0].0,
                v6_tx.local_addr().unwrap(),
                "a whole IPv6 address"
            );
            assert_eq!(got[0].1, b"six");
        }
    }

    #[test]
    fn arrival_stays_between_the_previous_drain_and_now() {
        let mono = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let floor = mono - Duration::from_millis(20);
        let clock = DrainClock::at(wall, mono, floor);
        let since_epoch = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).ok();
        // 5 ms before the reading.
        let at = clock.arrival(since_epoch(wall - Duration::from_millis(5)));
        assert_eq!(mono.duration_since(at), Duration::from_millis(5));
        // Stamped "in the future" (wall clock stepped back): now.
        assert_eq!(
            clock.arrival(since_epoch(wall + Duration::from_secs(3))),
            mono
        );
        // Stamped long before the previous drain (wall clock stepped forward): the floor.
        assert_eq!(
            clock.arrival(since_epoch(wall - Duration::from_secs(60))),
            floor
        );
        // No stamp: the drain time.
        assert_eq!(clock.arrival(None), mono);
    }
}
