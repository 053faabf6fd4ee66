//! RTP/RTCP without I/O (RFC 3550, RFC 4733 sending): the media core of a SIP leg.
//!
//! - [`packet`]: borrowing parse and buffer build of RTP packets (over `rtp-rs`).
//! - [`sequence`]: sequence validation, probation and extended sequence numbers (A.1).
//! - [`stats`]: loss (A.3) and interarrival jitter (A.8) of the remote source.
//! - [`rtcp`]: SR, RR, SDES CNAME, BYE building and compound parsing.
//! - [`sender`]: our outgoing stream with drift-free timestamps and DTMF sending.
//! - [`srtp`]: [`SrtpTransform`](srtp::SrtpTransform), SRTP/SRTCP for SDES-keyed legs.
//! - [`session`]: [`RtpSession`], latching, filtering, RTCP timing and inactivity, driven by
//!   `handle_*(now, …)` and drained by `poll_*()`.
//!
//! How an actor drives a session (it owns the sockets and the 20 ms timer):
//!
//! ```text
//! on datagram (rtp socket):  match session.handle_packet(now, from, &buf[..n])? {
//!                                Some(r) if r.kind == Audio => jitter_buffer.push(r),
//!                                Some(r) => rfc4733_receiver.push(r.timestamp, r.marker, r.payload),
//!                                None => {}  // RTCP (mux), filtered, probation, duplicate
//!                            }
//! on datagram (rtcp socket): session.handle_rtcp(now, from, &buf[..n])
//! every 20 ms (frame n):     if let Some(t) = session.send_frame(now, encoded, 160, &mut out)? {
//!                                rtp_socket.send_to(&out[..t.len], t.destination)
//!                            }
//! after each of these:       if session.poll_timeout() <= now { session.handle_timeout(now) }
//!                            while let Some(t) = session.poll_transmit(&mut out) { send (t.channel) }
//!                            while let Some(e) = session.poll_event() { Inactive → end the call, … }
//!                            re-arm the timer at session.poll_timeout()
//! at hang-up:                session.close(now); drain poll_transmit (RTCP BYE); session.stats()
//! ```

mod error;
pub mod packet;
pub mod rtcp;
pub mod sender;
pub mod sequence;
pub mod session;
pub mod srtp;
pub mod stats;

pub use error::RtpError;
pub use packet::{RtpHeader, RtpPacket};
pub use sender::{Sender, SenderConfig, Sent};
pub use session::{
    Channel, Event, MediaKind, Received, RtpSession, SessionConfig, SessionStats, Transmit,
};
