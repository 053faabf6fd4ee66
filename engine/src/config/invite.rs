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
    /// The WAV file `ringback_file` (PCM 16-bit mono, 8 or 16 kHz), in a loop.
    File,
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
    /// Transport toward it (and toward URI targets): `"udp"`, `"tcp"` or `"tls"` (the node
    /// opens the connection, or reuses one of that transport open to the same address).
    pub transport: String,
    /// `transport = "tls"`: PEM file of the CA certificates the agent side's server certificate
    /// must chain to (required with TLS).
    pub tls_ca: String,
    /// `transport = "tls"`: the name the agent side's certificate must carry, sent as SNI
    /// (empty: `host`, or each URI target's host).
    pub tls_server_name: String,
    /// `transport = "tls"`: a client certificate (PEM chain) the node shows when the agent side
    /// asks for one (mutual TLS); empty: none is shown.
    pub tls_cert: String,
    /// The private key (PEM) of `tls_cert`.
    pub tls_key: String,
    /// The one codec offered to the agent (`PCMU`, `PCMA`, `opus`, `G722`); the caller's codec is
    /// transcoded to it when they differ.
    pub codec: String,
    /// How long one target may ring before it is cancelled and the next one is tried.
    pub ring_timeout_secs: u64,
    /// What the caller hears while it rings.
    pub ringback: Ringback,
    /// The WAV file played in a loop when `ringback = "file"`.
    pub ringback_file: String,
    /// Keep the bot (a WebSocket bot) listen-only beside the agent: it hears the caller and
    /// the agent mixed, its audio and hand-back requests are ignored, its transcripts are kept.
    pub assist: bool,
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
            tls_ca: String::new(),
            tls_server_name: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            codec: "PCMU".into(),
            ring_timeout_secs: 30,
            ringback: Ringback::Tone,
            ringback_file: String::new(),
            assist: false,
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

    /// The samples of `ringback_file`, checked: 16-bit mono PCM at 8 or 16 kHz.
    pub fn ringback_wav(&self) -> Result<voxgate_codecs::wav::Wav, String> {
        let path = self.ringback_file.trim();
        if path.is_empty() {
            return Err("ringback = \"file\" needs ringback_file".into());
        }
        let bytes = std::fs::read(path).map_err(|e| format!("ringback_file {path:?}: {e}"))?;
        voxgate_codecs::wav::read(&bytes).map_err(|e| format!("ringback_file {path:?}: {e}"))
    }

    /// Whether the agent side is called over TLS.
    pub fn uses_tls(&self) -> bool {
        self.transport.eq_ignore_ascii_case("tls")
    }

    /// What is wrong with the TLS settings (their PEM contents are checked when the node
    /// starts, where rustls reads them).
    fn tls_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let set = |v: &str| !v.trim().is_empty();
        if !self.uses_tls() {
            if set(&self.tls_ca) || set(&self.tls_cert) || set(&self.tls_key) {
                problems.push("tls_ca, tls_cert and tls_key need transport = \"tls\"".into());
            }
            return problems;
        }
        if !set(&self.tls_ca) {
            problems.push("transport = \"tls\" needs tls_ca (the agent side's CA, PEM)".into());
        }
        if set(&self.tls_cert) != set(&self.tls_key) {
            problems.push("tls_cert and tls_key go together".into());
        }
        if !set(&self.tls_server_name) && self.host.trim().is_empty() && self.targets.is_empty() {
            problems.push("transport = \"tls\" needs host, targets or tls_server_name".into());
        }
        for (key, path) in [
            ("tls_ca", &self.tls_ca),
            ("tls_cert", &self.tls_cert),
            ("tls_key", &self.tls_key),
        ] {
            if set(path) && std::fs::metadata(path.trim()).is_err() {
                problems.push(format!("{key} {:?} cannot be read", path.trim()));
            }
        }
        problems
    }

    /// Configuration problems, described for `check-config`.
    pub(super) fn problems(&self, trunk: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.ringback == Ringback::File {
            if let Err(why) = self.ringback_wav() {
                problems.push(format!("trunk `{trunk}`: [trunks.invite] {why}"));
            }
        }
        if self.ring_timeout_secs == 0 || self.ring_timeout_secs > 600 {
            problems.push(format!(
                "trunk `{trunk}`: [trunks.invite] ring_timeout_secs must be between 1 and 600"
            ));
        }
        if !["udp", "tcp", "tls"]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&self.transport))
        {
            problems.push(format!(
                "trunk `{trunk}`: [trunks.invite] transport must be \"udp\", \"tcp\" or \"tls\" (got {:?})",
                self.transport
            ));
        }
        problems.extend(
            self.tls_problems()
                .into_iter()
                .map(|p| format!("trunk `{trunk}`: [trunks.invite] {p}")),
        );
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
            "ring_timeout_secs = 0\nhost = \"a@b\"\ntransport = \"sctp\"\ncodec = \"GSM\"\n\
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

    #[test]
    fn a_ringback_file_must_be_there_and_playable() {
        let c: InviteConfig = toml::from_str("ringback = \"file\"").unwrap();
        let p = c.problems("t");
        assert!(p[0].contains("needs ringback_file"), "{p:?}");
        let dir = std::env::temp_dir().join(format!("voxgate-rb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("not.wav");
        std::fs::write(&text, "hello").unwrap();
        let c: InviteConfig = toml::from_str(&format!(
            "ringback = \"file\"\nringback_file = {:?}",
            text.display().to_string()
        ))
        .unwrap();
        let p = c.problems("t");
        assert!(p[0].contains("not a readable WAV"), "{p:?}");
        let c = InviteConfig {
            ringback_file: dir.join("missing.wav").display().to_string(),
            ..c
        };
        assert!(c.problems("t")[0].contains("missing.wav"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tls_toward_the_agent_needs_its_ca_and_a_name() {
        let problems = |text: &str| {
            toml::from_str::<InviteConfig>(text)
                .unwrap()
                .problems("t")
                .join("\n")
        };
        let p = problems("transport = \"tls\"");
        assert!(
            p.contains("needs tls_ca") && p.contains("tls_server_name"),
            "{p}"
        );
        let p = problems("transport = \"tcp\"\ntls_ca = \"/x\"");
        assert!(p.contains("need transport = \"tls\""), "{p}");
        let p = problems(
            "transport = \"TLS\"\nhost = \"sbc\"\ntls_ca = \"/no/such/ca.pem\"\ntls_cert = \"/c\"",
        );
        assert!(
            p.contains("tls_ca \"/no/such/ca.pem\" cannot be read"),
            "{p}"
        );
        assert!(p.contains("tls_cert and tls_key go together"), "{p}");
        let ca = std::env::temp_dir().join(format!("voxgate-ca-{}.pem", std::process::id()));
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let c: InviteConfig = toml::from_str(&format!(
            "transport = \"tls\"\nhost = \"sbc.example\"\ntls_ca = {:?}",
            ca.display().to_string()
        ))
        .unwrap();
        assert!(c.uses_tls());
        assert!(c.problems("t").is_empty(), "{:?}", c.problems("t"));
        std::fs::remove_file(&ca).unwrap();
    }
}
