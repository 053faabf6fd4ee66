//! [`BotMediaTap`]: the owner of the RTP leg of a call the node placed (a SIP bot's, or the
//! `invite` profile's agent leg). The RTP leg reports everything to one owner by message type,
//! and the leg that placed the call already takes `AudioFrame` and `Dtmf` from the caller's
//! side; the tap takes the far side instead: its audio goes on to the transcoder (toward the
//! caller), its key presses to whoever relays them (an agent's; a bot's are dropped), its end to
//! the placing leg tagged with the dial it belongs to, so that a leg torn down by a restart is
//! not mistaken for the new one failing.

use actix::{Actor, ActorContext, Addr, Context, Handler, Message, Recipient};

use crate::calls::messages::{AudioFrame, Dtmf, ExitCause, LegExited, MarkPlayed};
use crate::calls::transcoder::Downstream;
use crate::media::{MediaStats, RtpLeg, RtpLegConfig, RtpLegOwner, RtpPair};
use crate::metrics::FRAMES_DROPPED;

/// The bot's RTP leg of dial `generation` has ended.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct BotMediaExited {
    /// Which dial.
    pub generation: u64,
    /// Why.
    pub cause: ExitCause,
}

/// See the module documentation.
pub struct BotMediaTap {
    generation: u64,
    to_caller: Recipient<Downstream>,
    owner: Recipient<BotMediaExited>,
    dtmf: Option<Recipient<Dtmf>>,
    monitor: Option<Recipient<Downstream>>,
}

impl BotMediaTap {
    /// A tap for the RTP leg of dial `generation`, reporting its end to `owner` and passing
    /// the far side's key presses to `dtmf` (`None`: dropped).
    pub fn new(
        generation: u64,
        to_caller: Recipient<Downstream>,
        owner: Recipient<BotMediaExited>,
        dtmf: Option<Recipient<Dtmf>>,
    ) -> Self {
        BotMediaTap {
            generation,
            to_caller,
            owner,
            dtmf,
            monitor: None,
        }
    }

    /// Copies the far side's audio to `monitor` too (agent assist's mixer).
    pub fn with_monitor(mut self, monitor: Recipient<Downstream>) -> Self {
        self.monitor = Some(monitor);
        self
    }
}

impl BotMediaTap {
    /// Starts the tap and the RTP leg on `pair` it owns; the leg's address takes the near
    /// side's audio and key presses.
    pub fn start_rtp(self, pair: RtpPair, config: RtpLegConfig) -> Addr<RtpLeg> {
        let tap = self.start();
        RtpLeg::new(
            pair,
            config,
            RtpLegOwner {
                frames: tap.clone().recipient(),
                dtmf: tap.clone().recipient(),
                marks: tap.clone().recipient(),
                stats: tap.clone().recipient(),
                exited: tap.recipient(),
            },
        )
        .start()
    }
}

impl Actor for BotMediaTap {
    type Context = Context<Self>;
}

impl Handler<AudioFrame> for BotMediaTap {
    type Result = ();
    fn handle(&mut self, frame: AudioFrame, _ctx: &mut Context<Self>) {
        if let Some(monitor) = &self.monitor {
            // A stack copy of the inline frame: no heap allocation.
            if monitor.try_send(Downstream(frame.clone())).is_err() {
                metrics::counter!(FRAMES_DROPPED, "leg" => "assist").increment(1);
            }
        }
        if self.to_caller.try_send(Downstream(frame)).is_err() {
            metrics::counter!(FRAMES_DROPPED, "leg" => "bot").increment(1);
        }
    }
}

impl Handler<Dtmf> for BotMediaTap {
    type Result = ();
    fn handle(&mut self, digit: Dtmf, _ctx: &mut Context<Self>) {
        match &self.dtmf {
            Some(to) => to.do_send(digit),
            // A bot's key presses mean nothing to the caller's side.
            None => tracing::debug!(digit = ?digit.digit, "DTMF from the SIP bot ignored"),
        }
    }
}

impl Handler<MarkPlayed> for BotMediaTap {
    type Result = ();
    fn handle(&mut self, _: MarkPlayed, _ctx: &mut Context<Self>) {}
}

impl Handler<MediaStats> for BotMediaTap {
    type Result = ();
    fn handle(&mut self, stats: MediaStats, _ctx: &mut Context<Self>) {
        tracing::debug!(
            received = stats.packets_received,
            sent = stats.packets_sent,
            "placed call's media ended"
        );
    }
}

impl Handler<LegExited> for BotMediaTap {
    type Result = ();
    fn handle(&mut self, exit: LegExited, ctx: &mut Context<Self>) {
        self.owner.do_send(BotMediaExited {
            generation: self.generation,
            cause: exit.cause,
        });
        ctx.stop();
    }
}
