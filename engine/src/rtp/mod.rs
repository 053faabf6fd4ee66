//! RTP/RTCP without I/O (RFC 3550, RFC 4733 sending): the media core of a SIP leg.
//!
//! - [`packet`]: borrowing parse and buffer build of RTP packets (over `rtp-rs`).
//! - [`sequence`]: sequence validation, probation and extended sequence numbers (A.1).
//! - [`stats`]: loss (A.3) and interarrival jitter (A.8) of the remote source.
//! - [`rtcp`]: SR, RR, SDES CNAME, BYE building and compound parsing.
//! - [`sender`]: our outgoing stream with drift-free timestamps and DTMF sending.
//! - [`session`]: [`RtpSession`], latching, filtering, RTCP timing and inactivity, driven by
//!   `handle_*(now, …)` and drained by `poll_*()`.

mod error;
pub mod packet;
pub mod rtcp;
pub mod sender;
pub mod sequence;
pub mod session;
pub mod stats;

pub use error::RtpError;
pub use packet::{RtpHeader, RtpPacket};
pub use sender::{Sender, SenderConfig, Sent};
pub use session::{
    Channel, Event, MediaKind, Received, RtpSession, SessionConfig, SessionStats, Transmit,
};
