//! [`AssistMixer`]: agent assist (`assist = true`). Once the caller is bridged to the agent, the
//! listen-only bot hears both of them as one stream in its own format, as a media-stream bot
//! expects. The agent leg copies the caller's audio ([`Upstream`]) and the agent's
//! ([`Downstream`]) here, both in the agent leg's format; each side is decoded into a short
//! queue of PCM frames at the bot's rate, and every 20 ms the oldest frame of each is summed
//! (saturating) and encoded for the bot. A side with nothing queued adds silence, so a silent
//! or held side does not stall the other; a side that runs ahead (clock drift) loses its oldest
//! frame, counted.
//!
//! Every buffer (queues, sum, output frame, codec states) is made in [`AssistMixer::new`]: a
//! frame costs its actor envelope and nothing more on the heap.

use std::collections::VecDeque;
use std::time::Duration;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Recipient};
use voxgate_codecs::frame::MAX_FRAME_SAMPLES;
use voxgate_codecs::{AudioFormat, ByteOrder, CodecError, EncodedFrame, PcmFrame, Transcoder};

use crate::calls::messages::{AudioFrame, StopLeg};
use crate::calls::transcoder::{Downstream, Upstream};
use crate::metrics::FRAMES_DROPPED;

/// Frames (20 ms) one side may run ahead of the mix before its oldest is dropped.
const DEPTH: usize = 5;

/// One speaker: its decoder and the PCM frames waiting for the next tick.
struct Side {
    from: AudioFormat,
    decoder: Transcoder,
    queue: VecDeque<PcmFrame>,
    scratch: PcmFrame,
}

impl Side {
    fn new(from: AudioFormat, bot: AudioFormat) -> Result<Side, CodecError> {
        Ok(Side {
            from,
            decoder: Transcoder::new(from, bot)?,
            queue: VecDeque::with_capacity(DEPTH),
            scratch: PcmFrame::silence(bot.pcm_rate()),
        })
    }

    /// Decodes `frame` onto the queue; lost frames (empty) and other formats are skipped.
    fn push(&mut self, frame: &AudioFrame) {
        let bytes = frame.0.bytes();
        if bytes.is_empty() || frame.0.format() != self.from {
            return;
        }
        if let Err(e) = self.decoder.decode_to_pcm(bytes, &mut self.scratch) {
            tracing::debug!(error = %e, "assist frame not decoded");
            return;
        }
        if self.queue.len() == DEPTH {
            self.queue.pop_front();
            metrics::counter!(FRAMES_DROPPED, "leg" => "assist").increment(1);
        }
        // Within the capacity reserved in `new`: no allocation.
        self.queue.push_back(self.scratch.clone());
    }
}

/// See the module documentation.
pub struct AssistMixer {
    caller: Side,
    agent: Side,
    encoder: Transcoder,
    mix: [i16; MAX_FRAME_SAMPLES],
    samples: usize,
    out: EncodedFrame,
    to_bot: Recipient<AudioFrame>,
}

impl AssistMixer {
    /// A mixer of two sides in `agent_format` into `bot_format`, sent to `to_bot`.
    pub fn new(
        agent_format: AudioFormat,
        bot_format: AudioFormat,
        to_bot: Recipient<AudioFrame>,
    ) -> Result<AssistMixer, CodecError> {
        let rate = bot_format.pcm_rate();
        let pcm = AudioFormat::L16 {
            rate,
            order: ByteOrder::BigEndian,
        };
        Ok(AssistMixer {
            caller: Side::new(agent_format, bot_format)?,
            agent: Side::new(agent_format, bot_format)?,
            encoder: Transcoder::new(pcm, bot_format)?,
            mix: [0; MAX_FRAME_SAMPLES],
            samples: rate.frame_samples(),
            out: EncodedFrame::empty(bot_format),
            to_bot,
        })
    }

    /// One 20 ms tick: the oldest frame of each side, summed, to the bot.
    fn tick(&mut self) {
        let (caller, agent) = (self.caller.queue.pop_front(), self.agent.queue.pop_front());
        if caller.is_none() && agent.is_none() {
            return;
        }
        let n = self.samples;
        self.mix[..n].fill(0);
        for frame in [caller, agent].iter().flatten() {
            for (m, s) in self.mix[..n].iter_mut().zip(frame.samples()) {
                *m = m.saturating_add(*s);
            }
        }
        let encoded = self
            .encoder
            .encode_pcm(&self.mix[..n], self.out.buffer_mut())
            .and_then(|len| self.out.set_len(len));
        if let Err(e) = encoded {
            tracing::debug!(error = %e, "assist mix not encoded");
            return;
        }
        // A stack copy of the inline frame: no heap allocation.
        if self.to_bot.try_send(AudioFrame(self.out.clone())).is_err() {
            metrics::counter!(FRAMES_DROPPED, "leg" => "assist").increment(1);
        }
    }
}

impl Actor for AssistMixer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(20), |mixer, _| mixer.tick());
    }
}

/// The caller's audio (in the agent leg's format).
impl Handler<Upstream> for AssistMixer {
    type Result = ();
    fn handle(&mut self, msg: Upstream, _ctx: &mut Context<Self>) {
        self.caller.push(&msg.0);
    }
}

/// The agent's audio (in the agent leg's format).
impl Handler<Downstream> for AssistMixer {
    type Result = ();
    fn handle(&mut self, msg: Downstream, _ctx: &mut Context<Self>) {
        self.agent.push(&msg.0);
    }
}

impl Handler<StopLeg> for AssistMixer {
    type Result = ();
    fn handle(&mut self, _: StopLeg, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use actix::Actor;

    use super::*;

    /// Collects what the mixer sends the bot.
    struct Sink(Arc<Mutex<Vec<EncodedFrame>>>);
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<AudioFrame> for Sink {
        type Result = ();
        fn handle(&mut self, msg: AudioFrame, _ctx: &mut Context<Self>) {
            self.0.lock().unwrap().push(msg.0);
        }
    }

    fn ulaw_frame(level: i16) -> AudioFrame {
        let bytes = [voxgate_codecs::g711::ulaw_encode_sample(level); 160];
        AudioFrame(EncodedFrame::from_bytes(AudioFormat::Pcmu, &bytes).unwrap())
    }

    fn mixer() -> (AssistMixer, Arc<Mutex<Vec<EncodedFrame>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(Arc::clone(&got)).start();
        let m = AssistMixer::new(AudioFormat::Pcmu, AudioFormat::L16_16K, sink.recipient());
        (m.unwrap(), got)
    }

    /// The last sample of an L16 (big-endian) frame: past the resampler's delay.
    fn last_sample(frame: &EncodedFrame) -> i16 {
        let b = frame.bytes();
        i16::from_be_bytes([b[b.len() - 2], b[b.len() - 1]])
    }

    #[actix_rt::test]
    async fn both_sides_are_summed_into_the_bots_format() {
        let (mut m, got) = mixer();
        for _ in 0..2 {
            m.caller.push(&ulaw_frame(1000));
            m.agent.push(&ulaw_frame(2000));
        }
        m.tick();
        m.tick();
        for _ in 0..2 {
            m.agent.push(&ulaw_frame(-500));
        }
        m.tick();
        m.tick();
        m.tick();
        actix_rt::task::yield_now().await;
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 4, "an empty tick sends nothing");
        assert!(
            got.iter().all(|f| f.bytes().len() == 640),
            "20 ms of L16/16k"
        );
        // µ-law steps make the levels approximate.
        let (both, agent) = (last_sample(&got[1]), last_sample(&got[3]));
        assert!((2800..=3200).contains(&both), "{both}");
        assert!((-560..=-440).contains(&agent), "{agent}");
    }

    #[actix_rt::test]
    async fn a_side_running_ahead_loses_its_oldest_frames() {
        let (mut m, _got) = mixer();
        for _ in 0..DEPTH + 3 {
            m.agent.push(&ulaw_frame(100));
        }
        m.caller
            .push(&AudioFrame(EncodedFrame::empty(AudioFormat::Pcmu)));
        assert_eq!(m.agent.queue.len(), DEPTH);
        assert!(m.caller.queue.is_empty(), "a lost frame is not queued");
    }
}
