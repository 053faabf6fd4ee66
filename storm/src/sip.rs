//! The storm's SIP side as a UAC: the requests it sends (INVITE, ACK, BYE) and the answers it
//! gives to the node's requests, built on the engine's message facade so nothing here parses
//! or prints SIP by hand.

use std::net::SocketAddr;

use crate::sip_link::Transport;
use voxgate_engine::sip::message::{
    Contact, HeaderName, Method, NameAddr, Request, Response, SipMessage,
};

/// Where the storm sends from and to, and whom it calls.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The storm's SIP socket address (Via, Contact).
    pub local: SocketAddr,
    /// The node or proxy every request goes to.
    pub target: SocketAddr,
    /// The dialled number (Request-URI user part).
    pub did: String,
    /// UDP or TCP (Via, Contact).
    pub transport: Transport,
}

/// What a call's dialog needs after the 200 OK: the peer's To (with its tag), the remote
/// target and the route set.
#[derive(Debug, Clone, Default)]
pub struct Dialog {
    /// The To header value of the 200 OK, tag included.
    pub to: String,
    /// The Contact URI of the 200 OK (Request-URI of ACK and BYE).
    pub remote_target: String,
    /// The Record-Route set of the 200 OK, reversed as a UAC uses it (RFC 3261 §12.1.2).
    pub route: Vec<String>,
}

impl Dialog {
    /// Reads the dialog out of a 2xx to our INVITE.
    pub fn from_2xx(ok: &Response, endpoint: &Endpoint) -> Dialog {
        let to = ok
            .headers
            .get(&HeaderName::To)
            .unwrap_or_default()
            .to_owned();
        let remote_target = Contact::from_headers(&ok.headers)
            .ok()
            .flatten()
            .and_then(|c| c.addrs().first().map(|a| a.uri.clone()))
            .unwrap_or_else(|| format!("sip:{}@{}", endpoint.did, endpoint.target));
        let mut route: Vec<String> = ok
            .headers
            .get_all(&HeaderName::RecordRoute)
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        route.reverse();
        Dialog {
            to,
            remote_target,
            route,
        }
    }
}

/// The token part of one of our Call-IDs (`serial.slot.run@storm` → `serial.slot.run`), for
/// tags and branches: `@` is not a token character, and a proxy that puts our From tag into
/// its Record-Route URI (Kamailio's `ftag`) could not parse it back.
fn token(call_id: &str) -> &str {
    call_id.split('@').next().unwrap_or(call_id)
}

impl Endpoint {
    /// Our Contact: where the node sends its in-dialog requests (its BYE).
    fn contact(&self) -> String {
        format!("<sip:storm@{}{}>", self.local, self.transport.uri_param())
    }

    fn from_header(call_id: &str) -> String {
        format!("<sip:storm@storm.invalid>;tag={}", token(call_id))
    }

    fn base(
        &self,
        method: &Method,
        uri: String,
        call_id: &str,
        branch: &str,
        cseq: u32,
    ) -> Request {
        let mut r = Request::new(method.clone(), uri);
        r.headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch=z9hG4bK{branch};rport",
                self.transport.via_name(),
                self.local
            ),
        );
        r.headers.push(HeaderName::MaxForwards, "70");
        r.headers
            .push(HeaderName::From, Endpoint::from_header(call_id));
        r.headers.push(HeaderName::CallId, call_id);
        r.headers.push(HeaderName::CSeq, format!("{cseq} {method}"));
        r
    }

    /// The INVITE of call `call_id` with SDP offer `sdp`.
    pub fn invite(&self, call_id: &str, sdp: Vec<u8>) -> Request {
        let uri = format!("sip:{}@{}", self.did, self.target);
        let mut r = self.base(&Method::Invite, uri.clone(), call_id, token(call_id), 1);
        r.headers.push(HeaderName::To, format!("<{uri}>"));
        r.headers.push(HeaderName::Contact, self.contact());
        r.headers.push(HeaderName::ContentType, "application/sdp");
        r.body = sdp;
        r
    }

    /// The ACK of a 2xx (a new transaction inside the dialog, RFC 3261 §13.2.2.4).
    pub fn ack_2xx(&self, call_id: &str, dialog: &Dialog) -> Vec<u8> {
        self.in_dialog(&Method::Ack, call_id, dialog, 1, "a")
            .to_bytes()
    }

    /// Our BYE ending the call.
    pub fn bye(&self, call_id: &str, dialog: &Dialog) -> Vec<u8> {
        self.in_dialog(&Method::Bye, call_id, dialog, 2, "b")
            .to_bytes()
    }

    fn in_dialog(
        &self,
        method: &Method,
        call_id: &str,
        dialog: &Dialog,
        cseq: u32,
        suffix: &str,
    ) -> Request {
        let branch = format!("{}.{suffix}", token(call_id));
        let mut r = self.base(method, dialog.remote_target.clone(), call_id, &branch, cseq);
        r.headers.push(HeaderName::To, dialog.to.clone());
        for hop in &dialog.route {
            r.headers.push(HeaderName::Route, hop.clone());
        }
        r
    }

    /// The ACK of a non-2xx final response: same branch as the INVITE, hop by hop
    /// (RFC 3261 §17.1.1.3).
    pub fn ack_failure(&self, invite: &Request, failure: &Response) -> Vec<u8> {
        let mut r = Request::new(Method::Ack, invite.uri.clone());
        for h in invite.headers.iter() {
            match h.name {
                HeaderName::Via
                | HeaderName::From
                | HeaderName::CallId
                | HeaderName::MaxForwards => r.headers.push(h.name.clone(), h.value.clone()),
                _ => {}
            }
        }
        let to = failure.headers.get(&HeaderName::To).unwrap_or_default();
        r.headers.push(HeaderName::To, to);
        r.headers.push(HeaderName::CSeq, "1 ACK");
        r.to_bytes()
    }
}

/// The value of header `name` (any case) in a message.
pub fn header<'a>(msg: &'a SipMessage, name: &str) -> Option<&'a str> {
    msg.headers().get_named(name)
}

/// The tag of a To/From value.
pub fn tag_of(value: &str) -> Option<String> {
    NameAddr::parse(value).ok()?.tag().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip_link::Transport;
    use voxgate_engine::sip::message::{parse, Limits};

    fn endpoint() -> Endpoint {
        Endpoint {
            local: "127.0.0.1:5070".parse().unwrap(),
            target: "127.0.0.1:5060".parse().unwrap(),
            did: "+15550100".into(),
            transport: Transport::Udp,
        }
    }

    #[test]
    fn invite_ack_and_bye_follow_the_dialog() {
        let ep = endpoint();
        let invite = ep.invite("c1@storm", b"v=0\r\n".to_vec());
        let bytes = invite.to_bytes();
        let SipMessage::Request(parsed) = parse(&bytes, &Limits::DEFAULT).unwrap() else {
            panic!("request expected")
        };
        assert_eq!(parsed.uri, "sip:+15550100@127.0.0.1:5060");
        assert_eq!(parsed.call_id().unwrap(), "c1@storm");
        assert_eq!(parsed.from().unwrap().tag(), Some("c1"), "tags are tokens");
        assert_eq!(parsed.body, b"v=0\r\n");

        let mut ok = parsed.response(200, "OK", Some("node-tag"));
        ok.headers
            .push(HeaderName::Contact, "<sip:voxgate@127.0.0.1:5060>");
        ok.headers
            .push(HeaderName::RecordRoute, "<sip:p1;lr>, <sip:p2;lr>");
        let dialog = Dialog::from_2xx(&ok, &ep);
        assert_eq!(dialog.remote_target, "sip:voxgate@127.0.0.1:5060");
        assert_eq!(dialog.route, ["<sip:p2;lr>", "<sip:p1;lr>"]);
        assert_eq!(tag_of(&dialog.to).as_deref(), Some("node-tag"));

        let bye = parse(&ep.bye("c1", &dialog), &Limits::DEFAULT).unwrap();
        let SipMessage::Request(bye) = bye else {
            panic!("request expected")
        };
        assert_eq!(bye.method, Method::Bye);
        assert_eq!(bye.uri, "sip:voxgate@127.0.0.1:5060");
        assert_eq!(bye.cseq().unwrap().seq, 2);
        assert_eq!(bye.headers.get_all(&HeaderName::Route).count(), 2);
        assert_eq!(
            tag_of(bye.headers.get(&HeaderName::To).unwrap()).as_deref(),
            Some("node-tag")
        );

        let busy = parsed.response(486, "Busy Here", Some("t"));
        let ack = parse(&ep.ack_failure(&parsed, &busy), &Limits::DEFAULT).unwrap();
        let SipMessage::Request(ack) = ack else {
            panic!("request expected")
        };
        assert_eq!(
            ack.top_via().unwrap().branch(),
            parsed.top_via().unwrap().branch()
        );
        assert_eq!(ack.cseq().unwrap().method, Method::Ack);
    }
}
