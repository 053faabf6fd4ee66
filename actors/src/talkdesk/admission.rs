//! The checks a Talkdesk voice-stream request passes before the WebSocket upgrade
//! (ARCHITECTURE §3), as a pure function of the configuration, the query and the clock, so each
//! refusal is unit-tested without a socket.
//!
//! Order matters for what a client learns: a request without a token learns nothing else (401);
//! the bot is looked up before the token is checked because the bot's secret is the key; the
//! number is routed last, after the caller has proven it may use the bot.

use std::collections::HashMap;

use voxgate_engine::auth::jwt;
use voxgate_engine::config::{BotConfig, Config};

/// Why a stream request is refused: an HTTP status, a machine code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// `error` of the JSON body.
    pub code: &'static str,
    /// `message` of the JSON body.
    pub message: String,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }
}

/// An admitted stream request.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The bot.
    pub bot: BotConfig,
    /// The stream's number, `+` and digits.
    pub did: String,
    /// Talkdesk's `accountId`, when given.
    pub account_id: Option<String>,
    /// Listen-only stream.
    pub agent_assist: bool,
}

/// Checks the (already URL-decoded) query of a stream request at `now` (unix seconds).
pub fn admit(
    config: &Config,
    query: &HashMap<String, String>,
    now: u64,
) -> Result<Admitted, Refusal> {
    let param = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let token = param("token")
        .ok_or_else(|| Refusal::new(401, "unauthorized", "missing query parameter `token`"))?;
    let bot_id = param("botId")
        .ok_or_else(|| Refusal::new(400, "bad_request", "missing query parameter `botId`"))?;
    let bot = config
        .bot(bot_id)
        .ok_or_else(|| Refusal::new(404, "unknown_bot", format!("no bot `{bot_id}`")))?;
    let (Some(client_id), Some(secret)) = (&bot.client_id, &bot.client_secret) else {
        return Err(Refusal::new(
            403,
            "forbidden",
            format!("bot `{bot_id}` has no Talkdesk credentials"),
        ));
    };
    jwt::verify(token, secret, client_id, now)
        .map_err(|e| Refusal::new(401, "unauthorized", e.to_string()))?;
    let account_id = param("accountId").map(str::to_owned);
    if let Some(pinned) = &bot.talkdesk_account_id {
        if account_id.as_deref() != Some(pinned.as_str()) {
            return Err(Refusal::new(
                403,
                "forbidden",
                "the stream's `accountId` is not the one this bot serves",
            ));
        }
    }
    let raw = param("sipuri")
        .ok_or_else(|| Refusal::new(400, "bad_request", "missing query parameter `sipuri`"))?;
    let did = number_of(raw).ok_or_else(|| {
        Refusal::new(
            400,
            "bad_request",
            "`sipuri` must be an E.164 number (`+` and digits) or a sip:/tel: URI of one",
        )
    })?;
    if config.talkdesk.route(&did) != Some(bot.id.as_str()) {
        return Err(Refusal::new(
            404,
            "no_route",
            format!("number {did} does not route to bot `{bot_id}`"),
        ));
    }
    let agent_assist = param("agentassist").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(Admitted {
        bot: bot.clone(),
        did,
        account_id,
        agent_assist,
    })
}

/// The number in a decoded `sipuri`: `+15551234`, `sip:+15551234@host;params`, `tel:+1-555…`.
/// A `+` sent unencoded arrives as a space (form decoding) and is taken back as `+`.
fn number_of(raw: &str) -> Option<String> {
    let mut s = raw.trim_start_matches(' ');
    if raw.starts_with(' ') {
        // `?sipuri=+1555…` unencoded: form decoding made the `+` a space.
        s = s.trim();
    }
    let s = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("sips:"))
        .or_else(|| s.strip_prefix("tel:"))
        .unwrap_or(s);
    let user = s.split(['@', ';']).next().unwrap_or(s);
    let mut did = voxgate_engine::routing::normalise_did(user);
    if raw.starts_with(' ') && !did.starts_with('+') {
        did.insert(0, '+');
    }
    let digits = did.strip_prefix('+').unwrap_or(&did);
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then_some(did)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn token() -> String {
        jwt::sign("demo-secret", "demo-client", NOW, 600).unwrap()
    }

    fn demo() -> Config {
        Config::embedded_default()
    }

    #[test]
    fn a_good_request_is_admitted() {
        let t = token();
        let q = query(&[
            ("sipuri", "+15550100"),
            ("token", &t),
            ("botId", "demo"),
            ("accountId", "acct"),
            ("agentassist", "false"),
        ]);
        let a = admit(&demo(), &q, NOW).unwrap();
        assert_eq!(a.did, "+15550100");
        assert_eq!(a.account_id.as_deref(), Some("acct"));
        assert!(!a.agent_assist);
    }

    #[test]
    fn refusals_have_the_documented_statuses() {
        let t = token();
        let expired = jwt::sign("demo-secret", "demo-client", NOW - 10_000, 60).unwrap();
        let wrong = jwt::sign("other", "demo-client", NOW, 60).unwrap();
        let cases: [(&[(&str, &str)], u16); 6] = [
            (&[("sipuri", "+1"), ("botId", "demo")], 401),
            (
                &[("sipuri", "+1"), ("botId", "demo"), ("token", &expired)],
                401,
            ),
            (
                &[("sipuri", "+1"), ("botId", "demo"), ("token", &wrong)],
                401,
            ),
            (&[("sipuri", "+1"), ("botId", "nobody"), ("token", &t)], 404),
            (&[("sipuri", "12ab"), ("botId", "demo"), ("token", &t)], 400),
            (&[("botId", "demo"), ("token", &t)], 400),
        ];
        for (pairs, status) in cases {
            let got = admit(&demo(), &query(pairs), NOW).unwrap_err();
            assert_eq!(got.status, status, "{pairs:?}: {got:?}");
        }
    }

    #[test]
    fn routes_and_pinned_accounts_are_enforced() {
        // The first route of the default file is the `[talkdesk]` one.
        let default = voxgate_engine::config::DEFAULT_TOML;
        let at = default.find("did = \"*\"").unwrap();
        let text = format!("{}did = \"+1777\"{}", &default[..at], &default[at + 9..]);
        let pinned = text.replace(
            "client_secret = \"demo-secret\"",
            "client_secret = \"demo-secret\"\ntalkdesk_account_id = \"acct-1\"",
        );
        let t = token();
        let config = Config::from_toml(&text).unwrap();
        let q = |did: &str| query(&[("sipuri", did), ("botId", "demo"), ("token", &t)]);
        assert_eq!(admit(&config, &q("+1888"), NOW).unwrap_err().status, 404);
        assert!(admit(&config, &q("+1777"), NOW).is_ok());
        let config = Config::from_toml(&pinned).unwrap();
        assert_eq!(admit(&config, &q("+1777"), NOW).unwrap_err().status, 403);
        let mut ok = q("+1777");
        ok.insert("accountId".into(), "acct-1".into());
        assert!(admit(&config, &ok, NOW).is_ok());
    }

    #[test]
    fn sipuri_forms() {
        assert_eq!(number_of("+15551234").as_deref(), Some("+15551234"));
        assert_eq!(number_of(" 15551234").as_deref(), Some("+15551234"));
        assert_eq!(
            number_of("sip:+15551234@pbx.example;user=phone").as_deref(),
            Some("+15551234")
        );
        assert_eq!(number_of("tel:+1-555-1234").as_deref(), Some("+15551234"));
        assert_eq!(number_of("alice"), None);
        assert_eq!(number_of("+"), None);
    }
}
