//! What a call tells its SIP bot leg ([`SipBot`](crate::bots::SipBot)) about itself: the ids
//! the bot platform correlates on and where the bot's media lives.

use std::time::Duration;

use voxgate_engine::sip::message::SipUri;

use super::Call;
use crate::bots::SipBotCall;

impl Call {
    /// The session id, DID and caller for the INVITE's headers, and the media settings.
    pub(super) fn sip_bot_call(&self) -> SipBotCall {
        let media = &self.p.node.config.media;
        let listen = self.p.endpoint.ip();
        SipBotCall {
            media_ip: self
                .p
                .node
                .config
                .node
                .public_address
                .or((!listen.is_unspecified()).then_some(listen)),
            session_id: self.session_id.clone(),
            did: self.p.did.clone(),
            caller: self.caller_user().unwrap_or_default(),
            local_ip: self.p.local_ip,
            rtp_ports: self.p.rtp_ports,
            jitter_ms: (media.jitter_min_ms, media.jitter_max_ms),
            rtcp_interval: Duration::from_secs(media.rtcp_interval_secs.max(1)),
        }
    }

    /// The user part of the caller's From URI (`+15551234567`), if it has one.
    fn caller_user(&self) -> Option<String> {
        let (_, invite) = self.invite.as_ref()?;
        let from = invite.from().ok()?;
        let uri = SipUri::parse(&from.uri).ok()?;
        uri.user.map(str::to_owned)
    }
}
