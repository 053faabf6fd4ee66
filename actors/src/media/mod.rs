//! Media sockets: RTP/RTCP port allocation from the configured range.

mod ports;

pub use ports::{bind_rtp_pair, RtpPair};
