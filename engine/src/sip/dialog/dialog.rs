//! One dialog (RFC 3261 §12): its state, route set, targets and sequence numbers, the
//! in-dialog requests it builds and the checks on the ones it receives.

use rand::RngCore;

use super::id::DialogId;
use super::{DialogError, Rejection};
use crate::sip::message::typed::{parse_params, split_top_level_commas};
use crate::sip::message::{HeaderName, Method, NameAddr, Request, Response};
use crate::sip::transaction::{new_branch, TransportKind};

/// Which side created the dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogRole {
    /// We sent the INVITE.
    Uac,
    /// We received the INVITE.
    Uas,
}

/// Dialog states (RFC 3261 §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a 1xx with a To tag.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended by BYE, a non-2xx final on an early dialog, 481/408 on an in-dialog request.
    Terminated,
}

/// How we appear in the requests we send: the top Via and the Contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEndpoint {
    /// The transport named in our Via.
    pub transport: TransportKind,
    /// Our Via sent-by (`host:port`).
    pub sent_by: String,
    /// Our Contact value (`<sip:gw@198.51.100.1:5060>`), sent in target-refresh requests.
    pub contact: String,
}

/// One dialog. Build it with [`Dialog::uas`] / [`Dialog::uac`] or through
/// [`super::DialogLayer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    id: DialogId,
    role: DialogRole,
    state: DialogState,
    local_seq: Option<u32>,
    remote_seq: Option<u32>,
    /// Our From (UAC) / To (UAS) header value, with our tag.
    local_party: String,
    /// The peer's header value, with its tag.
    remote_party: String,
    remote_target: String,
    route_set: Vec<String>,
    secure: bool,
    local: LocalEndpoint,
    /// CSeq number of the last INVITE we sent (the ACK to its 2xx reuses it).
    invite_seq: Option<u32>,
    /// Our INVITE in this dialog still waits for its final response (RFC 3261 §14.1).
    outgoing_invite: bool,
    /// The peer's INVITE in this dialog still waits for our final response (§14.2).
    incoming_invite: bool,
}

/// The URI of a Contact header value.
fn contact_uri(msg_contact: Option<&str>) -> Option<String> {
    let first = split_top_level_commas(msg_contact?).next()?;
    NameAddr::parse(first).ok().map(|na| na.uri)
}

/// Every Record-Route value, in message order.
fn record_routes(headers: &crate::sip::message::Headers) -> Vec<String> {
    headers
        .get_all(&HeaderName::RecordRoute)
        .flat_map(split_top_level_commas)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether a route value's URI carries `lr` (RFC 3261 §19.1.1 loose routing).
fn is_loose(route: &str) -> bool {
    let Ok(na) = NameAddr::parse(route) else {
        return false;
    };
    uri_params(&na.uri)
        .iter()
        .any(|p| p.eq_ignore_ascii_case("lr"))
}

/// The parameter names of a SIP URI (after the host part, before `?`).
fn uri_params(uri: &str) -> Vec<String> {
    let uri = uri.split('?').next().unwrap_or(uri);
    let Some(semi) = uri.find(';') else {
        return Vec::new();
    };
    parse_params(&uri[semi..])
        .map(|ps| ps.into_iter().map(|p| p.name).collect())
        .unwrap_or_default()
}

impl Dialog {
    /// The UAS side (RFC 3261 §12.1.1): from the INVITE we received and our 1xx/2xx carrying
    /// our To tag. Route set = Record-Route in order, remote target = the INVITE's Contact.
    pub fn uas(
        invite: &Request,
        response: &Response,
        local: LocalEndpoint,
    ) -> Result<Dialog, DialogError> {
        if !(101..300).contains(&response.status) {
            return Err(DialogError::NotDialogCreating(response.status));
        }
        let local_party = response
            .headers
            .get(&HeaderName::To)
            .ok_or(DialogError::NoToTag)?;
        let local_tag = response.to()?.tag().ok_or(DialogError::NoToTag)?.to_owned();
        let remote_tag = invite.from()?.tag().unwrap_or("").to_owned();
        let remote_target = contact_uri(invite.headers.get(&HeaderName::Contact))
            .ok_or(DialogError::MissingContact)?;
        Ok(Dialog {
            id: DialogId {
                call_id: invite.call_id()?.to_owned(),
                local_tag,
                remote_tag,
            },
            role: DialogRole::Uas,
            state: if response.status < 200 {
                DialogState::Early
            } else {
                DialogState::Confirmed
            },
            local_seq: None,
            remote_seq: Some(invite.cseq()?.seq),
            local_party: local_party.to_owned(),
            remote_party: invite
                .headers
                .get(&HeaderName::From)
                .unwrap_or_default()
                .to_owned(),
            remote_target,
            route_set: record_routes(&invite.headers),
            secure: invite.uri.starts_with("sips:"),
            local,
            invite_seq: None,
            outgoing_invite: false,
            incoming_invite: response.status < 200,
        })
    }

    /// The UAC side (RFC 3261 §12.1.2): from the INVITE we sent and a 1xx/2xx with a To tag.
    /// Route set = Record-Route reversed, remote target = the response's Contact.
    pub fn uac(
        invite: &Request,
        response: &Response,
        local: LocalEndpoint,
    ) -> Result<Dialog, DialogError> {
        if !(101..300).contains(&response.status) {
            return Err(DialogError::NotDialogCreating(response.status));
        }
        let remote_party = response
            .headers
            .get(&HeaderName::To)
            .ok_or(DialogError::NoToTag)?;
        let remote_tag = response.to()?.tag().ok_or(DialogError::NoToTag)?.to_owned();
        let local_tag = invite.from()?.tag().unwrap_or("").to_owned();
        // A 1xx may lack a Contact; the Request-URI is the best target until the 2xx.
        let remote_target = contact_uri(response.headers.get(&HeaderName::Contact))
            .or_else(|| (response.status < 200).then(|| invite.uri.clone()))
            .ok_or(DialogError::MissingContact)?;
        let mut route_set = record_routes(&response.headers);
        route_set.reverse();
        let seq = invite.cseq()?.seq;
        Ok(Dialog {
            id: DialogId {
                call_id: invite.call_id()?.to_owned(),
                local_tag,
                remote_tag,
            },
            role: DialogRole::Uac,
            state: if response.status < 200 {
                DialogState::Early
            } else {
                DialogState::Confirmed
            },
            local_seq: Some(seq),
            remote_seq: None,
            local_party: invite
                .headers
                .get(&HeaderName::From)
                .unwrap_or_default()
                .to_owned(),
            remote_party: remote_party.to_owned(),
            remote_target,
            route_set,
            secure: invite.uri.starts_with("sips:"),
            local,
            invite_seq: Some(seq),
            outgoing_invite: response.status < 200,
            incoming_invite: false,
        })
    }

    /// The dialog identifier.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Which side created it.
    pub fn role(&self) -> DialogRole {
        self.role
    }

    /// The current state.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// The remote target URI (the peer's Contact).
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The route set, each entry a Route header value, in the order Route headers are sent.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// Our last CSeq number, if we sent any request in the dialog.
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    /// The peer's last CSeq number.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// Whether the dialog was created over `sips:`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The URI the next in-dialog request is sent to before DNS: the first route, or the
    /// remote target without a route set.
    pub fn next_hop(&self) -> String {
        self.route_set
            .first()
            .and_then(|r| NameAddr::parse(r).ok())
            .map_or_else(|| self.remote_target.clone(), |na| na.uri)
    }

    /// Changes the Contact we send in later target-refresh requests (a re-INVITE after our
    /// address changed).
    pub fn set_local_contact(&mut self, contact: impl Into<String>) {
        self.local.contact = contact.into();
    }

    /// Ends the dialog (BYE sent or received, a fatal in-dialog error).
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    /// Builds an in-dialog request (RFC 3261 §12.2.1.1): Request-URI and Route from the
    /// route set (loose or strict routing), From/To with tags, Call-ID, the next local CSeq
    /// (ACK and CANCEL do not consume one; build the 2xx ACK with [`Dialog::ack`]),
    /// Max-Forwards 70, a fresh Via branch and our Contact on target-refresh methods.
    pub fn request(&mut self, method: Method, rng: &mut impl RngCore) -> Request {
        let seq = match method {
            Method::Ack | Method::Cancel => self.local_seq.unwrap_or(1),
            _ => {
                let next = self
                    .local_seq
                    .map_or(1, |s| s.wrapping_add(1) & 0x7fff_ffff);
                self.local_seq = Some(next);
                next
            }
        };
        if method == Method::Invite {
            self.invite_seq = Some(seq);
            self.outgoing_invite = true;
        }
        self.build(method, seq, rng)
    }

    /// The ACK to a 2xx to one of our INVITEs (RFC 3261 §13.2.2.4): that INVITE's CSeq number
    /// (taken from the 2xx, so a late retransmission of an older 2xx is ACKed correctly), a
    /// new branch, the route set. `None` if `two_xx` is not a response to INVITE.
    pub fn ack(&self, two_xx: &Response, rng: &mut impl RngCore) -> Option<Request> {
        let cseq = two_xx.cseq().ok().filter(|c| c.method == Method::Invite)?;
        Some(self.build(Method::Ack, cseq.seq, rng))
    }

    fn build(&self, method: Method, seq: u32, rng: &mut impl RngCore) -> Request {
        let (uri, routes) = self.request_uri_and_routes();
        let contact = matches!(
            method,
            Method::Invite | Method::Update | Method::Refer | Method::Notify | Method::Subscribe
        );
        let cseq = format!("{seq} {method}");
        let mut req = Request::new(method, uri);
        req.headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={};rport",
                self.local.transport.via_token(),
                self.local.sent_by,
                new_branch(rng)
            ),
        );
        req.headers.push(HeaderName::MaxForwards, "70");
        for route in routes {
            req.headers.push(HeaderName::Route, route);
        }
        req.headers.push(HeaderName::From, self.local_party.clone());
        req.headers.push(HeaderName::To, self.remote_party.clone());
        req.headers
            .push(HeaderName::CallId, self.id.call_id.clone());
        req.headers.push(HeaderName::CSeq, cseq);
        if contact {
            req.headers
                .push(HeaderName::Contact, self.local.contact.clone());
        }
        req
    }

    /// Loose routing puts the remote target in the Request-URI and the whole route set in
    /// Route; a strict first hop (no `lr`) takes the Request-URI itself and the remote target
    /// goes last in Route (RFC 3261 §12.2.1.1).
    fn request_uri_and_routes(&self) -> (String, Vec<String>) {
        match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) if is_loose(first) => (self.remote_target.clone(), self.route_set.clone()),
            Some(first) => {
                // `first` exists, so `route_set[1..]` below is in bounds.
                let uri = NameAddr::parse(first).map_or_else(|_| first.clone(), |na| na.uri);
                // Headers (`?…`) are not allowed in a Request-URI.
                let uri = uri.split('?').next().unwrap_or(&uri).to_owned();
                let mut routes: Vec<String> = self.route_set[1..].to_vec();
                routes.push(format!("<{}>", self.remote_target));
                (uri, routes)
            }
        }
    }

    /// Checks a request received in this dialog (RFC 3261 §12.2.2): a CSeq lower than the
    /// last one is out of order (answer 500). A re-INVITE while the peer's previous INVITE is
    /// unanswered gets 500 with Retry-After (§14.2), while ours is unanswered 491 (§14.1).
    /// Updates the remote CSeq; a BYE terminates the dialog. The remote target is refreshed only when we accept a re-INVITE/UPDATE, see
    /// [`Dialog::on_response_sent`].
    pub fn receive_request(&mut self, req: &Request) -> Result<(), Rejection> {
        let seq = req.cseq().map_err(|_| Rejection::BadRequest)?.seq;
        if matches!(req.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if let Some(remote) = self.remote_seq {
            if seq < remote {
                return Err(Rejection::OutOfOrder {
                    last: remote,
                    got: seq,
                });
            }
        }
        if req.method == Method::Invite {
            if self.incoming_invite {
                return Err(Rejection::InviteInProgress {
                    // §14.2 wants 0–10 s at random; the CSeq is random enough and keeps this
                    // core free of an RNG on the receive path.
                    retry_after: (seq % 11) as u8,
                });
            }
            if self.outgoing_invite {
                return Err(Rejection::Glare);
            }
        }
        self.remote_seq = Some(seq);
        match req.method {
            Method::Bye => self.state = DialogState::Terminated,
            Method::Invite => self.incoming_invite = true,
            _ => {}
        }
        Ok(())
    }

    /// We answered `req` in this dialog with `resp`: a 2xx to the initial INVITE confirms an
    /// early UAS dialog, a 2xx to a re-INVITE/UPDATE carrying Contact refreshes the remote
    /// target (RFC 3261 §12.2.2, RFC 3311), a non-2xx final to the initial INVITE of an
    /// early dialog terminates it.
    pub fn on_response_sent(&mut self, req: &Request, resp: &Response) {
        if req.method == Method::Invite && resp.status >= 200 {
            self.incoming_invite = false;
        }
        self.apply_final(&req.method, req.headers.get(&HeaderName::Contact), resp);
    }

    /// A response to our request `req` arrived (RFC 3261 §12.2.1.2, §13.2.2.4): a 2xx to
    /// INVITE confirms an early dialog and recomputes its route set; a 2xx to a
    /// target-refresh request takes the new Contact; 481 and 408 end the dialog.
    pub fn on_response_received(&mut self, req: &Request, resp: &Response) {
        let answers_last_invite =
            req.method == Method::Invite && resp.cseq().ok().map(|c| c.seq) == self.invite_seq;
        if answers_last_invite && resp.status >= 200 {
            self.outgoing_invite = false;
        }
        if matches!(resp.status, 408 | 481) {
            self.state = DialogState::Terminated;
            return;
        }
        if self.state == DialogState::Early
            && req.method == Method::Invite
            && (200..300).contains(&resp.status)
        {
            let mut route_set = record_routes(&resp.headers);
            route_set.reverse();
            self.route_set = route_set;
        }
        if self.state == DialogState::Early && resp.status < 200 {
            if let Some(target) = contact_uri(resp.headers.get(&HeaderName::Contact)) {
                self.remote_target = target;
            }
        }
        self.apply_final(&req.method, resp.headers.get(&HeaderName::Contact), resp);
    }

    /// A final response to our `method` request inside the dialog, seen without the request
    /// (the endpoint keeps only its transaction): an INVITE of ours is no longer in progress,
    /// so the peer's next re-INVITE is not glare (§14.1), and a 2xx to a target refresh takes
    /// the new Contact. Ending the dialog on 408/481 (§12.2.1.2) is left to the call that owns
    /// it, which ends the call its own way.
    pub fn on_final_response(&mut self, method: &Method, resp: &Response) {
        if resp.status < 200 {
            return;
        }
        if *method == Method::Invite && resp.cseq().ok().map(|c| c.seq) == self.invite_seq {
            self.outgoing_invite = false;
        }
        self.apply_final(method, resp.headers.get(&HeaderName::Contact), resp);
    }

    fn apply_final(&mut self, method: &Method, contact: Option<&str>, resp: &Response) {
        let success = (200..300).contains(&resp.status);
        if success && matches!(method, Method::Invite | Method::Update) {
            if let Some(target) = contact_uri(contact) {
                self.remote_target = target;
            }
        }
        if *method == Method::Invite && self.state == DialogState::Early {
            if success {
                self.state = DialogState::Confirmed;
            } else if resp.status >= 300 {
                self.state = DialogState::Terminated;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    pub(crate) fn local() -> LocalEndpoint {
        LocalEndpoint {
            transport: TransportKind::Udp,
            sent_by: "198.51.100.1:5060".to_owned(),
            contact: "<sip:gw@198.51.100.1:5060>".to_owned(),
        }
    }

    fn incoming_invite() -> Request {
        let mut r = Request::new(Method::Invite, "sip:+15551234@198.51.100.1");
        r.headers
            .push(HeaderName::Via, "SIP/2.0/UDP p2.example;branch=z9hG4bKp2");
        r.headers
            .push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKc1");
        r.headers
            .push(HeaderName::RecordRoute, "<sip:p2.example;lr>");
        r.headers
            .push(HeaderName::RecordRoute, "<sip:p1.example;lr>");
        r.headers
            .push(HeaderName::From, "\"Alice\" <sip:alice@a.example>;tag=a1");
        r.headers.push(HeaderName::To, "<sip:+15551234@gw.example>");
        r.headers.push(HeaderName::CallId, "call-9");
        r.headers.push(HeaderName::CSeq, "10 INVITE");
        r.headers.push(
            HeaderName::Contact,
            "<sip:alice@192.0.2.10:5060;transport=udp>",
        );
        r
    }

    fn uas_dialog() -> Dialog {
        let invite = incoming_invite();
        let ok = invite.response(200, "OK", Some("gw1"));
        Dialog::uas(&invite, &ok, local()).unwrap()
    }

    #[test]
    fn uas_dialog_from_invite_and_2xx() {
        let d = uas_dialog();
        assert_eq!(d.state(), DialogState::Confirmed);
        assert_eq!(d.id().local_tag, "gw1");
        assert_eq!(d.id().remote_tag, "a1");
        assert_eq!(
            d.route_set(),
            ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
        );
        assert_eq!(d.remote_target(), "sip:alice@192.0.2.10:5060;transport=udp");
        assert_eq!(d.remote_seq(), Some(10));
        assert_eq!(d.local_seq(), None);
        assert_eq!(d.next_hop(), "sip:p2.example;lr");
    }

    #[test]
    fn bye_from_uas_uses_loose_routing_and_fresh_branch() {
        let mut d = uas_dialog();
        let mut rng = StdRng::seed_from_u64(7);
        let bye = d.request(Method::Bye, &mut rng);
        assert_eq!(bye.uri, "sip:alice@192.0.2.10:5060;transport=udp");
        assert_eq!(
            bye.headers.get_all(&HeaderName::Route).collect::<Vec<_>>(),
            vec!["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
        );
        assert_eq!(bye.from().unwrap().tag(), Some("gw1"));
        assert_eq!(bye.to().unwrap().tag(), Some("a1"));
        assert_eq!(bye.cseq().unwrap().seq, 1);
        assert_eq!(bye.headers.get(&HeaderName::MaxForwards), Some("70"));
        assert!(!bye.headers.contains(&HeaderName::Contact));
        let via = bye.top_via().unwrap();
        assert!(via.has_rfc3261_branch());
        let again = d.request(Method::Info, &mut rng);
        assert_eq!(again.cseq().unwrap().seq, 2);
        assert_ne!(again.top_via().unwrap().branch(), via.branch());
        let mut rng2 = StdRng::seed_from_u64(7);
        let mut d2 = uas_dialog();
        assert_eq!(
            d2.request(Method::Bye, &mut rng2),
            bye,
            "deterministic with a seeded rng"
        );
    }

    #[test]
    fn uac_dialog_reverses_record_route_and_acks_with_invite_cseq() {
        let mut invite = incoming_invite();
        invite.headers.remove(&HeaderName::RecordRoute);
        let mut ok = invite.response(200, "OK", Some("bob"));
        ok.headers.push(
            HeaderName::RecordRoute,
            "<sip:p2.example;lr>, <sip:p1.example;lr>",
        );
        ok.headers
            .push(HeaderName::Contact, "<sip:bob@203.0.113.5>");
        let mut d = Dialog::uac(&invite, &ok, local()).unwrap();
        assert_eq!(d.role(), DialogRole::Uac);
        assert_eq!(
            d.route_set(),
            ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
        );
        assert_eq!(d.remote_target(), "sip:bob@203.0.113.5");
        let mut rng = StdRng::seed_from_u64(1);
        let ack = d.ack(&ok, &mut rng).unwrap();
        assert_eq!(ack.cseq().unwrap().to_string(), "10 ACK");
        assert_eq!(ack.uri, "sip:bob@203.0.113.5");
        let reinvite = d.request(Method::Invite, &mut rng);
        assert_eq!(reinvite.cseq().unwrap().seq, 11);
        assert_eq!(
            reinvite.headers.get(&HeaderName::Contact),
            Some("<sip:gw@198.51.100.1:5060>")
        );
        let reinvite_ok = reinvite.response(200, "OK", None);
        assert_eq!(
            d.ack(&reinvite_ok, &mut rng).unwrap().cseq().unwrap().seq,
            11
        );
        assert_eq!(d.ack(&ok, &mut rng).unwrap().cseq().unwrap().seq, 10);
        assert_eq!(d.local_seq(), Some(11), "ACK does not consume a CSeq");
        let bye_ok = d.request(Method::Bye, &mut rng).response(200, "OK", None);
        assert!(d.ack(&bye_ok, &mut rng).is_none());
    }

    #[test]
    fn contact_only_on_target_refresh_and_subscription_methods() {
        let mut d = uas_dialog();
        let mut rng = StdRng::seed_from_u64(9);
        for (method, contact) in [
            (Method::Invite, true),
            (Method::Update, true),
            (Method::Refer, true),
            (Method::Notify, true),
            (Method::Info, false),
            (Method::Options, false),
            (Method::Bye, false),
        ] {
            let req = d.request(method.clone(), &mut rng);
            assert_eq!(
                req.headers.contains(&HeaderName::Contact),
                contact,
                "{method}"
            );
            assert_eq!(req.cseq().unwrap().method, method);
            assert_eq!(req.call_id().unwrap(), "call-9");
        }
        assert_eq!(d.local_seq(), Some(7));
    }

    #[test]
    fn strict_first_route_takes_the_request_uri() {
        let mut invite = incoming_invite();
        invite.headers.remove(&HeaderName::RecordRoute);
        invite
            .headers
            .push(HeaderName::RecordRoute, "<sip:strict.example>");
        invite
            .headers
            .push(HeaderName::RecordRoute, "<sip:p1.example;lr>");
        let ok = invite.response(200, "OK", Some("gw1"));
        let mut d = Dialog::uas(&invite, &ok, local()).unwrap();
        let bye = d.request(Method::Bye, &mut StdRng::seed_from_u64(0));
        assert_eq!(bye.uri, "sip:strict.example");
        assert_eq!(
            bye.headers.get_all(&HeaderName::Route).collect::<Vec<_>>(),
            vec![
                "<sip:p1.example;lr>",
                "<sip:alice@192.0.2.10:5060;transport=udp>"
            ]
        );
    }

    #[test]
    fn out_of_order_cseq_is_rejected_500() {
        let mut d = uas_dialog();
        let mut rng = StdRng::seed_from_u64(3);
        // A request from the peer: build it from the peer's point of view by hand.
        let mut info = d.request(Method::Info, &mut rng);
        info.headers.set(HeaderName::CSeq, "9 INFO");
        let err = d.receive_request(&info).unwrap_err();
        assert_eq!(err.status(), 500);
        assert_eq!(err.response(&info).status, 500);
        info.headers.set(HeaderName::CSeq, "11 INFO");
        assert!(d.receive_request(&info).is_ok());
        assert_eq!(d.remote_seq(), Some(11));
        let mut ack = info.clone();
        ack.method = Method::Ack;
        ack.headers.set(HeaderName::CSeq, "10 ACK");
        assert!(
            d.receive_request(&ack).is_ok(),
            "ACK keeps the INVITE's number"
        );
        let mut bye = info;
        bye.method = Method::Bye;
        bye.headers.set(HeaderName::CSeq, "12 BYE");
        d.receive_request(&bye).unwrap();
        assert_eq!(d.state(), DialogState::Terminated);
    }

    #[test]
    fn overlapping_invites_get_500_or_491() {
        let mut d = uas_dialog();
        let mut reinvite = incoming_invite();
        reinvite.headers.set(HeaderName::CSeq, "11 INVITE");
        d.receive_request(&reinvite).unwrap();
        let mut second = incoming_invite();
        second.headers.set(HeaderName::CSeq, "12 INVITE");
        let err = d.receive_request(&second).unwrap_err();
        assert_eq!(err.status(), 500);
        let resp = err.response(&second);
        assert_eq!(resp.headers.get(&HeaderName::RetryAfter), Some("1"));
        d.on_response_sent(&reinvite, &reinvite.response(200, "OK", None));
        // Our own re-INVITE is pending: the peer's one is glare.
        let mut rng = StdRng::seed_from_u64(2);
        let ours = d.request(Method::Invite, &mut rng);
        assert_eq!(d.receive_request(&second).unwrap_err(), Rejection::Glare);
        assert_eq!(Rejection::Glare.response(&second).status, 491);
        d.on_response_received(&ours, &ours.response(200, "OK", None));
        assert!(d.receive_request(&second).is_ok());
    }

    #[test]
    fn the_final_answer_to_our_reinvite_ends_the_glare_window() {
        let mut d = uas_dialog();
        let mut rng = StdRng::seed_from_u64(3);
        let ours = d.request(Method::Invite, &mut rng);
        let mut theirs = incoming_invite();
        theirs.headers.set(HeaderName::CSeq, "11 INVITE");
        assert_eq!(d.receive_request(&theirs).unwrap_err(), Rejection::Glare);
        // A provisional answer leaves ours in progress; the final one (any status) ends it.
        d.on_final_response(&Method::Invite, &ours.response(180, "Ringing", None));
        assert_eq!(d.receive_request(&theirs).unwrap_err(), Rejection::Glare);
        d.on_final_response(&Method::Invite, &ours.response(200, "OK", None));
        assert!(d.receive_request(&theirs).is_ok());
        // A 481 to a BYE of ours is the owner's to act on: the dialog stays.
        let bye = d.request(Method::Bye, &mut rng);
        d.on_final_response(&Method::Bye, &bye.response(481, "Gone", None));
        assert_ne!(d.state(), DialogState::Terminated);
    }

    #[test]
    fn target_refresh_on_accepted_reinvite() {
        let mut d = uas_dialog();
        let mut reinvite = incoming_invite();
        reinvite.headers.set(HeaderName::CSeq, "11 INVITE");
        reinvite
            .headers
            .set(HeaderName::Contact, "<sip:alice@192.0.2.99:5062>");
        d.receive_request(&reinvite).unwrap();
        assert_eq!(d.remote_target(), "sip:alice@192.0.2.10:5060;transport=udp");
        d.on_response_sent(&reinvite, &reinvite.response(488, "Not Here", None));
        assert_eq!(d.remote_target(), "sip:alice@192.0.2.10:5060;transport=udp");
        d.on_response_sent(&reinvite, &reinvite.response(200, "OK", None));
        assert_eq!(d.remote_target(), "sip:alice@192.0.2.99:5062");
    }

    #[test]
    fn early_uas_dialog_confirms_or_terminates() {
        let invite = incoming_invite();
        let ringing = invite.response(180, "Ringing", Some("gw1"));
        let mut d = Dialog::uas(&invite, &ringing, local()).unwrap();
        assert_eq!(d.state(), DialogState::Early);
        d.on_response_sent(&invite, &invite.response(200, "OK", Some("gw1")));
        assert_eq!(d.state(), DialogState::Confirmed);
        let mut e = Dialog::uas(&invite, &ringing, local()).unwrap();
        e.on_response_sent(&invite, &invite.response(487, "Terminated", Some("gw1")));
        assert_eq!(e.state(), DialogState::Terminated);
        assert!(matches!(
            Dialog::uas(&invite, &invite.response(100, "Trying", None), local()),
            Err(DialogError::NotDialogCreating(100))
        ));
        assert!(matches!(
            Dialog::uas(&invite, &invite.response(180, "Ringing", None), local()),
            Err(DialogError::NoToTag)
        ));
    }

    #[test]
    fn uac_early_dialog_recomputes_routes_on_2xx_and_ends_on_481() {
        let mut invite = incoming_invite();
        invite.headers.remove(&HeaderName::RecordRoute);
        let mut ringing = invite.response(180, "Ringing", Some("bob"));
        ringing
            .headers
            .push(HeaderName::RecordRoute, "<sip:old.example;lr>");
        let mut d = Dialog::uac(&invite, &ringing, local()).unwrap();
        assert_eq!(d.remote_target(), invite.uri, "no Contact in the 1xx yet");
        let mut ok = invite.response(200, "OK", Some("bob"));
        ok.headers
            .push(HeaderName::RecordRoute, "<sip:new.example;lr>");
        ok.headers
            .push(HeaderName::Contact, "<sip:bob@203.0.113.5>");
        d.on_response_received(&invite, &ok);
        assert_eq!(d.state(), DialogState::Confirmed);
        assert_eq!(d.route_set(), ["<sip:new.example;lr>"]);
        assert_eq!(d.remote_target(), "sip:bob@203.0.113.5");
        let bye = d.request(Method::Bye, &mut StdRng::seed_from_u64(0));
        d.on_response_received(&bye, &bye.response(481, "Gone", None));
        assert_eq!(d.state(), DialogState::Terminated);
    }
}
