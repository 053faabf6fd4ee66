//! `voxgate talkdesk-url`: the Voice Stream URL to paste into Talkdesk Studio's "Connect to
//! Autopilot Voice" step, with a token freshly signed with the bot's client secret.

use anyhow::{bail, Context as _};
use voxgate_engine::auth::jwt;
use voxgate_engine::config::Config;
// Leaves unreserved characters as they are and escapes the rest (`+` becomes `%2B`).
use voxgate_engine::sip::message::typed::percent_encode as encode;

/// The path of the stream endpoint (ARCHITECTURE §3).
pub const PATH: &str = "/audiosocket/talkdesk/";

/// What the URL is made of.
pub struct UrlRequest<'a> {
    /// The bot id.
    pub bot: &'a str,
    /// The number (`+` and digits) routed to the bot.
    pub did: &'a str,
    /// `host[:port]` (then `wss://`) or a full `ws://` / `wss://` base; `None`: the node's own
    /// HTTP listener over `ws://` (`wss://` when `[http]` serves TLS).
    pub host: Option<&'a str>,
    /// Token lifetime in seconds; 0 for a token without `exp`.
    pub ttl_secs: u64,
    /// Issue time, unix seconds.
    pub now: u64,
}

/// The stream URL for `req` against `config`; an error when the bot cannot take streams.
pub fn stream_url(config: &Config, req: &UrlRequest<'_>) -> anyhow::Result<String> {
    let bot = config
        .bot(req.bot)
        .with_context(|| format!("no bot `{}` in the configuration", req.bot))?;
    let (Some(client_id), Some(secret)) = (&bot.client_id, &bot.client_secret) else {
        bail!("bot `{}` has no client_id/client_secret", bot.id);
    };
    match config.talkdesk.route(req.did) {
        Some(b) if b == bot.id => {}
        _ => bail!(
            "number {} does not route to bot `{}` in [talkdesk] routes: the node would answer 404",
            req.did,
            bot.id
        ),
    }
    let token = jwt::sign(secret, client_id, req.now, req.ttl_secs)?;
    let base = match req.host {
        Some(h) if h.contains("://") => h.trim_end_matches('/').to_owned(),
        Some(h) => format!("wss://{}", h.trim_end_matches('/')),
        None => {
            let listen = config.node.http_listen;
            let host = if listen.ip().is_unspecified() {
                format!("127.0.0.1:{}", listen.port())
            } else {
                listen.to_string()
            };
            // The listener itself serves WSS when `[http]` has a certificate.
            let scheme = if config.http.tls() { "wss" } else { "ws" };
            format!("{scheme}://{host}")
        }
    };
    let mut url = format!(
        "{base}{PATH}?sipuri={}&token={token}&botId={}",
        encode(req.did),
        encode(&bot.id)
    );
    if let Some(account) = &bot.talkdesk_account_id {
        url.push_str(&format!("&accountId={}", encode(account)));
    }
    url.push_str("&agentassist=false");
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_carries_an_encoded_number_and_a_valid_token() {
        let config = Config::embedded_default();
        let url = stream_url(
            &config,
            &UrlRequest {
                bot: "demo",
                did: "+15550100",
                host: Some("voxgate.example.com"),
                ttl_secs: 3600,
                now: 1_800_000_000,
            },
        )
        .unwrap();
        assert!(
            url.starts_with(
                "wss://voxgate.example.com/audiosocket/talkdesk/?sipuri=%2B15550100&token="
            ),
            "{url}"
        );
        assert!(url.ends_with("&botId=demo&agentassist=false"), "{url}");
        let token = url
            .split("token=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let claims = jwt::verify(token, "demo-secret", "demo-client", 1_800_000_010).unwrap();
        assert_eq!(claims.exp, Some(1_800_003_600));
    }

    #[test]
    fn unknown_bots_are_an_error() {
        let config = Config::embedded_default();
        let req = UrlRequest {
            bot: "nobody",
            did: "+1",
            host: None,
            ttl_secs: 0,
            now: 0,
        };
        assert!(stream_url(&config, &req).is_err());
    }
}
