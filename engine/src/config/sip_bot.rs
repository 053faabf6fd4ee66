//! `[bots.sip]`: a bot reached over SIP (`kind = "sip"`): voxgate places a second call to the
//! bot's URI and bridges the caller to it (B2BUA), and reads the bot's BYE or REFER as the
//! hand-back.

use serde::Deserialize;

/// The settings of a SIP bot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipBotConfig {
    /// The bot's SIP URI, `sip:bot@HOST:PORT`; HOST must be an IP address or resolvable name.
    pub uri: String,
    /// Transport toward the bot. Only `"udp"` is served: the node opens no outgoing TCP
    /// connections yet.
    pub transport: String,
    /// The one codec offered to the bot (`PCMU`, `PCMA`, `opus`, `G722`); it is the bot's
    /// audio format, and the caller's codec is transcoded to it when they differ.
    pub codec: String,
    /// How long the bot may take to answer the INVITE finally, in ms; then it is cancelled and
    /// the bot leg has failed.
    pub connect_timeout_ms: u64,
    /// No RTP from the bot for this long fails the bot leg, in seconds (0: never).
    pub rtp_timeout_secs: u64,
    /// Headers of the bot's BYE or REFER that carry the hand-back reason, first found wins.
    pub reason_headers: Vec<String>,
    /// INVITE header carrying the call's session id (empty: not sent).
    pub session_header: String,
    /// INVITE header carrying the dialled number (empty: not sent).
    pub did_header: String,
    /// INVITE header carrying the caller (the user part of the caller's From; empty: not sent).
    pub caller_header: String,
}

impl Default for SipBotConfig {
    fn default() -> Self {
        SipBotConfig {
            uri: String::new(),
            transport: "udp".into(),
            codec: "PCMU".into(),
            connect_timeout_ms: 5000,
            rtp_timeout_secs: 0,
            reason_headers: vec!["kore-reason".into()],
            session_header: "X-Session-Id".into(),
            did_header: "X-DID".into(),
            caller_header: "X-Caller".into(),
        }
    }
}

impl SipBotConfig {
    /// What is wrong with this bot's SIP settings, one line per problem.
    pub fn problems(&self, bot: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.uri.trim().starts_with("sip:") {
            problems.push(format!(
                "bot `{bot}`: kind = \"sip\" needs [bots.sip] uri = \"sip:…\" (got {:?})",
                self.uri
            ));
        }
        if !self.transport.eq_ignore_ascii_case("udp") {
            problems.push(format!(
                "bot `{bot}`: [bots.sip] transport {:?} is not served (only \"udp\")",
                self.transport
            ));
        }
        if !["PCMU", "PCMA", "OPUS", "G722"].contains(&self.codec.to_ascii_uppercase().as_str()) {
            problems.push(format!(
                "bot `{bot}`: [bots.sip] codec {:?} is not one of PCMU, PCMA, opus, G722",
                self.codec
            ));
        }
        if self.connect_timeout_ms == 0 {
            problems.push(format!(
                "bot `{bot}`: [bots.sip] connect_timeout_ms must be > 0"
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_a_uri() {
        let c = SipBotConfig::default();
        assert_eq!(c.reason_headers, vec!["kore-reason".to_owned()]);
        let p = c.problems("b");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("uri"));
    }

    #[test]
    fn tcp_and_unknown_codecs_are_refused() {
        let c = SipBotConfig {
            uri: "sip:bot@127.0.0.1:5070".into(),
            transport: "tcp".into(),
            codec: "GSM".into(),
            ..SipBotConfig::default()
        };
        let p = c.problems("b");
        assert!(p.iter().any(|l| l.contains("transport")), "{p:?}");
        assert!(p.iter().any(|l| l.contains("codec")), "{p:?}");
    }
}
