//! The bot side of a call's tree: the transcoder and the bot leg behind it, wired to whatever
//! ingress leg carries the caller (the RTP leg of a SIP call, or a Talkdesk stream) and to the
//! supervisor that restarts or escalates them. Both ingress kinds build it here, so the bot side
//! of a call is wired in one place.

use std::rc::Rc;
use std::sync::Arc;

use actix::{Actor, Addr, AsyncContext, Context, Recipient};
use voxgate_codecs::AudioFormat;
use voxgate_engine::config::{BotConfig, BotKind};

use super::messages::{
    AudioFrame, Clear, Dtmf, Escalate, Hangup, LegExited, Mark, MarkPlayed, StopLeg, Transcript,
};
use super::transcoder::{Downstream, TranscoderLeg};
use crate::bots::{
    BotOwner, BuiltinBot, ListenOnly, RestartBot, SipBot, SipBotCall, StreamInfo, WsBot,
};
use crate::media::{BotClock, FrameRing};
use crate::sip::endpoint::SipEndpoint;

/// Caller frames waiting for a directly wired builtin bot (it echoes each as soon as it runs).
const TO_BOT_FRAMES: usize = 8;
/// Bot frames waiting for the RTP leg's tick: two greeting bursts; the bot retries the rest
/// of its greeting as the leg drains the ring (the echo passes through within one tick).
const TO_CALLER_FRAMES: usize = 16;

/// A call's bot leg, by kind.
pub(crate) enum BotLeg {
    /// The in-process demo bot.
    Builtin(Addr<BuiltinBot>),
    /// Keeps its address across restarts (see [`WsBot`]).
    Websocket(Addr<WsBot>),
    /// A second SIP dialog toward the bot; keeps its address across restarts too.
    Sip(Addr<SipBot>),
}

impl BotLeg {
    /// Tells the leg to stop.
    pub(crate) fn stop(&self) {
        match self {
            BotLeg::Builtin(a) => a.do_send(StopLeg),
            BotLeg::Websocket(a) => a.do_send(StopLeg),
            BotLeg::Sip(a) => a.do_send(StopLeg),
        }
    }

    /// Passes a caller key press on.
    pub(crate) fn dtmf(&self, digit: Dtmf) {
        match self {
            BotLeg::Builtin(a) => a.do_send(digit),
            BotLeg::Websocket(a) => a.do_send(digit),
            BotLeg::Sip(a) => a.do_send(digit),
        }
    }

    /// Agent assist: a WebSocket bot turns listen-only and its audio input is returned (the
    /// other kinds have nothing to listen with and get `None`).
    pub(crate) fn listen_only(&self) -> Option<Recipient<AudioFrame>> {
        match self {
            BotLeg::Websocket(a) => {
                a.do_send(ListenOnly);
                Some(a.clone().recipient())
            }
            BotLeg::Builtin(_) | BotLeg::Sip(_) => None,
        }
    }

    /// Where a restart is asked for; the builtin bot cannot fail that way.
    pub(crate) fn restarter(&self) -> Option<Recipient<RestartBot>> {
        match self {
            BotLeg::Builtin(_) => None,
            BotLeg::Websocket(a) => Some(a.clone().recipient()),
            BotLeg::Sip(a) => Some(a.clone().recipient()),
        }
    }
}

/// What a SIP bot leg needs of the call: its ids and media settings, and the endpoint that
/// places the bot's dialog. Only SIP calls have them.
pub(crate) struct SipBotInputs {
    /// The call's ids and media settings.
    pub(crate) call: SipBotCall,
    /// The SIP endpoint.
    pub(crate) endpoint: Addr<SipEndpoint>,
}

/// Where the bot side sends toward the caller: the ingress leg's inputs.
pub(crate) struct IngressInputs {
    /// Caller-bound audio, in the ingress format.
    pub(crate) audio: Recipient<AudioFrame>,
    /// Marks, queued behind that audio.
    pub(crate) marks: Recipient<Mark>,
    /// Barge-in.
    pub(crate) clear: Recipient<Clear>,
    /// Where a bot speaking the ingress format may send its audio directly, skipping the
    /// transcoder (the ingress hands frames of another format on to it); `None` keeps every
    /// frame on the transcoder.
    pub(crate) bot_audio: Option<Recipient<Downstream>>,
}

/// The supervisor's inputs: what the bot asks for and who is told when a leg exits.
pub(crate) struct SupervisorInputs {
    /// Hand the caller to a human.
    pub(crate) escalate: Recipient<Escalate>,
    /// End the call.
    pub(crate) hangup: Recipient<Hangup>,
    /// Session record lines.
    pub(crate) transcript: Recipient<Transcript>,
    /// Leg exits (transcoder and bot).
    pub(crate) exited: Recipient<LegExited>,
}

/// The running bot side.
pub(crate) struct BotSide {
    /// Ingress format ⇄ bot format; the ingress sends caller audio here.
    pub(crate) transcoder: Addr<TranscoderLeg>,
    /// The bot.
    pub(crate) bot: BotLeg,
    /// Where the ingress reports played marks.
    pub(crate) marks_to_bot: Recipient<MarkPlayed>,
    /// Set when the bot (builtin or WebSocket) speaks the ingress format and the ingress takes it directly
    /// ([`IngressInputs::bot_audio`]): the rings between them, caller → bot and bot → caller.
    pub(crate) direct_bot: Option<(Arc<FrameRing>, Arc<FrameRing>)>,
    /// With `direct_bot`, for a bot the ingress's clock drives (the WebSocket bot).
    pub(crate) bot_clock: Option<Rc<dyn BotClock>>,
}

/// Starts the transcoder and the bot for `bot` (the builtin bot when `None`), on the current
/// arbiter. `info` gives a WebSocket bot its `start` ids and parameters; `sip` gives a SIP bot
/// what it needs (a SIP bot on an ingress without it is an error).
pub(crate) fn start(
    bot: Option<BotConfig>,
    ingress_format: AudioFormat,
    ingress: IngressInputs,
    supervisor: SupervisorInputs,
    sip: Option<SipBotInputs>,
    info: impl FnOnce(&BotConfig) -> StreamInfo,
) -> Result<BotSide, String> {
    let kind = bot.as_ref().map_or(BotKind::Builtin, |b| b.kind);
    let builtin = !matches!((kind, &bot), (BotKind::Sip | BotKind::Websocket, Some(_)));
    // Addresses are taken before the actors run so each can be given the others' recipients.
    let builtin_ctx = Context::<BuiltinBot>::new();
    let ws_ctx = Context::<WsBot>::new();
    let sip_ctx = Context::<SipBot>::new();
    let (bot_format, to_bot, marks_to_bot) = match kind {
        BotKind::Sip => {
            let format = bot
                .as_ref()
                .map_or(AudioFormat::Pcmu, |b| SipBot::audio_format(&b.sip));
            let addr = sip_ctx.address();
            (format, addr.clone().recipient(), addr.recipient())
        }
        BotKind::Websocket => {
            // The WebSocket bot converts between the caller's format and its stream's itself
            // (`WsBot::converting_for`): to the rest of the tree it speaks the caller's format.
            let addr = ws_ctx.address();
            (ingress_format, addr.clone().recipient(), addr.recipient())
        }
        _ => {
            let addr = builtin_ctx.address();
            (
                BuiltinBot::format_for(ingress_format),
                addr.clone().recipient(),
                addr.recipient(),
            )
        }
    };
    // The builtin bot in the caller's format and the WebSocket bot (which converts itself)
    // need no conversion here: their frames skip the
    // transcoder both ways, two actor hops fewer per echoed frame. The transcoder stays in
    // the tree for marks, for frames of other sizes or formats (the ingress hands those to
    // it: a caller packetising at 30 ms, a codec changed by re-INVITE) and for control.
    let websocket = matches!((kind, &bot), (BotKind::Websocket, Some(_)));
    let direct = (builtin || websocket) && bot_format == ingress_format;
    // Whole frames only: a format without a fixed frame size keeps every frame on messages.
    let direct_bot = bot_format.frame_bytes().filter(|_| direct).map(|bytes| {
        (
            FrameRing::new(bot_format, bytes, TO_BOT_FRAMES),
            FrameRing::new(bot_format, bytes, TO_CALLER_FRAMES),
        )
    });
    let transcoder = TranscoderLeg::new(
        ingress_format,
        bot_format,
        to_bot,
        ingress.audio,
        supervisor.exited.clone(),
    )
    .map_err(|e| format!("transcoder: {e}"))?
    .with_marks(ingress.marks)
    .start();
    let (bot_audio, direct_bot) = match ingress.bot_audio.filter(|_| direct_bot.is_some()) {
        Some(to_ingress) => (to_ingress, direct_bot),
        None => (transcoder.clone().recipient(), None),
    };
    let owner = BotOwner {
        audio: bot_audio,
        marks: transcoder.clone().recipient(),
        clear: ingress.clear,
        escalate: supervisor.escalate,
        hangup: supervisor.hangup,
        transcript: supervisor.transcript,
        exited: supervisor.exited,
    };
    let mut bot_clock = None;
    let bot = match (kind, bot) {
        (BotKind::Sip, Some(config)) => {
            let sip = sip.ok_or("a SIP bot needs a SIP call (not available on this ingress)")?;
            BotLeg::Sip(sip_ctx.run(SipBot::new(config.sip, sip.call, owner, sip.endpoint)))
        }
        (BotKind::Websocket, Some(config)) => {
            let info = info(&config);
            let mut bot = WsBot::new(config.websocket, info, owner)
                .converting_for(ingress_format)
                .map_err(|e| format!("bot: {e}"))?;
            if let Some((to_bot, to_caller)) = &direct_bot {
                bot = bot.with_rings(Arc::clone(to_bot), Arc::clone(to_caller));
                bot_clock = Some(bot.clock());
            }
            BotLeg::Websocket(ws_ctx.run(bot))
        }
        (_, config) => {
            let mut builtin = BuiltinBot::new(
                config.map(|b| b.builtin).unwrap_or_default(),
                bot_format,
                owner,
            )
            .map_err(|e| format!("bot: {e}"))?;
            if let Some((to_bot, to_caller)) = &direct_bot {
                builtin = builtin.with_rings(Arc::clone(to_bot), Arc::clone(to_caller));
            }
            BotLeg::Builtin(builtin_ctx.run(builtin))
        }
    };
    Ok(BotSide {
        transcoder,
        bot,
        marks_to_bot,
        direct_bot,
        bot_clock,
    })
}
