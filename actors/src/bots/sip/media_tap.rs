//! [`BotMediaTap`]: the owner of a SIP bot's RTP leg. The RTP leg reports everything to one
//! owner by message type, and the [`super::SipBot`] already takes `AudioFrame` and `Dtmf` from
//! the caller's side; the tap takes the bot's side instead: its audio goes on to the transcoder
//! (toward the caller), its end goes to the bot leg tagged with the dial it belongs to, so that a
//! leg torn down by a restart is not mistaken for the new one failing.

use actix::{Actor, ActorContext, Addr, Context, Handler, Message, Recipient};

use super::SipBot;
use crate::calls::messages::{AudioFrame, Dtmf, ExitCause, LegExited, MarkPlayed};
use crate::calls::transcoder::Downstream;
use crate::media::MediaStats;
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
    bot: Addr<SipBot>,
}

impl BotMediaTap {
    /// A tap for the RTP leg of dial `generation`.
    pub fn new(generation: u64, to_caller: Recipient<Downstream>, bot: Addr<SipBot>) -> Self {
        BotMediaTap {
            generation,
            to_caller,
            bot,
        }
    }
}

impl Actor for BotMediaTap {
    type Context = Context<Self>;
}

impl Handler<AudioFrame> for BotMediaTap {
    type Result = ();
    fn handle(&mut self, frame: AudioFrame, _ctx: &mut Context<Self>) {
        if self.to_caller.try_send(Downstream(frame)).is_err() {
            metrics::counter!(FRAMES_DROPPED, "leg" => "bot").increment(1);
        }
    }
}

impl Handler<Dtmf> for BotMediaTap {
    type Result = ();
    fn handle(&mut self, digit: Dtmf, _ctx: &mut Context<Self>) {
        // A bot's key presses mean nothing to the caller's side.
        tracing::debug!(digit = ?digit.digit, "DTMF from the SIP bot ignored");
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
            "SIP bot media ended"
        );
    }
}

impl Handler<LegExited> for BotMediaTap {
    type Result = ();
    fn handle(&mut self, exit: LegExited, ctx: &mut Context<Self>) {
        self.bot.do_send(BotMediaExited {
            generation: self.generation,
            cause: exit.cause,
        });
        ctx.stop();
    }
}
