//! One generated call: where it is in its life, its SIP transaction timers, its stream, and
//! the ways it can fail.

use std::fmt;
use std::time::{Duration, Instant};

use voxgate_engine::sdp::SessionDescription;

use crate::frames::SignedFrames;
use crate::media::Media;
use crate::sip::Dialog;

/// RFC 3261 T1: first retransmission interval of INVITE and BYE over UDP.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: the cap of the retransmission interval of non-INVITE requests.
pub const T2: Duration = Duration::from_secs(4);

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// INVITE sent, nothing heard yet (INVITE retransmitted).
    Calling,
    /// A provisional response came (no more retransmissions).
    Ringing,
    /// Answered and acknowledged: media flows until the hold time is over.
    Up,
    /// Escalating: the digit was pressed, media goes on, the node's BYE is awaited.
    AwaitingBye,
    /// We sent BYE and wait for its 200.
    Hanging,
}

/// Why a call failed; counted by kind in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// No final response to the INVITE in time.
    SetupTimeout,
    /// A final non-2xx response to the INVITE.
    Status(u16),
    /// The 2xx carried no usable SDP answer.
    BadAnswer,
    /// Not one of our frames came back.
    NoMedia,
    /// Frames signed by another call came back on this one.
    WrongContent,
    /// An escalating call got no BYE from the node in time.
    NoBye,
    /// The node's BYE carried another reason than the expected one.
    WrongByeReason,
    /// The node hung up a call that was not escalating (or before the digit).
    UnexpectedBye,
    /// Our BYE got no 2xx in time.
    ByeTimeout,
    /// Our BYE got a failure status.
    ByeStatus(u16),
    /// An escalating call whose answer had no telephone-event to press the digit with.
    NoTelephoneEvent,
    /// Still up when the run's safety deadline passed.
    Unfinished,
    /// Talkdesk: the TCP connection or the WebSocket handshake failed (no HTTP status).
    ConnectFailed,
    /// Talkdesk: an escalating stream got no `stop` from the node in time.
    NoStop,
    /// Talkdesk: the node's `stop` carried another command or ring group than expected.
    WrongStop,
    /// Talkdesk: the node sent `stop` on a stream that was not escalating.
    UnexpectedStop,
    /// Talkdesk: the node closed or dropped the stream before the storm ended it.
    ClosedEarly,
    /// Talkdesk: after our `stop` the node did not close the stream in time.
    CloseTimeout,
    /// Talkdesk: the node sent a frame that is not one of its events.
    BadEvent,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::SetupTimeout => f.write_str("setup_timeout"),
            Failure::Status(code) => write!(f, "status_{code}"),
            Failure::BadAnswer => f.write_str("bad_sdp_answer"),
            Failure::NoMedia => f.write_str("no_media"),
            Failure::WrongContent => f.write_str("wrong_content"),
            Failure::NoBye => f.write_str("no_bye"),
            Failure::WrongByeReason => f.write_str("wrong_bye_reason"),
            Failure::UnexpectedBye => f.write_str("unexpected_bye"),
            Failure::ByeTimeout => f.write_str("bye_timeout"),
            Failure::ByeStatus(code) => write!(f, "bye_status_{code}"),
            Failure::NoTelephoneEvent => f.write_str("no_telephone_event"),
            Failure::Unfinished => f.write_str("unfinished"),
            Failure::ConnectFailed => f.write_str("connect_failed"),
            Failure::NoStop => f.write_str("no_stop"),
            Failure::WrongStop => f.write_str("wrong_stop"),
            Failure::UnexpectedStop => f.write_str("unexpected_stop"),
            Failure::ClosedEarly => f.write_str("closed_early"),
            Failure::CloseTimeout => f.write_str("close_timeout"),
            Failure::BadEvent => f.write_str("bad_event"),
        }
    }
}

/// The verdict on the media of a call whose signalling went right: some of its own frames
/// came back, and none of another call's.
pub fn media_verdict(frames: Option<&SignedFrames>) -> Result<(), Failure> {
    match frames {
        Some(f) if f.foreign > 0 => Err(Failure::WrongContent),
        Some(f) if f.echoed > 0 => Ok(()),
        _ => Err(Failure::NoMedia),
    }
}

/// One call of the storm.
#[derive(Debug)]
pub struct Call {
    /// Unique over the run (the slab slot is reused, the serial is not).
    pub serial: u64,
    /// The Call-ID.
    pub call_id: String,
    /// Whether this call presses the escalation digit instead of hanging up.
    pub escalate: bool,
    /// Where it is.
    pub phase: Phase,
    /// When the INVITE was first sent.
    pub invited_at: Instant,
    /// When the 2xx came.
    pub answered_at: Option<Instant>,
    /// When the current phase gives up.
    pub deadline: Instant,
    /// Next retransmission of the pending request (INVITE in `Calling`, BYE in `Hanging`).
    pub retransmit_at: Instant,
    /// Current retransmission interval.
    pub retransmit_every: Duration,
    /// When the hold time is over (set on answer).
    pub hold_until: Instant,
    /// The INVITE as sent, for retransmissions.
    pub invite: Vec<u8>,
    /// Our SDP offer, to read the answer against.
    pub offer: SessionDescription,
    /// The dialog, once answered.
    pub dialog: Dialog,
    /// The ACK of the 2xx, resent when the 2xx is retransmitted.
    pub ack: Vec<u8>,
    /// Our BYE, once sent.
    pub bye: Vec<u8>,
    /// The stream, once answered.
    pub media: Option<Media>,
}

impl crate::driver::Serial for Call {
    fn serial(&self) -> u64 {
        self.serial
    }
}

impl Call {
    /// The verdict on the media of a call whose signalling went right.
    pub fn media_verdict(&self) -> Result<(), Failure> {
        media_verdict(self.media.as_ref().map(|m| &m.frames))
    }

    /// Arms the retransmission timer of a request just sent.
    pub fn arm_retransmit(&mut self, now: Instant) {
        self.retransmit_every = T1;
        self.retransmit_at = now + T1;
    }

    /// Whether the pending request is due again; doubles the interval (capped at `cap`).
    pub fn retransmit_due(&mut self, now: Instant, cap: Duration) -> bool {
        if now < self.retransmit_at {
            return false;
        }
        self.retransmit_every = (self.retransmit_every * 2).min(cap);
        self.retransmit_at = now + self.retransmit_every;
        true
    }
}
