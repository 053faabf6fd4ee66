//! The node configuration, typed. `config/default.toml` is the reference and is embedded into
//! the binary ([`DEFAULT_TOML`]); [`Config::from_toml`] parses and validates any file of the
//! same shape. Unknown keys are errors so a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

mod security;
mod tls;
pub use self::security::{SipLimits, TrunkAuth};
pub use self::tls::{HttpConfig, TlsConfig, TrunkTls, MAX_CERTIFIED_TRUNKS};
mod invite;
mod refer;
mod sip_bot;
pub use invite::{InviteConfig, InviteFallback, Ringback};
pub use refer::{ReferConfig, ReferHeaderMode};
pub use sip_bot::SipBotConfig;
mod talkdesk;
pub use talkdesk::TalkdeskConfig;

/// The embedded default configuration (`config/default.toml`).
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML did not parse or did not match the schema.
    #[error("{0}")]
    Syntax(#[from] toml::de::Error),
    /// The file parsed but is inconsistent; every problem found is listed.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// The whole node configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listeners, capacity, drain.
    pub node: NodeConfig,
    /// SIP timers and limits.
    #[serde(default)]
    pub sip: SipConfig,
    /// RTP and media handling.
    #[serde(default)]
    pub media: MediaConfig,
    /// Where session records and hand-back data are kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// Tokens and limits of the HTTP API.
    #[serde(default)]
    pub api: ApiConfig,
    /// Talkdesk Digital Connect: OAuth token lifetime, optional bot webhook.
    #[serde(default)]
    pub digital_connect: DigitalConnectConfig,
    /// SIP over TLS.
    #[serde(default)]
    pub tls: TlsConfig,
    /// `[http]`: HTTPS on the HTTP listener.
    #[serde(default)]
    pub http: HttpConfig,
    /// Ingress SIP trunks.
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    /// Bots calls are bridged to.
    #[serde(default)]
    pub bots: Vec<BotConfig>,
    /// The Talkdesk voice-stream ingress.
    #[serde(default)]
    pub talkdesk: TalkdeskConfig,
}

/// `[node]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// SIP UDP+TCP listen address.
    pub sip_listen: SocketAddr,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// RTP port range.
    pub rtp_ports: PortRange,
    /// Address advertised in SDP and Contact; `None` means derive it from the listener.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub public_address: Option<IpAddr>,
    /// Concurrent call cap.
    #[serde(default = "defaults::max_calls")]
    pub max_calls: usize,
    /// Seconds live calls may run after SIGTERM.
    #[serde(default = "defaults::drain_deadline_secs")]
    pub drain_deadline_secs: u64,
    /// Retry-After seconds on 503.
    #[serde(default = "defaults::retry_after_secs")]
    pub retry_after_secs: u32,
}

/// `[sip]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// RFC 3261 T1 in ms.
    pub t1_ms: u64,
    /// RFC 3261 T2 in ms.
    pub t2_ms: u64,
    /// RFC 3261 T4 in ms.
    pub t4_ms: u64,
    /// Largest SIP message accepted.
    pub max_message_bytes: usize,
    /// Most header fields accepted in one message.
    pub max_headers: usize,
    /// TCP connections accepted at once.
    pub max_tcp_connections: usize,
    /// User-Agent / Server header value.
    pub user_agent: String,
    /// Session timer interval we accept at most (RFC 4028), seconds.
    pub session_expires_secs: u32,
    /// Smallest session timer interval we accept (RFC 4028 Min-SE), seconds.
    pub min_se_secs: u32,
    /// Flood control and scanner handling (`[sip.limits]`).
    pub limits: SipLimits,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            max_message_bytes: 65535,
            max_headers: 128,
            max_tcp_connections: 1024,
            user_agent: "voxgate".into(),
            session_expires_secs: 1800,
            min_se_secs: 90,
            limits: SipLimits::default(),
        }
    }
}

/// `[media]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Seconds without caller RTP before the call ends.
    pub inactivity_timeout_secs: u64,
    /// Jitter buffer lower bound in ms.
    pub jitter_min_ms: u32,
    /// Jitter buffer upper bound in ms.
    pub jitter_max_ms: u32,
    /// Seconds between RTCP reports.
    pub rtcp_interval_secs: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            inactivity_timeout_secs: 30,
            jitter_min_ms: 20,
            jitter_max_ms: 200,
            rtcp_interval_secs: 5,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Backend.
    pub kind: StoreKind,
    /// SQLite file path (kind = "sqlite").
    #[serde(default = "defaults::store_path")]
    pub path: String,
    /// Redis URL (kind = "redis").
    #[serde(default)]
    pub url: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::Sqlite,
            path: defaults::store_path(),
            url: None,
        }
    }
}

/// `[api]`: the HTTP API's tokens and the metadata handoff's lifetime.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The `authorizationToken` header value of `POST/GET /metadata`.
    pub metadata_token: String,
    /// How long a metadata record lives, seconds.
    pub metadata_ttl_secs: u64,
    /// The bearer token of the call-control API (`/api/v1/calls`).
    pub api_token: String,
}

/// The public demo value of [`ApiConfig::metadata_token`]; the node warns when it serves it on
/// a non-loopback address.
pub const DEMO_METADATA_TOKEN: &str = "demo-metadata-token";
/// The public demo value of [`ApiConfig::api_token`].
pub const DEMO_API_TOKEN: &str = "demo-api-token";

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            metadata_token: DEMO_METADATA_TOKEN.into(),
            metadata_ttl_secs: 86_400,
            api_token: DEMO_API_TOKEN.into(),
        }
    }
}

impl ApiConfig {
    /// The TTL of a metadata record.
    pub fn metadata_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.metadata_ttl_secs)
    }

    /// The configured tokens that still have their public demo values.
    pub fn demo_tokens(&self) -> Vec<&'static str> {
        let mut demo = Vec::new();
        if self.metadata_token == DEMO_METADATA_TOKEN {
            demo.push("metadata_token");
        }
        if self.api_token == DEMO_API_TOKEN {
            demo.push("api_token");
        }
        demo
    }
}

/// Tokens are secrets: never print them.
impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("metadata_token", &"<redacted>")
            .field("metadata_ttl_secs", &self.metadata_ttl_secs)
            .field("api_token", &"<redacted>")
            .finish()
    }
}

/// `[digital_connect]`: the OAuth2 token endpoint and the conversation events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigitalConnectConfig {
    /// Lifetime of an access token from `POST /security/oauth/token`, seconds.
    pub token_ttl_secs: u64,
    /// Where each `message_created` is forwarded (POST JSON); empty: no forwarding.
    pub webhook_url: String,
    /// Delivery attempts per message before it is dead-lettered.
    pub webhook_max_attempts: u32,
    /// Delay before the second attempt, milliseconds; doubled for each further one.
    pub webhook_backoff_ms: u64,
    /// Timeout of one delivery attempt, milliseconds.
    pub webhook_timeout_ms: u64,
    /// A conversation actor with nothing to do for this long stops (its state is in the store).
    pub idle_secs: u64,
}

impl Default for DigitalConnectConfig {
    fn default() -> Self {
        DigitalConnectConfig {
            token_ttl_secs: 3600,
            webhook_url: String::new(),
            webhook_max_attempts: 5,
            webhook_backoff_ms: 500,
            webhook_timeout_ms: 5000,
            idle_secs: 300,
        }
    }
}

/// Store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Embedded SQLite file.
    Sqlite,
    /// Shared Redis server.
    Redis,
}

/// One `[[trunks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Name used in logs and session records.
    pub name: String,
    /// Allowed source networks.
    pub allow: Vec<IpNet>,
    /// Hand-back profile.
    pub profile: Profile,
    /// Codecs the trunk allows.
    #[serde(default = "defaults::codecs")]
    pub codecs: Vec<String>,
    /// Header names used by the profile.
    #[serde(default)]
    pub headers: HeaderNames,
    /// Extra headers on the hand-back BYE.
    #[serde(default)]
    pub bye_headers: BTreeMap<String, String>,
    /// DID routes, first match wins.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Digest authentication demanded on INVITE (`[trunks.auth]`), on top of the ACL.
    #[serde(default)]
    pub auth: Option<TrunkAuth>,
    /// The `refer` profile's settings (`[trunks.refer]`).
    #[serde(default)]
    pub refer: ReferConfig,
    /// The `invite` profile's settings (`[trunks.invite]`).
    #[serde(default)]
    pub invite: InviteConfig,
    /// SRTP with SDES keys (RFC 4568): `off` (plain RTP only), `optional` (`RTP/SAVP` offers
    /// get SRTP), `required` (plain RTP offers get 488).
    #[serde(default)]
    pub srtp: crate::sdp::SrtpMode,
    /// Mutual TLS for this trunk (`[trunks.tls]`): INVITEs must come over TLS with a client
    /// certificate from the trunk's CA.
    #[serde(default)]
    pub tls: Option<TrunkTls>,
}

impl TrunkConfig {
    /// Whether an escalation on this trunk transfers by REFER: the `refer` profile, or the
    /// `invite` profile's fallback when it is `refer`.
    pub fn transfers_by_refer(&self) -> bool {
        match self.profile {
            Profile::Refer => true,
            Profile::Invite => self.invite.fallback == InviteFallback::Refer,
            _ => false,
        }
    }
}

/// Hand-back profiles (ARCHITECTURE §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// BYE carrying the reason header (Zoom Contact Center).
    ZoomCc,
    /// Store metadata under the contact id, then BYE (Amazon Connect).
    AmazonConnect,
    /// In-dialog REFER, falling back to BYE.
    Refer,
    /// A call of the node's own to an agent, bridged to the caller (`[trunks.invite]`).
    Invite,
}

/// Header names of a trunk's profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderNames {
    /// Header carrying our session id in the 200 OK.
    pub session_id: String,
    /// Header carrying the bot id in the 200 OK.
    pub bot_id: String,
    /// Header carrying the end reason in our BYE.
    pub reason: String,
}

impl Default for HeaderNames {
    fn default() -> Self {
        HeaderNames {
            session_id: "kore-session_id".into(),
            bot_id: "kore-bot_id".into(),
            reason: "kore-reason".into(),
        }
    }
}

/// One DID route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The DID (`+` and digits) or `*` for any.
    pub did: String,
    /// The bot id calls to this DID go to.
    pub bot: String,
}

/// One `[[bots]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// Bot id (routes and Talkdesk `botId` refer to it).
    pub id: String,
    /// What kind of bot leg serves it.
    pub kind: BotKind,
    /// Talkdesk client id (JWT claim `appId`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Talkdesk client secret (JWT HS256 key).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// When set, Talkdesk streams for this bot must carry this `accountId` (else 403).
    #[serde(default)]
    pub talkdesk_account_id: Option<String>,
    /// Settings of the builtin bot.
    #[serde(default)]
    pub builtin: BuiltinBotConfig,
    /// Settings of a WebSocket bot (`kind = "websocket"`).
    #[serde(default)]
    pub websocket: WebsocketBotConfig,
    /// Settings of a SIP bot (`kind = "sip"`).
    #[serde(default)]
    pub sip: SipBotConfig,
    /// How the call restarts a failed bot leg before handing the caller back.
    #[serde(default)]
    pub restart: RestartConfig,
}

/// Bot leg kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BotKind {
    /// In-process demo bot: greeting, echo, DTMF actions.
    Builtin,
    /// WebSocket media-stream bot.
    Websocket,
    /// SIP bot reached by a second dialog.
    Sip,
}

/// `[bots.builtin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinBotConfig {
    /// Greeting: `"tones"` (synthesised) or `"none"`.
    pub greeting: String,
    /// Digit that escalates to an agent.
    pub escalate_digit: String,
    /// Digit that ends the call.
    pub hangup_digit: String,
    /// Reason sent on escalation.
    pub escalate_reason: String,
    /// Reason sent on hang-up.
    pub hangup_reason: String,
    /// Variables handed back on escalation.
    pub escalate_variables: BTreeMap<String, String>,
    /// Ring time before answering, in ms (0 answers at once; a ringing call sends 180).
    pub answer_delay_ms: u64,
}

impl Default for BuiltinBotConfig {
    fn default() -> Self {
        BuiltinBotConfig {
            greeting: "tones".into(),
            escalate_digit: "0".into(),
            hangup_digit: "#".into(),
            escalate_reason: "TransferToAgent".into(),
            hangup_reason: "HangUp".into(),
            escalate_variables: BTreeMap::from([("ringGroup".into(), "agents".into())]),
            answer_delay_ms: 0,
        }
    }
}

/// `[bots.websocket]`: where a WebSocket bot listens and how it is spoken to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebsocketBotConfig {
    /// `ws://host:port/path` of the bot.
    pub url: String,
    /// The audio the bot speaks and hears.
    pub format: WsAudioFormat,
    /// Connect (TCP + WebSocket handshake) timeout, in ms.
    pub connect_timeout_ms: u64,
    /// The bot fails when it has sent nothing at all for this long after `start`, in ms (0: never).
    pub first_message_timeout_ms: u64,
    /// Caller audio per message to the bot, in ms: 20 (one frame, as Twilio sends) up to 200, in
    /// steps of 20. Longer messages cost the node and the bot fewer messages a second and
    /// delay the bot's hearing by as much.
    pub chunk_ms: u32,
    /// Extra `customParameters` sent in `start` (the node adds `did`, `from`, `trunk`).
    pub custom_parameters: BTreeMap<String, String>,
}

impl Default for WebsocketBotConfig {
    fn default() -> Self {
        WebsocketBotConfig {
            url: String::new(),
            format: WsAudioFormat::Mulaw,
            connect_timeout_ms: 3000,
            first_message_timeout_ms: 0,
            chunk_ms: 20,
            custom_parameters: BTreeMap::new(),
        }
    }
}

/// The audio formats of the bot protocol (`start.mediaFormat.encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum WsAudioFormat {
    /// G.711 µ-law 8 kHz, base64 in JSON `media` events (Twilio style).
    #[serde(rename = "audio/x-mulaw")]
    Mulaw,
    /// 16-bit linear PCM 16 kHz, big-endian, in binary frames.
    #[serde(rename = "audio/l16")]
    L16,
}

/// `[bots.restart]`: the bot leg's restart budget (ARCHITECTURE §2, supervision).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestartConfig {
    /// Restarts allowed within `window_secs`; one more failure hands the caller back with
    /// reason `BotFailure`. 0: never restart.
    pub max_restarts: u32,
    /// The window the restarts are counted in, in seconds.
    pub window_secs: u64,
    /// Delay before the first restart, in ms; doubled for each further one in the window.
    pub backoff_ms: u64,
}

impl Default for RestartConfig {
    fn default() -> Self {
        RestartConfig {
            max_restarts: 2,
            window_secs: 10,
            backoff_ms: 200,
        }
    }
}

/// An inclusive port range written `LO-HI`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (lo, hi) = s
            .split_once('-')
            .ok_or_else(|| format!("port range `{s}`: expected LO-HI"))?;
        let parse = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("port range `{s}`: `{p}` is not a port"))
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo == 0 || lo > hi {
            return Err(format!("port range `{s}`: need 0 < LO <= HI"));
        }
        if u32::from(hi) - u32::from(lo) < 3 {
            return Err(format!(
                "port range `{s}`: need room for at least two RTP/RTCP pairs"
            ));
        }
        Ok(PortRange { lo, hi })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.lo, self.hi)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    s.trim().parse().map(Some).map_err(serde::de::Error::custom)
}

mod defaults {
    pub(super) fn max_calls() -> usize {
        2000
    }
    pub(super) fn drain_deadline_secs() -> u64 {
        300
    }
    pub(super) fn retry_after_secs() -> u32 {
        30
    }
    pub(super) fn store_path() -> String {
        "voxgate.db".into()
    }
    pub(super) fn codecs() -> Vec<String> {
        ["PCMU", "PCMA", "opus", "G722"].map(String::from).to_vec()
    }
}

/// Codec names a trunk may list.
pub const KNOWN_CODECS: [&str; 4] = ["PCMU", "PCMA", "opus", "G722"];

impl Config {
    /// The embedded default configuration.
    pub fn embedded_default() -> Config {
        // The embedded file is checked by a unit test; a broken default is a build defect.
        Config::from_toml(DEFAULT_TOML).expect("config/default.toml is valid")
    }

    /// Parses and validates a configuration.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the cross-references and values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let s = &self.sip;
        if s.t1_ms == 0 || s.t2_ms < s.t1_ms || s.t4_ms == 0 {
            problems.push(format!(
                "[sip] timers need 0 < t1_ms <= t2_ms and t4_ms > 0 (got t1={} t2={} t4={})",
                s.t1_ms, s.t2_ms, s.t4_ms
            ));
        }
        if s.min_se_secs < 90 || s.session_expires_secs < s.min_se_secs {
            problems
                .push("[sip] session timers need 90 <= min_se_secs <= session_expires_secs".into());
        }
        if s.max_message_bytes < 1024 {
            problems.push("[sip] max_message_bytes must be at least 1024".into());
        }
        problems.extend(self.tls.problems());
        problems.extend(self.http.problems());
        if self.media.jitter_min_ms > self.media.jitter_max_ms {
            problems.push("[media] jitter_min_ms must not exceed jitter_max_ms".into());
        }
        let api = &self.api;
        if api.metadata_token.trim().is_empty() || api.api_token.trim().is_empty() {
            problems.push("[api] metadata_token and api_token must not be empty".into());
        }
        if api.metadata_token.chars().any(|c| c.is_control())
            || api.api_token.chars().any(|c| c.is_control())
        {
            problems.push("[api] tokens must not contain control characters".into());
        }
        // The store refuses TTLs of zero and of more than ten years.
        if api.metadata_ttl_secs == 0 || api.metadata_ttl_secs > 10 * 365 * 24 * 3600 {
            problems.push("[api] metadata_ttl_secs must be between 1 and 315360000".into());
        }
        let dc = &self.digital_connect;
        if dc.token_ttl_secs == 0 || dc.token_ttl_secs > 30 * 24 * 3600 {
            problems.push("[digital_connect] token_ttl_secs must be between 1 and 2592000".into());
        }
        let hook = dc.webhook_url.trim();
        // The HTTP client is built without TLS (as for WebSocket bots): put a TLS-terminating
        // proxy in front of an https bot.
        if !hook.is_empty() && !hook.starts_with("http://") {
            problems.push(format!(
                "[digital_connect] webhook_url must be http:// (got {hook:?})"
            ));
        }
        if dc.webhook_max_attempts == 0 || dc.webhook_timeout_ms == 0 || dc.idle_secs == 0 {
            problems.push(
                "[digital_connect] webhook_max_attempts, webhook_timeout_ms and idle_secs must be > 0"
                    .into(),
            );
        }
        if self.store.kind == StoreKind::Redis && self.store.url.is_none() {
            problems.push("[store] kind = \"redis\" needs `url`".into());
        }
        let mut bot_ids = std::collections::BTreeSet::new();
        for bot in &self.bots {
            if !bot_ids.insert(bot.id.as_str()) {
                problems.push(format!("bot `{}` is defined twice", bot.id));
            }
            let url = bot.websocket.url.trim();
            if bot.kind == BotKind::Websocket && !url.starts_with("ws://") {
                problems.push(format!(
                    "bot `{}`: kind = \"websocket\" needs [bots.websocket] url = \"ws://…\" (got {url:?})",
                    bot.id
                ));
            }
            if bot.kind == BotKind::Sip {
                problems.extend(bot.sip.problems(&bot.id));
            }
            if bot.websocket.connect_timeout_ms == 0 {
                problems.push(format!(
                    "bot `{}`: [bots.websocket] connect_timeout_ms must be > 0",
                    bot.id
                ));
            }
            let chunk = bot.websocket.chunk_ms;
            if !(20..=200).contains(&chunk) || chunk % 20 != 0 {
                problems.push(format!(
                    "bot `{}`: [bots.websocket] chunk_ms must be 20, 40, … 200 (got {chunk})",
                    bot.id
                ));
            }
        }
        problems.extend(self.talkdesk.problems(&bot_ids));
        if self.trunks.iter().filter(|t| t.tls.is_some()).count() > MAX_CERTIFIED_TRUNKS {
            problems.push(format!(
                "at most {MAX_CERTIFIED_TRUNKS} trunks may have [trunks.tls] client certificates"
            ));
        }
        let mut trunk_names = std::collections::BTreeSet::new();
        for trunk in &self.trunks {
            if !trunk_names.insert(trunk.name.as_str()) {
                problems.push(format!("trunk `{}` is defined twice", trunk.name));
            }
            problems.extend(trunk.refer.problems(&trunk.name));
            problems.extend(trunk.invite.problems(&trunk.name));
            if trunk.allow.is_empty() {
                problems.push(format!("trunk `{}` allows no source address", trunk.name));
            }
            if let Some(auth) = &trunk.auth {
                problems.extend(auth.problems(&trunk.name));
            }
            if let Some(tls) = &trunk.tls {
                problems.extend(tls.problems(&trunk.name, &self.tls));
            }
            for codec in &trunk.codecs {
                if !KNOWN_CODECS.iter().any(|k| k.eq_ignore_ascii_case(codec)) {
                    problems.push(format!(
                        "trunk `{}`: unknown codec `{codec}` (known: {})",
                        trunk.name,
                        KNOWN_CODECS.join(", ")
                    ));
                }
            }
            for route in &trunk.routes {
                if route.did != "*"
                    && !(route.did.chars().enumerate())
                        .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == '+'))
                {
                    problems.push(format!(
                        "trunk `{}`: route DID `{}` must be `*` or `+` and digits",
                        trunk.name, route.did
                    ));
                }
                if !bot_ids.contains(route.bot.as_str()) {
                    problems.push(format!(
                        "trunk `{}`: route `{}` names unknown bot `{}`",
                        trunk.name, route.did, route.bot
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The bot with this id.
    pub fn bot(&self, id: &str) -> Option<&BotConfig> {
        self.bots.iter().find(|b| b.id == id)
    }

    /// The trunk whose ACL admits `source`, first match wins.
    pub fn trunk_for_source(&self, source: IpAddr) -> Option<&TrunkConfig> {
        let source = canonical_ip(source);
        self.trunks
            .iter()
            .find(|t| t.allow.iter().any(|net| net.contains(&source)))
    }
}

impl TrunkConfig {
    /// The bot a DID routes to on this trunk (exact DID first, then `*`).
    pub fn route(&self, did: &str) -> Option<&str> {
        route_in(&self.routes, did)
    }
}

/// The bot `did` routes to in `routes`: the exact DID first, then `*`.
fn route_in<'a>(routes: &'a [RouteConfig], did: &str) -> Option<&'a str> {
    let exact = routes.iter().find(|r| r.did == did);
    exact
        .or_else(|| routes.iter().find(|r| r.did == "*"))
        .map(|r| r.bot.as_str())
}

/// IPv4-mapped IPv6 addresses (from dual-stack sockets) compared as IPv4.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_matches_the_architecture() {
        let c = Config::embedded_default();
        assert_eq!(c.node.sip_listen, "0.0.0.0:5060".parse().unwrap());
        assert_eq!(c.node.http_listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(
            c.node.rtp_ports,
            PortRange {
                lo: 20000,
                hi: 39999
            }
        );
        let trunk = c.trunk_for_source("127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(trunk.name, "local");
        assert_eq!(trunk.profile, Profile::ZoomCc);
        assert_eq!(trunk.route("+15551234"), Some("demo"));
        assert!(c.trunk_for_source("::1".parse().unwrap()).is_some());
        assert!(c
            .trunk_for_source("::ffff:127.0.0.1".parse().unwrap())
            .is_some());
        assert!(c.trunk_for_source("192.0.2.1".parse().unwrap()).is_none());
        let demo = c.bot("demo").unwrap();
        assert_eq!(demo.kind, BotKind::Builtin);
        assert_eq!(demo.client_id.as_deref(), Some("demo-client"));
        assert_eq!(demo.builtin.escalate_variables["ringGroup"], "agents");
        assert_eq!(c.store.kind, StoreKind::Sqlite);
        assert_eq!(c.store.path, "voxgate.db");
        assert_eq!(c.api.metadata_ttl_secs, 86_400);
        assert_eq!(c.api.metadata_token, DEMO_METADATA_TOKEN);
        assert_eq!(c.api.demo_tokens(), ["metadata_token", "api_token"]);
    }

    #[test]
    fn digital_connect_section_is_validated() {
        let c = Config::embedded_default();
        assert_eq!(c.digital_connect.token_ttl_secs, 3600);
        assert!(c.digital_connect.webhook_url.is_empty());
        let bad = DEFAULT_TOML
            .replace("token_ttl_secs = 3600", "token_ttl_secs = 0")
            .replace(
                "webhook_url = \"\"",
                "webhook_url = \"https://bot.example/m\"",
            )
            .replace("webhook_max_attempts = 5", "webhook_max_attempts = 0");
        let err = Config::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("token_ttl_secs"), "{err}");
        assert!(err.contains("webhook_url must be http://"), "{err}");
        assert!(err.contains("webhook_max_attempts"), "{err}");
        let hook = DEFAULT_TOML.replace(
            "webhook_url = \"\"",
            "webhook_url = \"http://127.0.0.1:9000/m\"",
        );
        assert!(Config::from_toml(&hook).is_ok());
    }

    #[test]
    fn trunk_client_certificates_are_validated() {
        let with = |tls: &str| {
            DEFAULT_TOML.replacen("[trunks.refer]\n", &format!("{tls}\n[trunks.refer]\n"), 1)
        };
        let no_listener = with("[trunks.tls]\nclient_ca = \"\"\nclient_names = [\"bad name\"]\n");
        let err = Config::from_toml(&no_listener).unwrap_err().to_string();
        assert!(err.contains("[trunks.tls] needs `client_ca`"), "{err}");
        assert!(err.contains("needs the SIP TLS listener"), "{err}");
        assert!(err.contains("`bad name` is not a DNS name"), "{err}");
        let good = with("[trunks.tls]\nclient_ca = \"ca.pem\"\nclient_names = [\"sbc.example.com\", \"192.0.2.7\"]\n")
            .replace("# listen = \"0.0.0.0:5061\"", "listen = \"127.0.0.1:5061\"")
            .replace("cert = \"\"\nkey = \"\"", "cert = \"c.pem\"\nkey = \"k.pem\"");
        let c = Config::from_toml(&good).unwrap();
        let tls = c.trunks[0].tls.as_ref().unwrap();
        assert_eq!(tls.client_names, ["sbc.example.com", "192.0.2.7"]);
        assert!(Config::embedded_default().trunks[0].tls.is_none());
    }

    #[test]
    fn api_section_is_validated_and_redacted() {
        let no_api: String = DEFAULT_TOML
            .split("\n[api]")
            .next()
            .map(str::to_owned)
            .unwrap_or_default();
        let c = Config::from_toml(&no_api).unwrap();
        assert_eq!(c.api.metadata_ttl(), std::time::Duration::from_secs(86_400));

        let bad = DEFAULT_TOML
            .replace("metadata_ttl_secs = 86400", "metadata_ttl_secs = 0")
            .replace("api_token = \"demo-api-token\"", "api_token = \"\"");
        let err = Config::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("metadata_ttl_secs"), "{err}");
        assert!(err.contains("must not be empty"), "{err}");

        let custom = DEFAULT_TOML.replace(DEMO_METADATA_TOKEN, "s3cret-value");
        let c = Config::from_toml(&custom).unwrap();
        assert_eq!(c.api.demo_tokens(), ["api_token"]);
        assert!(!format!("{c:?}").contains("s3cret-value"));
    }

    #[test]
    fn unknown_keys_and_bad_references_are_reported() {
        let typo = DEFAULT_TOML.replace("max_calls = 2000", "max_cals = 2000");
        let err = Config::from_toml(&typo).unwrap_err().to_string();
        assert!(err.contains("max_cals"), "{err}");

        let bad = DEFAULT_TOML
            .replace("bot = \"demo\"", "bot = \"nobody\"")
            .replace("\"G722\"]", "\"G729\"]");
        let err = Config::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains("unknown bot `nobody`"), "{err}");
        assert!(err.contains("unknown codec `G729`"), "{err}");
    }

    #[test]
    fn websocket_bots() {
        let ws = DEFAULT_TOML.replace("kind = \"builtin\"", "kind = \"websocket\"")
            + "\n[bots.websocket]\nurl = \"ws://127.0.0.1:9000/bot\"\nformat = \"audio/l16\"\n\
               [bots.restart]\nmax_restarts = 1\n";
        let c = Config::from_toml(&ws).unwrap();
        let bot = c.bot("demo").unwrap();
        assert_eq!(bot.kind, BotKind::Websocket);
        assert_eq!(bot.websocket.format, WsAudioFormat::L16);
        assert_eq!(bot.websocket.connect_timeout_ms, 3000);
        assert_eq!(bot.restart.max_restarts, 1);
        assert_eq!(bot.restart.window_secs, 10);

        let no_url = DEFAULT_TOML.replace("kind = \"builtin\"", "kind = \"websocket\"");
        let err = Config::from_toml(&no_url).unwrap_err().to_string();
        assert!(err.contains("needs [bots.websocket] url"), "{err}");
        let bad_format = ws.replace("audio/l16", "audio/opus");
        assert!(Config::from_toml(&bad_format).is_err());

        assert_eq!(bot.websocket.chunk_ms, 20);
        let chunked = ws.replace(
            "format = \"audio/l16\"",
            "format = \"audio/l16\"\nchunk_ms = 40",
        );
        let c = Config::from_toml(&chunked).unwrap();
        assert_eq!(c.bot("demo").unwrap().websocket.chunk_ms, 40);
        for bad in ["0", "30", "220"] {
            let err =
                Config::from_toml(&chunked.replace("chunk_ms = 40", &format!("chunk_ms = {bad}")))
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("chunk_ms must be 20, 40"), "{bad}: {err}");
        }
    }

    #[test]
    fn port_ranges() {
        assert_eq!(
            "10000-10010".parse::<PortRange>().unwrap(),
            PortRange {
                lo: 10000,
                hi: 10010
            }
        );
        assert!("10-5".parse::<PortRange>().is_err());
        assert!("0-100".parse::<PortRange>().is_err());
        assert!("abc".parse::<PortRange>().is_err());
    }
}
