//! Node policy for requests that arrive outside any dialog: which trunk a source belongs to,
//! which bot a DID goes to, and the answers the node gives on its own (ARCHITECTURE §3):
//! 403 for a source no trunk admits, 404 for a DID without route, 405/501 for methods the node
//! does not serve, 503 while draining or full. Pure: the endpoint actor feeds it facts.

use std::net::IpAddr;

use crate::config::{Config, TrunkConfig};
use crate::sip::message::{HeaderName, Method, Request, Response};

/// Methods the node serves; sent in `Allow`.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER, NOTIFY";

/// What to do with an out-of-dialog request.
#[derive(Debug, Clone)]
pub enum Decision<'a> {
    /// Start a call on `trunk` to `bot` for `did`.
    NewCall {
        /// The trunk that admitted the source.
        trunk: &'a TrunkConfig,
        /// The bot id the DID routes to.
        bot: &'a str,
        /// The dialled number.
        did: String,
    },
    /// Answer `200 OK` to this OPTIONS probe.
    Options,
    /// Answer with this status and reason phrase (plus `Allow` / `Retry-After` as the status
    /// calls for, see [`refusal`]).
    Refuse(u16, &'static str),
}

/// Facts about the node's load when the request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// The node is draining.
    pub draining: bool,
    /// The node is at `max_calls`.
    pub full: bool,
}

/// Decides about a request that has no dialog (no To tag) and is not ACK or CANCEL (those
/// belong to their INVITE transaction).
pub fn decide<'a>(config: &'a Config, source: IpAddr, req: &Request, load: Load) -> Decision<'a> {
    let Some(trunk) = config.trunk_for_source(source) else {
        return Decision::Refuse(403, "Forbidden");
    };
    match req.method {
        // A draining node says so to the load balancers that probe it, so they stop sending
        // it new calls before an INVITE has to be refused.
        Method::Options if load.draining => Decision::Refuse(503, "Service Unavailable"),
        Method::Options => Decision::Options,
        Method::Invite => {
            if load.draining || load.full {
                return Decision::Refuse(503, "Service Unavailable");
            }
            let Some(did) = req.uri_user().map(normalise_did) else {
                return Decision::Refuse(404, "Not Found");
            };
            match trunk.route(&did) {
                Some(bot) => Decision::NewCall { trunk, bot, did },
                None => Decision::Refuse(404, "Not Found"),
            }
        }
        // Out of dialog these make no sense for a gateway that holds no registrations or
        // subscriptions: the method exists, we just do not serve it here.
        Method::Register | Method::Subscribe | Method::Publish | Method::Message => {
            Decision::Refuse(405, "Method Not Allowed")
        }
        // In-dialog methods without a dialog.
        Method::Bye
        | Method::Info
        | Method::Update
        | Method::Refer
        | Method::Notify
        | Method::Prack => Decision::Refuse(481, "Call/Transaction Does Not Exist"),
        Method::Extension(_) => Decision::Refuse(501, "Not Implemented"),
        // ACK and CANCEL never reach here (the transaction layer owns them); answer as for an
        // unknown transaction should one slip through.
        Method::Ack | Method::Cancel => Decision::Refuse(481, "Call/Transaction Does Not Exist"),
    }
}

/// The DID of a Request-URI user part: visual separators (RFC 3966 `-`, `.`, `(`, `)`) and
/// `%2B`-escaped plus signs normalised, so `+1-555-0100` and `%2B15550100` route as `+15550100`.
pub fn normalise_did(user: &str) -> String {
    let user = user.split(';').next().unwrap_or(user);
    let mut out = String::with_capacity(user.len());
    let mut rest = user;
    if let Some(r) = rest
        .strip_prefix("%2B")
        .or_else(|| rest.strip_prefix("%2b"))
    {
        out.push('+');
        rest = r;
    }
    out.extend(rest.chars().filter(|c| !matches!(c, '-' | '.' | '(' | ')')));
    out
}

/// Builds the node's own refusal: status and phrase, plus `Allow` for 405/501 and
/// `Retry-After` for 503.
pub fn refusal(
    req: &Request,
    status: u16,
    reason: &str,
    to_tag: &str,
    retry_after_secs: u32,
) -> Response {
    let mut resp = req.response(status, reason, Some(to_tag));
    match status {
        405 | 501 => resp.headers.push(HeaderName::Allow, ALLOW),
        503 => resp
            .headers
            .push(HeaderName::RetryAfter, retry_after_secs.to_string()),
        _ => {}
    }
    resp
}

/// The `200 OK` to an OPTIONS probe: what the node can do.
pub fn options_ok(req: &Request, to_tag: &str, user_agent: &str) -> Response {
    let mut resp = req.response(200, "OK", Some(to_tag));
    resp.headers.push(HeaderName::Allow, ALLOW);
    resp.headers.push(HeaderName::Accept, "application/sdp");
    resp.headers
        .push(HeaderName::Supported, "replaces, timer, norefersub");
    resp.headers.push(HeaderName::Server, user_agent);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str) -> Request {
        let mut r = Request::new(method, uri);
        r.headers.push(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1",
        );
        r.headers.push(HeaderName::From, "<sip:a@127.0.0.1>;tag=1");
        r.headers.push(HeaderName::To, "<sip:b@127.0.0.1>");
        r.headers.push(HeaderName::CallId, "c1");
        r.headers.push(HeaderName::CSeq, format!("1 {}", r.method));
        r
    }

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const IDLE: Load = Load {
        draining: false,
        full: false,
    };

    #[test]
    fn default_config_routes_any_did_from_loopback_to_demo() {
        let config = Config::embedded_default();
        let req = request(Method::Invite, "sip:+1-555-0100@127.0.0.1:5060;user=phone");
        match decide(&config, LOOPBACK, &req, IDLE) {
            Decision::NewCall { trunk, bot, did } => {
                assert_eq!(
                    (trunk.name.as_str(), bot, did.as_str()),
                    ("local", "demo", "+15550100")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals() {
        let config = Config::embedded_default();
        let invite = request(Method::Invite, "sip:+15550100@127.0.0.1");
        let outsider: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(matches!(
            decide(&config, outsider, &invite, IDLE),
            Decision::Refuse(403, "Forbidden")
        ));
        let draining = Load {
            draining: true,
            full: false,
        };
        assert!(matches!(
            decide(&config, LOOPBACK, &invite, draining),
            Decision::Refuse(503, "Service Unavailable")
        ));
        let probe = request(Method::Options, "sip:127.0.0.1");
        assert!(matches!(
            decide(&config, LOOPBACK, &probe, draining),
            Decision::Refuse(503, "Service Unavailable")
        ));
        let no_user = request(Method::Invite, "sip:127.0.0.1");
        assert!(matches!(
            decide(&config, LOOPBACK, &no_user, IDLE),
            Decision::Refuse(404, "Not Found")
        ));
        let reg = request(Method::Register, "sip:127.0.0.1");
        assert!(matches!(
            decide(&config, LOOPBACK, &reg, IDLE),
            Decision::Refuse(405, "Method Not Allowed")
        ));
        let ext = request(Method::from_token("NEWMETHOD"), "sip:127.0.0.1");
        assert!(matches!(
            decide(&config, LOOPBACK, &ext, IDLE),
            Decision::Refuse(501, "Not Implemented")
        ));
        let bye = request(Method::Bye, "sip:x@127.0.0.1");
        assert!(matches!(
            decide(&config, LOOPBACK, &bye, IDLE),
            Decision::Refuse(481, "Call/Transaction Does Not Exist")
        ));
        assert!(matches!(
            decide(
                &config,
                LOOPBACK,
                &request(Method::Options, "sip:127.0.0.1"),
                IDLE
            ),
            Decision::Options
        ));
    }

    #[test]
    fn exact_did_beats_wildcard() {
        let text = crate::config::DEFAULT_TOML.replace(
            "[[trunks.routes]]\ndid = \"*\"",
            "[[trunks.routes]]\ndid = \"+15550199\"\nbot = \"demo\"\n\n[[trunks.routes]]\ndid = \"+15550198\"",
        );
        let config = Config::from_toml(&text).unwrap();
        let trunk = &config.trunks[0];
        assert_eq!(trunk.route("+15550199"), Some("demo"));
        assert_eq!(trunk.route("+15550198"), Some("demo"));
        assert_eq!(trunk.route("+15550100"), None);
    }

    #[test]
    fn refusal_headers() {
        let req = request(Method::Invite, "sip:+1@127.0.0.1");
        let r = refusal(&req, 503, "Service Unavailable", "t1", 30);
        assert_eq!(r.headers.get(&HeaderName::RetryAfter), Some("30"));
        let r = refusal(&req, 501, "Not Implemented", "t1", 30);
        assert_eq!(r.headers.get(&HeaderName::Allow), Some(ALLOW));
        assert!(r.headers.get(&HeaderName::To).unwrap().ends_with(";tag=t1"));
    }

    #[test]
    fn did_normalisation() {
        assert_eq!(normalise_did("%2B15550100"), "+15550100");
        assert_eq!(normalise_did("+1(555)010.0"), "+15550100");
        assert_eq!(normalise_did("15550100;isub=1"), "15550100");
    }
}
