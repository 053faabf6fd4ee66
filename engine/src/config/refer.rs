//! `[trunks.refer]`: how the `refer` profile transfers a call (RFC 3515) and whether a REFER
//! from the caller is honoured.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Where the custom headers of a REFER go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferHeaderMode {
    /// As Refer-To URI headers (`<sip:agent@cc?X-Foo=bar>`): the transferee copies them into
    /// its INVITE to the target.
    #[default]
    Uri,
    /// As headers of the REFER request itself.
    Message,
}

/// The `refer` profile's settings of one trunk.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferConfig {
    /// The Refer-To target when the bot gives none: a number or a `sip:`/`sips:` URI. Empty:
    /// an escalation without a target falls back to BYE.
    pub default_target: String,
    /// The host (and optional port) of `sip:NUMBER@HOST` when the target is a number. Empty:
    /// the host of the caller's From URI.
    pub target_host: String,
    /// How long to wait for the REFER's answer and its final NOTIFY before the BYE fallback.
    pub timeout_secs: u64,
    /// Where custom headers go.
    pub header_mode: ReferHeaderMode,
    /// Custom headers added to every REFER on this trunk (before the bot's).
    pub headers: BTreeMap<String, String>,
    /// Ask for no subscription (RFC 4488 `Refer-Sub: false`, `Supported: norefersub`); a 2xx to
    /// the REFER is then the success.
    pub norefersub: bool,
    /// Honour a REFER the caller sends inside its dialog (transfer toward its Refer-To).
    pub accept_from_caller: bool,
}

impl Default for ReferConfig {
    fn default() -> Self {
        ReferConfig {
            default_target: String::new(),
            target_host: String::new(),
            timeout_secs: 15,
            header_mode: ReferHeaderMode::Uri,
            headers: BTreeMap::new(),
            norefersub: false,
            accept_from_caller: true,
        }
    }
}

impl ReferConfig {
    /// [`ReferConfig::timeout_secs`] as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// Configuration problems, described for `check-config`.
    pub(super) fn problems(&self, trunk: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.timeout_secs == 0 || self.timeout_secs > 600 {
            problems.push(format!(
                "trunk `{trunk}`: [trunks.refer] timeout_secs must be between 1 and 600"
            ));
        }
        if self.target_host.contains(['@', '<', '>', ' ', ';', '?']) {
            problems.push(format!(
                "trunk `{trunk}`: [trunks.refer] target_host must be a host[:port]"
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
        let c: ReferConfig = toml::from_str("").unwrap();
        assert_eq!(c.timeout(), Duration::from_secs(15));
        assert_eq!(c.header_mode, ReferHeaderMode::Uri);
        assert!(c.accept_from_caller && !c.norefersub);
        assert!(c.problems("t").is_empty());
        let c: ReferConfig =
            toml::from_str("timeout_secs = 0\ntarget_host = \"a@b\"\nheader_mode = \"message\"")
                .unwrap();
        assert_eq!(c.header_mode, ReferHeaderMode::Message);
        assert_eq!(c.problems("t").len(), 2);
        assert!(toml::from_str::<ReferConfig>("header_mode = \"body\"").is_err());
    }
}
