//! Media: RTP/RTCP port allocation from the configured range, and the RTP leg actor that
//! carries a SIP call's audio ([`RtpLeg`]).

mod batch_recv;
mod clock_hub;
mod frame_ring;
mod playout;
mod ports;
mod rtp_leg;

pub use frame_ring::{FrameRing, RingConsumer, RingEntry, RingError, RingReader};
pub use playout::{PlayoutQueue, PushError};
pub use ports::{bind_rtp_pair, RtpPair};
pub use rtp_leg::{
    BotClock, DetachBot, DirectBot, MediaStats, RtpLeg, RtpLegConfig, RtpLegOwner, UpdateMedia,
    DEFAULT_QUEUE_FRAMES,
};
