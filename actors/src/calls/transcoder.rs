//! The transcoder leg sits between the caller's codec and the bot's format so that neither leg
//! has to know the other's. It holds one preallocated codec pipeline per direction, made when the
//! call is set up, so a frame costs its actor envelope and nothing more on the heap.
//!
//! Direction is a type, not a convention: the ingress sends [`Upstream`], the bot sends
//! [`Downstream`], so a miswired tree does not compile. A zero-length frame in either direction
//! means "this frame was lost": the leg conceals it (repeat-and-fade, or Opus PLC) so the far
//! side keeps a steady 20 ms stream. A frame that does not convert is counted and dropped; media
//! trouble never stops a call.
//!
//! Marks from the bot can be routed through this leg ([`TranscoderLeg::with_marks`]) so that
//! they reach the ingress behind the audio queued before them, which a direct `Mark` to the
//! ingress would overtake.

use actix::dev::MessageResponse;
use actix::{Actor, ActorContext, Context, Handler, Message, Recipient};
use voxgate_codecs::frame::MAX_ENCODED_BYTES;
use voxgate_codecs::{AudioFormat, CodecError, EncodedFrame, Transcoder};

use crate::calls::messages::{AudioFrame, ExitCause, LegExited, LegKind, Mark, StopLeg};
use crate::metrics::FRAMES_DROPPED;

/// Counter: frames the transcoder could not convert (bad length, wrong format, codec error),
/// label `direction` (`up`/`down`).
pub use crate::metrics::TRANSCODE_ERRORS;

/// A frame from the caller (ingress codec format) on its way to the bot.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Upstream(pub AudioFrame);

/// A frame from the bot (bot format) on its way to the caller.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Downstream(pub AudioFrame);

/// Asks a [`TranscoderLeg`] for its counters.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "TranscoderStats")]
pub struct GetTranscoderStats;

/// What a [`TranscoderLeg`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, MessageResponse)]
pub struct TranscoderStats {
    /// Frames forwarded toward the bot (concealed ones included).
    pub up_frames: u64,
    /// Frames forwarded toward the caller (concealed ones included).
    pub down_frames: u64,
    /// Lost frames replaced by concealment, both directions.
    pub concealed: u64,
    /// Frames dropped because they did not convert, both directions.
    pub errors: u64,
    /// Frames dropped because the next leg's mailbox was full, both directions.
    pub dropped: u64,
}

/// One direction of the leg: a codec pipeline (none when both sides share the format) and its
/// preallocated output frame.
struct Path {
    from: AudioFormat,
    codec: Option<Transcoder>,
    out: EncodedFrame,
    label: &'static str,
}

impl Path {
    fn new(from: AudioFormat, to: AudioFormat, label: &'static str) -> Result<Self, CodecError> {
        let codec = if from == to {
            None
        } else {
            Some(Transcoder::new(from, to)?)
        };
        Ok(Path {
            from,
            codec,
            out: EncodedFrame::empty(to),
            label,
        })
    }

    /// Converts `frame` (or conceals it when it is empty) into the frame to forward.
    fn convert(&mut self, frame: EncodedFrame, stats: &mut TranscoderStats) -> Option<AudioFrame> {
        let Some(codec) = self.codec.as_mut() else {
            // Same format both sides: no work, the frame (or the loss marker) goes on as is.
            return Some(AudioFrame(frame));
        };
        let lost = frame.bytes().is_empty();
        let result = if lost {
            codec
                .conceal(self.out.buffer_mut())
                .and_then(|n| self.out.set_len(n))
        } else if frame.format() != self.from {
            Err(CodecError::BadConfig("frame format differs from the leg's"))
        } else {
            codec.transcode_frame(&frame, &mut self.out)
        };
        match result {
            Ok(()) => {
                stats.concealed += u64::from(lost);
                // A stack copy of the inline frame: no heap allocation.
                Some(AudioFrame(self.out.clone()))
            }
            Err(e) => {
                stats.errors += 1;
                metrics::counter!(TRANSCODE_ERRORS, "direction" => self.label).increment(1);
                tracing::debug!(direction = self.label, error = %e, "frame dropped");
                None
            }
        }
    }
}

/// The per-call transcoder leg: ingress format ⇄ bot format, both directions.
pub struct TranscoderLeg {
    reframer: Option<Reframer>,
    up: Path,
    down: Path,
    to_bot: Recipient<AudioFrame>,
    to_ingress: Recipient<AudioFrame>,
    marks_to_ingress: Option<Recipient<Mark>>,
    exited: Recipient<LegExited>,
    stats: TranscoderStats,
}

impl TranscoderLeg {
    /// A leg converting `ingress_format` ⇄ `bot_format`; fails when a codec cannot be built.
    pub fn new(
        ingress_format: AudioFormat,
        bot_format: AudioFormat,
        to_bot: Recipient<AudioFrame>,
        to_ingress: Recipient<AudioFrame>,
        exited: Recipient<LegExited>,
    ) -> Result<Self, CodecError> {
        Ok(TranscoderLeg {
            reframer: Reframer::for_format(ingress_format),
            up: Path::new(ingress_format, bot_format, "up")?,
            down: Path::new(bot_format, ingress_format, "down")?,
            to_bot,
            to_ingress,
            marks_to_ingress: None,
            exited,
            stats: TranscoderStats::default(),
        })
    }

    /// Forwards [`Mark`]s sent to this leg to the ingress, in order behind the audio.
    pub fn with_marks(mut self, marks_to_ingress: Recipient<Mark>) -> Self {
        self.marks_to_ingress = Some(marks_to_ingress);
        self
    }

    /// True when both sides share a format and frames pass through untouched.
    pub fn is_passthrough(&self) -> bool {
        self.up.codec.is_none()
    }
}

/// Sends a media frame without waiting; a full mailbox drops it and counts the drop.
fn forward(to: &Recipient<AudioFrame>, frame: AudioFrame, stats: &mut TranscoderStats) -> bool {
    match to.try_send(frame) {
        Ok(()) => true,
        Err(actix::dev::SendError::Full(_)) => {
            stats.dropped += 1;
            metrics::counter!(FRAMES_DROPPED, "leg" => "transcoder").increment(1);
            false
        }
        // The next leg is gone: the call is tearing down and will stop us.
        Err(actix::dev::SendError::Closed(_)) => false,
    }
}

impl Actor for TranscoderLeg {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(stats = ?self.stats, "transcoder leg stopped");
        self.exited.do_send(LegExited {
            leg: LegKind::Transcoder,
            cause: ExitCause::Normal("stopped".into()),
        });
    }
}

impl Handler<Upstream> for TranscoderLeg {
    type Result = ();

    fn handle(&mut self, msg: Upstream, _ctx: &mut Self::Context) {
        let frame = msg.0 .0;
        let bytes = frame.bytes();
        if !bytes.is_empty() && frame.format() != self.up.from {
            // Never mix another codec's bytes into the re-cutting buffer.
            self.stats.errors += 1;
            metrics::counter!(TRANSCODE_ERRORS, "direction" => "up").increment(1);
            return;
        }
        let needs_reframing = self
            .reframer
            .as_ref()
            .is_some_and(|r| !bytes.is_empty() && (bytes.len() != r.frame_bytes || r.len > 0));
        if !needs_reframing {
            self.upstream(frame);
            return;
        }
        let format = frame.format();
        if let Some(r) = self.reframer.as_mut() {
            r.push(bytes);
        }
        while let Some(chunk) = self.reframer.as_mut().and_then(|r| r.pop_frame(format)) {
            self.upstream(chunk);
        }
    }
}

impl TranscoderLeg {
    fn upstream(&mut self, frame: EncodedFrame) {
        if let Some(frame) = self.up.convert(frame, &mut self.stats) {
            if forward(&self.to_bot, frame, &mut self.stats) {
                self.stats.up_frames += 1;
            }
        }
    }
}

/// Callers may packetise at 10, 30 or 60 ms whatever the SDP said; the pipeline works in 20 ms
/// frames. For sample-based codecs (G.711, G.722, L16) the caller's bytes are re-cut into 20 ms
/// frames here; Opus packets are whole frames and pass as they are.
struct Reframer {
    /// Room for what is left of the last packet (under one frame) plus a whole
    /// [`EncodedFrame`], the most one push brings.
    buf: Box<[u8]>,
    len: usize,
    frame_bytes: usize,
}

impl Reframer {
    fn for_format(format: AudioFormat) -> Option<Reframer> {
        let frame_bytes = format.frame_bytes()?;
        Some(Reframer {
            buf: vec![0; frame_bytes + MAX_ENCODED_BYTES].into_boxed_slice(),
            len: 0,
            frame_bytes,
        })
    }

    /// Appends a packet's bytes; on overflow (a peer sending huge packets) the oldest audio
    /// is dropped, never a panic.
    fn push(&mut self, bytes: &[u8]) {
        let room = self.buf.len() - self.len;
        if bytes.len() > room {
            self.len = 0;
        }
        let n = bytes.len().min(self.buf.len());
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn pop_frame(&mut self, format: AudioFormat) -> Option<EncodedFrame> {
        if self.len < self.frame_bytes {
            return None;
        }
        let frame = EncodedFrame::from_bytes(format, &self.buf[..self.frame_bytes]).ok();
        self.buf.copy_within(self.frame_bytes..self.len, 0);
        self.len -= self.frame_bytes;
        frame
    }
}

impl Handler<Downstream> for TranscoderLeg {
    type Result = ();

    fn handle(&mut self, msg: Downstream, _ctx: &mut Self::Context) {
        if let Some(frame) = self.down.convert(msg.0 .0, &mut self.stats) {
            if forward(&self.to_ingress, frame, &mut self.stats) {
                self.stats.down_frames += 1;
            }
        }
    }
}

impl Handler<Mark> for TranscoderLeg {
    type Result = ();

    fn handle(&mut self, msg: Mark, _ctx: &mut Self::Context) {
        match &self.marks_to_ingress {
            Some(to) => to.do_send(msg),
            None => tracing::warn!(mark = %msg.0, "mark sent to a transcoder without a mark route"),
        }
    }
}

impl Handler<GetTranscoderStats> for TranscoderLeg {
    type Result = TranscoderStats;

    fn handle(&mut self, _msg: GetTranscoderStats, _ctx: &mut Self::Context) -> TranscoderStats {
        self.stats
    }
}

impl Handler<StopLeg> for TranscoderLeg {
    type Result = ();

    fn handle(&mut self, _msg: StopLeg, ctx: &mut Self::Context) {
        // `stopped` reports the exit, whatever stopped us.
        ctx.stop();
    }
}

/// Frames from the ingress leg arrive as plain [`AudioFrame`]s (the RTP leg reports to any
/// `Recipient<AudioFrame>`): they go upstream, toward the bot.
impl Handler<AudioFrame> for TranscoderLeg {
    type Result = ();

    fn handle(&mut self, msg: AudioFrame, ctx: &mut Self::Context) {
        <Self as Handler<Upstream>>::handle(self, Upstream(msg), ctx);
    }
}

/// The bot side is replaced (the `invite` profile bridges the caller to an agent leg): frames
/// toward it go to `to_bot` in `format` from now on, and frames from it are read in `format`.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct SetBotSide {
    /// The new side's audio format.
    pub format: AudioFormat,
    /// Where the caller's audio goes now.
    pub to_bot: Recipient<AudioFrame>,
}

impl Handler<SetBotSide> for TranscoderLeg {
    type Result = ();

    fn handle(&mut self, msg: SetBotSide, _ctx: &mut Self::Context) {
        let ingress = self.up.from;
        match (
            Path::new(ingress, msg.format, "up"),
            Path::new(msg.format, ingress, "down"),
        ) {
            (Ok(up), Ok(down)) => {
                self.up = up;
                self.down = down;
                self.to_bot = msg.to_bot;
            }
            (Err(e), _) | (_, Err(e)) => {
                // The agent leg offers only codecs the transcoder knows; keep the old side.
                tracing::warn!(error = %e, "cannot transcode to the new bot side; not switched");
            }
        }
    }
}

/// A re-INVITE changed the caller's codec: rebuild both pipelines for the new ingress format.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct SetIngressFormat(pub AudioFormat);

impl Handler<SetIngressFormat> for TranscoderLeg {
    type Result = ();

    fn handle(&mut self, msg: SetIngressFormat, _ctx: &mut Self::Context) {
        let bot_format = self.down.from;
        match (
            Path::new(msg.0, bot_format, "up"),
            Path::new(bot_format, msg.0, "down"),
        ) {
            (Ok(up), Ok(down)) => {
                self.reframer = Reframer::for_format(msg.0);
                self.up = up;
                self.down = down;
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot transcode the new ingress codec; keeping the old pipelines");
            }
        }
    }
}
