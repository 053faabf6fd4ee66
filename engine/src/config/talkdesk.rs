//! `[talkdesk]`: the Talkdesk voice-stream ingress (ARCHITECTURE §3).
//!
//! A voice stream names its bot (`botId`) and its number (`sipuri`). The number is routed like a
//! DID on a trunk, with this section's own `[[talkdesk.routes]]` (Talkdesk streams come from no
//! SIP trunk, so no trunk's routes apply): a stream is accepted only when its number routes to
//! the bot the URL names, so a leaked URL cannot point an arbitrary number at another bot.

use serde::Deserialize;

use super::RouteConfig;

/// `[talkdesk]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TalkdeskConfig {
    /// `stop.ringGroup` of an escalation when the bot gave no `ringGroup` variable ("": none).
    pub default_ring_group: String,
    /// Largest WebSocket frame accepted from Talkdesk, in bytes; a larger one closes the stream.
    pub max_frame_bytes: usize,
    /// Number routes, first match wins (`*` matches any number).
    pub routes: Vec<RouteConfig>,
}

impl Default for TalkdeskConfig {
    fn default() -> Self {
        TalkdeskConfig {
            default_ring_group: String::new(),
            max_frame_bytes: 64 * 1024,
            routes: Vec::new(),
        }
    }
}

impl TalkdeskConfig {
    /// The bot a stream's number routes to (exact number first, then `*`).
    pub fn route(&self, did: &str) -> Option<&str> {
        super::route_in(&self.routes, did)
    }

    /// What is wrong with the section, given the configured bot ids.
    pub(super) fn problems(&self, bot_ids: &std::collections::BTreeSet<&str>) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_frame_bytes < 1024 {
            problems.push("[talkdesk] max_frame_bytes must be at least 1024".into());
        }
        for route in &self.routes {
            if !bot_ids.contains(route.bot.as_str()) {
                problems.push(format!(
                    "[talkdesk] route `{}` names unknown bot `{}`",
                    route.did, route.bot
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn default_config_routes_any_number_to_demo() {
        let c = Config::embedded_default();
        assert_eq!(c.talkdesk.route("+15551234"), Some("demo"));
        assert_eq!(c.talkdesk.default_ring_group, "agents");
    }

    #[test]
    fn exact_number_wins_and_unknown_bots_are_refused() {
        let text = format!(
            "{}\n[[talkdesk.routes]]\ndid = \"+1999\"\nbot = \"nobody\"\n",
            crate::config::DEFAULT_TOML
        );
        let err = Config::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("unknown bot `nobody`"), "{err}");
    }
}
