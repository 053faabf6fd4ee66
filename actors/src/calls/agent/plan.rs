//! What an `invite` hand-back dials, resolved from the trunk's `[trunks.invite]` and the bot's
//! escalation: the chain of Request-URIs, the INVITE's headers (session id, configured ones,
//! the bot's extension headers, the RFC 7433 `User-to-User`). Pure, so it is unit-tested here.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use voxgate_codecs::AudioFormat;
use voxgate_engine::config::InviteConfig;
use voxgate_engine::sdp::CodecKind;
use voxgate_engine::sip::message::typed::hex_encode;
use voxgate_engine::sip::message::{HeaderName, SipUri};
use voxgate_engine::sip::transaction::TransportKind;

use crate::bots::sip::{codec_format, codec_kind};
use crate::calls::escalation::{is_safe_extension_header, resolve_target};
use crate::calls::messages::Escalate;
use crate::sip::tls::TlsDial;

/// One agent hand-back's dialling plan.
#[derive(Debug, Clone)]
pub struct AgentPlan {
    /// Request-URIs, tried in order.
    pub targets: Vec<String>,
    /// Headers of every INVITE.
    pub headers: Vec<(HeaderName, String)>,
    /// The one codec offered.
    pub codec: CodecKind,
    /// Its audio format (the transcoder's bot side while the agent leg runs).
    pub format: AudioFormat,
    /// How long one target may ring.
    pub ring_timeout: Duration,
    /// Digest credentials for the agent side's challenge.
    pub credentials: Option<(String, String)>,
    /// UDP, TCP or TLS toward the agent side.
    pub transport: TransportKind,
    /// TLS: the trunk's client configuration (set by the call from the node's, see
    /// [`AgentPlan::with_tls`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// TLS: the name the agent side's certificate must carry (empty: each target's host).
    pub tls_server_name: String,
}

impl AgentPlan {
    /// The plan for an escalation `esc` of session `session_id`: the bot's target first, then
    /// the configured ones; `Err` when no target is usable.
    pub fn new(
        config: &InviteConfig,
        esc: &Escalate,
        session_id: &str,
    ) -> Result<AgentPlan, String> {
        let host = match (config.host.trim(), config.port) {
            ("", _) => String::new(),
            (host, 5060) => host.to_owned(),
            (host, port) => format!("{host}:{port}"),
        };
        let mut targets = Vec::new();
        let mut problems = Vec::new();
        let wanted = esc.target.iter().chain(config.targets.iter());
        for t in wanted.map(|t| t.trim()).filter(|t| !t.is_empty()) {
            match resolve_target(t, &host) {
                Ok(uri) if !targets.contains(&uri) => targets.push(uri),
                Ok(_) => {}
                Err(why) => problems.push(why),
            }
        }
        if targets.is_empty() {
            return Err(if problems.is_empty() {
                "no agent target (none given, no [trunks.invite] targets)".into()
            } else {
                problems.join("; ")
            });
        }
        let mut headers = Vec::new();
        if !config.session_header.is_empty() {
            headers.push((
                HeaderName::from_wire(&config.session_header),
                session_id.to_owned(),
            ));
        }
        let custom = config
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(esc.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        for (name, value) in custom.filter(|(n, v)| is_safe_extension_header(n, v)) {
            headers.push((HeaderName::from_wire(name), value.to_owned()));
        }
        if config.uui {
            headers.push((HeaderName::UserToUser, uui(session_id, esc)));
        }
        Ok(AgentPlan {
            targets,
            headers,
            codec: codec_kind(&config.codec),
            format: codec_format(&config.codec),
            ring_timeout: config.ring_timeout(),
            credentials: config.credentials(),
            transport: if config.uses_tls() {
                TransportKind::Tls
            } else if config.transport.eq_ignore_ascii_case("tcp") {
                TransportKind::Tcp
            } else {
                TransportKind::Udp
            },
            tls: None,
            tls_server_name: config.tls_server_name.trim().to_owned(),
        })
    }

    /// The plan with the trunk's TLS client configuration (the node's, loaded at start).
    pub fn with_tls(mut self, tls: Option<Arc<rustls::ClientConfig>>) -> AgentPlan {
        self.tls = tls;
        self
    }

    /// How to dial `target` over TLS: `None` on UDP and TCP; an error when the trunk's TLS
    /// configuration did not load or the name to check is not a DNS name or address.
    pub fn tls_dial(&self, target: &str) -> Result<Option<TlsDial>, String> {
        if self.transport != TransportKind::Tls {
            return Ok(None);
        }
        let config = self
            .tls
            .clone()
            .ok_or("the trunk's TLS configuration is not loaded")?;
        let name = if self.tls_server_name.is_empty() {
            SipUri::parse(target)
                .map_err(|e| format!("URI {target:?}: {e}"))?
                .host
                .to_string()
        } else {
            self.tls_server_name.clone()
        };
        TlsDial::new(config, &name).map(Some)
    }
}

/// RFC 7433 User-to-User: the session id, reason and the bot's variables as JSON, hex-encoded.
fn uui(session_id: &str, esc: &Escalate) -> String {
    let data = json!({
        "sessionId": session_id,
        "reason": esc.reason,
        "variables": esc.variables,
    });
    format!("{};encoding=hex", hex_encode(data.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use voxgate_engine::sip::message::typed::UserToUser;

    use super::*;

    fn config(targets: &[&str]) -> InviteConfig {
        InviteConfig {
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            host: "cc.example".into(),
            port: 5080,
            ..InviteConfig::default()
        }
    }

    #[test]
    fn the_bots_target_goes_first_then_the_chain() {
        let esc = Escalate {
            target: Some("+1 555 0100".into()),
            ..Escalate::default()
        };
        let plan = AgentPlan::new(
            &config(&["sip:queue@10.0.0.1:5070", "+15550100", "not a target"]),
            &esc,
            "s1",
        )
        .unwrap();
        assert_eq!(
            plan.targets,
            ["sip:+15550100@cc.example:5080", "sip:queue@10.0.0.1:5070"]
        );
        assert_eq!(plan.format, AudioFormat::Pcmu);
    }

    #[test]
    fn no_usable_target_is_an_error() {
        assert!(AgentPlan::new(&config(&[]), &Escalate::default(), "s").is_err());
        let err = AgentPlan::new(&config(&["agent"]), &Escalate::default(), "s").unwrap_err();
        assert!(err.contains("neither a number nor a SIP URI"), "{err}");
    }

    #[test]
    fn headers_session_custom_bot_and_uui() {
        let mut c = config(&["+1"]);
        c.uui = true;
        c.headers.insert("X-Queue".into(), "sales".into());
        let esc = Escalate {
            reason: "TransferToAgent".into(),
            headers: vec![
                ("X-Lang".into(), "de".into()),
                ("Via".into(), "evil".into()),
            ],
            variables: [("ringGroup".to_owned(), "agents".to_owned())].into(),
            ..Escalate::default()
        };
        let plan = AgentPlan::new(&c, &esc, "s-9").unwrap();
        let names: Vec<String> = plan.headers.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            names,
            ["X-Session-Id", "X-Queue", "X-Lang", "User-to-User"],
            "{:?}",
            plan.headers
        );
        let uui = UserToUser::parse(&plan.headers[3].1).unwrap();
        assert_eq!(uui.encoding.as_deref(), Some("hex"));
        let v: serde_json::Value = serde_json::from_slice(&uui.data).unwrap();
        assert_eq!(v["sessionId"], "s-9");
        assert_eq!(v["variables"]["ringGroup"], "agents");
    }
}
