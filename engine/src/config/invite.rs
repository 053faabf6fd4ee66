//! `[trunks.invite]`: how the `invite` profile hands a caller to an agent. The node places a
//! call of its own toward the agent (or queue), plays ringback to the caller while it rings and
//! bridges the two calls once the agent answers; a busy, refusing or silent agent moves on to
//! the next target of the chain and, past the last one, to the fallback (BYE or REFER).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// What the caller hears while the agent's phone rings (and no early media comes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ringback {
    /// A ringing tone (425 Hz, 1 s on, 4 s off), synthesised once per agent leg.
    #[default]
    Tone,
    /// Nothing (only for platforms that play their own prompt as early media).
    None,
}

/// What happens when every target failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InviteFallback {
    /// End the caller's call with BYE and the reason header, as `zoom-cc` does.
    #[default]
    Bye,
    /// Transfer the caller by REFER (the `[trunks.refer]` settings), then BYE.
    Refer,
}

/// The `invite` profile's settings of one trunk.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InviteConfig {
    /// The targets tried in order when the bot names none (a bot-given target is tried first):
    /// numbers (sent as `sip:NUMBER@host:port`) or `sip:` URIs.
    pub targets: Vec<String>,
    /// The outbound trunk's host (IP address or resolvable name) for number targets.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Transport toward it; only `"udp"` is served (the node opens no outgoing TCP yet).
    pub transport: String,
    /// The one codec offered to the agent (`PCMU`, `PCMA`, `opus`, `G722`); the caller's codec is
    /// transcoded to it when they differ.
    pub codec: String,
    /// How long one target may ring before it is cancelled and the next one is tried.
    pub ring_timeout_secs: u64,
    /// What the caller hears while it rings.
    pub ringback: Ringback,
    /// Send a `User-to-User` header (RFC 7433, `;encoding=hex`) with the session id and the
    /// bot's variables as JSON.
    pub uui: bool,
    /// Past the last target.
    pub fallback: InviteFallback,
    /// Extra headers of every INVITE to an agent (the bot's own come after them).
    pub headers: BTreeMap<String, String>,
    /// The INVITE header carrying the call's session id (empty: not sent).
    pub session_header: String,
    /// Digest user for a 401/407 from the agent side (empty: such an answer fails the target).
    pub username: String,
    /// Its password.
    pub password: String,
}

impl Default for InviteConfig {
    fn default() -> Self {
        InviteConfig {
            targets: Vec::new(),
            host: String::new(),
            port: 5060,
            transport: "udp".into(),
            codec: "PCMU".into(),
            ring_timeout_secs: 30,
            ringback: Ringback::Tone,
            uui: false,
            fallback: InviteFallback::Bye,
            headers: BTreeMap::new(),
            session_header: "X-Session-Id".into(),
            username: String::new(),
            password: String::new(),
        }
    }
}

impl InviteConfig {
    /// The digest credentials, when a user is configured.
    pub fn credentials(&self) -> Option<(String, String)> {
        (!self.username.is_empty()).then(|| (self.username.clone(), self.password.clone()))
    }

    /// [`InviteConfig::ring_timeout_secs`] as a duration.
    pub fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.ring_timeout_secs)
    }

    /// Configuration problems, described for `check-config`.
    pub(super) fn problems(&self, trunk: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.ring_timeout_secs == 0 || self.ring_timeout_secs > 600 {
            problems.push(format!(
                "trunk `{trunk}`: [trunks.invite] ring_timeout_secs must be between 1 and 600"
            ));
        }
        if !self.transport.eq_ignore_ascii_case("udp") {
            problems.push(format!(
                "trunk `{trunk}`: [trunks.invite] transport must be \"udp\" (got {:?})",
                self.transport
            ));
        }
        if !super::KNOWN_CODECS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&self.codec))
        {
            problems.push(format!(
                "trunk `{trunk}`: [trunks.invite] unknown codec `{}`",
                self.codec
            ));
        }
        if self.host.contains(['@', '<', '>', ' ', ';', '?', ':']) {
            problems.push(format!(
                "trunk `{trunk}`: [trunks.invite] host must be a bare host (the port is `port`)"
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let c: InviteConfig = toml::from_str("").unwrap();
        assert_eq!(c.ring_timeout(), Duration::from_secs(30));
        assert_eq!(c.ringback, Ringback::Tone);
        assert_eq!(c.fallback, InviteFallback::Bye);
        assert!(c.problems("t").is_empty());
        let c: InviteConfig = toml::from_str(
            "ring_timeout_secs = 0\nhost = \"a@b\"\ntransport = \"tcp\"\ncodec = \"GSM\"\n\
             ringback = \"none\"\nfallback = \"refer\"",
        )
        .unwrap();
        assert_eq!(c.problems("t").len(), 4);
        assert_eq!(
            (c.ringback, c.fallback),
            (Ringback::None, InviteFallback::Refer)
        );
        assert!(toml::from_str::<InviteConfig>("ringback = \"music\"").is_err());
    }
}
