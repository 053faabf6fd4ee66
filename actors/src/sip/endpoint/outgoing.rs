//! Calls the node places itself (UAC): the INVITE to a SIP bot, later the INVITE to an agent.
//! The endpoint owns the INVITE client transaction and the dialog, so its owner sees only
//! [`OutgoingEvent`]s: provisional and final responses, the peer's in-dialog requests, and the
//! responses to the requests it sent with [`OutgoingRequest`]. The endpoint ACKs every 2xx
//! itself (retransmissions too, RFC 3261 §13.2.2.4), CANCELs a call that is ended while it rings
//! and sends BYE when one that was ended answers after all.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use actix::{ActorFutureExt, AsyncContext, Context, Handler, Message, Recipient, WrapFuture};
use rand::RngCore;
use voxgate_engine::auth::digest;
use voxgate_engine::sip::dialog::{new_tag, DialogId, DialogState};
use voxgate_engine::sip::message::{HeaderName, Method, Request, Response};
use voxgate_engine::sip::transaction::{
    new_branch, Destination, TransactionKey, TransportInfo, TransportKind,
};

use super::SipEndpoint;
use crate::sip::transport::Kind;

/// Place a call: send an INVITE out of any dialog toward `destination`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PlaceCall {
    /// The Call-ID of the new call (the owner picks it, so that it can name the call at once).
    pub call_id: String,
    /// The Request-URI and To URI (`sip:bot@host:port`).
    pub to: String,
    /// The user part of our From URI.
    pub from_user: String,
    /// Where the INVITE goes.
    pub destination: SocketAddr,
    /// The transport toward it.
    pub transport: TransportKind,
    /// TLS: how to open the connection (the transport is TLS exactly when this is set).
    pub tls: Option<crate::sip::tls::TlsDial>,
    /// Extra headers (name, value).
    pub headers: Vec<(HeaderName, String)>,
    /// The SDP offer.
    pub sdp_offer: Vec<u8>,
    /// Digest credentials (user, password) for a 401/407 from the peer; `None`: such an answer
    /// fails the call.
    pub credentials: Option<(String, String)>,
    /// Who gets the call's [`OutgoingEvent`]s.
    pub owner: Recipient<OutgoingEvent>,
}

/// The owner ends its call: CANCEL while it rings, BYE once answered (with these headers).
#[derive(Message)]
#[rtype(result = "()")]
pub struct EndOutgoing {
    /// The call.
    pub call_id: String,
    /// Extra headers of the BYE.
    pub headers: Vec<(HeaderName, String)>,
}

/// The owner sends a request inside its answered call (NOTIFY, INFO…; BYE is [`EndOutgoing`]).
/// The response comes back as [`OutgoingEvent::Response`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct OutgoingRequest {
    /// The call.
    pub call_id: String,
    /// The method.
    pub method: Method,
    /// Extra headers (name, value).
    pub headers: Vec<(HeaderName, String)>,
    /// Content type and body, if any.
    pub body: Option<(String, Vec<u8>)>,
}

/// What happens to a placed call. Requests are answered with the endpoint's `Respond`.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum OutgoingEvent {
    /// A provisional response to the INVITE.
    Progress {
        /// The call.
        call_id: String,
        /// The response.
        response: Response,
    },
    /// The 2xx to the INVITE (already ACKed).
    Answered {
        /// The call.
        call_id: String,
        /// The response (its body is the SDP answer).
        response: Response,
    },
    /// The INVITE failed: a final non-2xx (`status`), or no answer at all (`status` 408).
    Failed {
        /// The call.
        call_id: String,
        /// The final status.
        status: u16,
    },
    /// The peer sent a request inside the call (BYE, REFER, re-INVITE, INFO, NOTIFY…).
    Request {
        /// The call.
        call_id: String,
        /// Its server transaction, to answer with `Respond`.
        key: TransactionKey,
        /// The request.
        request: Request,
    },
    /// The response to an [`OutgoingRequest`] or to the BYE of [`EndOutgoing`].
    Response {
        /// The call.
        call_id: String,
        /// The response.
        response: Response,
    },
}

/// One placed call, as the endpoint tracks it.
pub(super) struct Outgoing {
    owner: Recipient<OutgoingEvent>,
    invite: Request,
    invite_key: TransactionKey,
    destination: Destination,
    dialog: Option<DialogId>,
    /// The owner ended it while it rang: a late 2xx is ACKed and then ended with BYE.
    ended: bool,
    /// A 2xx came: later ones are retransmissions (or forks), only ACKed.
    answered: bool,
    /// Digest credentials, taken when a challenge is answered (one try).
    credentials: Option<(String, String)>,
}

/// The placed calls, by Call-ID, and which client transaction belongs to which.
#[derive(Default)]
pub(super) struct OutgoingCalls {
    calls: HashMap<String, Outgoing>,
    clients: HashMap<TransactionKey, String>,
}

impl OutgoingCalls {
    /// Whether `call_id` is one of ours (its in-dialog requests go to its owner).
    pub(super) fn owner_of(&self, call_id: &str) -> Option<&Recipient<OutgoingEvent>> {
        self.calls.get(call_id).map(|c| &c.owner)
    }

    /// Whether client transaction `key` belongs to a placed call.
    pub(super) fn clients_contains(&self, key: &TransactionKey) -> bool {
        self.clients.contains_key(key)
    }
}

impl SipEndpoint {
    /// Routes a response of a client transaction that belongs to a placed call; false when it
    /// is not one of ours.
    pub(super) fn outgoing_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: Response,
    ) -> bool {
        let Some(call_id) = self.outgoing.clients.get(key).cloned() else {
            return false;
        };
        let is_invite = self
            .outgoing
            .calls
            .get(&call_id)
            .is_some_and(|c| c.invite_key == *key);
        // The INVITE transaction passes 2xx retransmissions on (RFC 6026 Accepted), so it stays
        // mapped until the call is forgotten.
        let two_xx = (200..300).contains(&response.status);
        if response.status >= 200 && !(is_invite && two_xx) {
            self.outgoing.clients.remove(key);
        }
        if !is_invite && key.method == Method::Invite && two_xx {
            // The owner's re-INVITE inside its answered call (a relayed hold): ACKed here,
            // over the dialog's flow; a retransmitted 2xx finds no transaction and is ACKed
            // as any call's re-INVITE 2xx.
            self.ack_in_dialog(&response);
        }
        if is_invite {
            self.invite_response(now, &call_id, response);
        } else if let Some(call) = self.outgoing.calls.get(&call_id) {
            let bye_done = key.method == Method::Bye && response.status >= 200;
            call.owner.do_send(OutgoingEvent::Response {
                call_id: call_id.clone(),
                response,
            });
            if bye_done {
                self.forget_outgoing(&call_id);
            }
        }
        true
    }

    fn invite_response(&mut self, now: Instant, call_id: &str, response: Response) {
        let Some(destination) = self.outgoing.calls.get(call_id).map(|c| c.destination) else {
            return;
        };
        let local = self.local_endpoint(destination.kind, self.route_ip(destination.addr));
        let Some(call) = self.outgoing.calls.get_mut(call_id) else {
            return;
        };
        let has_tag = response
            .to()
            .ok()
            .and_then(|t| t.tag().map(|_| ()))
            .is_some();
        if (101..300).contains(&response.status) && has_tag {
            match self.dialogs.create_uac(&call.invite, &response, local) {
                Ok(dialog) => {
                    let id = dialog.id().clone();
                    self.flows.insert(
                        id.clone(),
                        TransportInfo {
                            kind: destination.kind,
                            source: destination.addr,
                            local: self.local,
                            connection: destination.connection,
                        },
                    );
                    call.dialog = Some(id);
                }
                Err(e) => tracing::debug!(error = %e, "response to our INVITE creates no dialog"),
            }
        }
        let call_id = call_id.to_owned();
        let owner = call.owner.clone();
        let ended = call.ended;
        let first_2xx = !call.answered;
        match response.status {
            100..=199 => owner.do_send(OutgoingEvent::Progress { call_id, response }),
            200..=299 => {
                self.ack_2xx(&call_id, &response);
                if !first_2xx {
                    return;
                }
                if let Some(call) = self.outgoing.calls.get_mut(&call_id) {
                    call.answered = true;
                }
                if ended {
                    self.bye_outgoing(now, &call_id, Vec::new());
                } else {
                    owner.do_send(OutgoingEvent::Answered { call_id, response });
                }
            }
            401 | 407 if self.retry_with_credentials(now, &call_id, &response) => {}
            status => {
                owner.do_send(OutgoingEvent::Failed {
                    call_id: call_id.clone(),
                    status,
                });
                self.forget_outgoing(&call_id);
            }
        }
    }

    /// Answers a 401/407 to our INVITE once: the same INVITE with the next CSeq, a new branch
    /// and the `Authorization` (or `Proxy-Authorization`) for the challenge (RFC 3261 §22.2).
    /// False when there are no credentials (left), no usable challenge, or it cannot be sent.
    fn retry_with_credentials(&mut self, now: Instant, call_id: &str, response: &Response) -> bool {
        let (challenge_name, answer_name) = if response.status == 407 {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            )
        } else {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        };
        let Some(call) = self.outgoing.calls.get_mut(call_id) else {
            return false;
        };
        if call.ended {
            return false;
        }
        let challenge = response
            .headers
            .iter()
            .filter(|h| h.name == challenge_name)
            .find_map(|h| digest::parse_challenge(&h.value).ok());
        let (Some(challenge), Some((user, password))) = (challenge, call.credentials.take()) else {
            return false;
        };
        let mut invite = call.invite.clone();
        let cseq = invite.cseq().map(|c| c.seq + 1).unwrap_or(2);
        let cnonce = format!("{:016x}", self.rng.next_u64());
        let authorization =
            challenge.authorization(&user, &password, "INVITE", &invite.uri, &cnonce);
        let via = invite.headers.get(&HeaderName::Via).map(|v| {
            let branch = new_branch(&mut self.rng);
            match v.split_once(";branch=") {
                Some((head, rest)) => {
                    let tail = rest.split_once(';').map(|(_, t)| format!(";{t}"));
                    format!("{head};branch={branch}{}", tail.unwrap_or_default())
                }
                None => format!("{v};branch={branch}"),
            }
        });
        if let Some(via) = via {
            invite.headers.set(HeaderName::Via, via);
        }
        invite
            .headers
            .set(HeaderName::CSeq, format!("{cseq} INVITE"));
        invite.headers.set(answer_name, authorization);
        let destination = call.destination;
        match self
            .transactions
            .send_request(now, invite.clone(), destination)
        {
            Ok(key) => {
                self.outgoing
                    .clients
                    .insert(key.clone(), call_id.to_owned());
                if let Some(call) = self.outgoing.calls.get_mut(call_id) {
                    self.outgoing.clients.remove(&call.invite_key);
                    call.invite = invite;
                    call.invite_key = key;
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "authenticated INVITE not sent");
                false
            }
        }
    }

    /// ACKs a 2xx to one of our INVITEs (the first one and every retransmission).
    fn ack_2xx(&mut self, call_id: &str, response: &Response) {
        let Some(call) = self.outgoing.calls.get(call_id) else {
            return;
        };
        let destination = call.destination;
        let ack = DialogId::for_incoming_response(response)
            .ok()
            .flatten()
            .and_then(|id| self.dialogs.get(&id))
            .and_then(|d| d.ack(response, &mut self.rng));
        if let Some(ack) = ack {
            self.send_stateless(
                voxgate_engine::sip::message::SipMessage::Request(ack),
                destination,
            );
        }
    }

    /// The peer's request inside a placed call goes to the owner; after its BYE the call is
    /// forgotten (the owner still answers the BYE's transaction).
    pub(super) fn outgoing_request(
        &mut self,
        key: TransactionKey,
        request: Request,
        call_id: &str,
    ) {
        let Some(call) = self.outgoing.calls.get(call_id) else {
            return;
        };
        let bye = request.method == Method::Bye;
        call.owner.do_send(OutgoingEvent::Request {
            call_id: call_id.to_owned(),
            key,
            request,
        });
        if bye {
            self.forget_outgoing(call_id);
        }
    }

    /// A 2xx to an INVITE whose transaction is gone: a retransmission, ACKed again.
    pub(super) fn outgoing_stray_2xx(&mut self, response: &Response) {
        let Ok(call_id) = response.call_id().map(str::to_owned) else {
            return;
        };
        if self.outgoing.calls.contains_key(&call_id) {
            self.ack_2xx(&call_id, response);
        }
    }

    /// The INVITE (or a request of the call) timed out or could not be sent.
    pub(super) fn outgoing_failed(&mut self, key: &TransactionKey) -> bool {
        let Some(call_id) = self.outgoing.clients.remove(key) else {
            return false;
        };
        if let Some(call) = self.outgoing.calls.get(&call_id) {
            if call.invite_key == *key || key.method == Method::Bye {
                call.owner.do_send(OutgoingEvent::Failed {
                    call_id: call_id.clone(),
                    status: 408,
                });
                self.forget_outgoing(&call_id);
            }
        }
        true
    }

    fn bye_outgoing(&mut self, now: Instant, call_id: &str, headers: Vec<(HeaderName, String)>) {
        let Some(id) = self
            .outgoing
            .calls
            .get(call_id)
            .and_then(|c| c.dialog.clone())
        else {
            return;
        };
        match self.send_in_dialog(now, &id, &Method::Bye, headers, None) {
            Some(key) => {
                self.outgoing.clients.insert(key, call_id.to_owned());
            }
            None => self.forget_outgoing(call_id),
        }
    }

    fn forget_outgoing(&mut self, call_id: &str) {
        let Some(call) = self.outgoing.calls.remove(call_id) else {
            return;
        };
        self.outgoing.clients.retain(|_, c| c != call_id);
        if let Some(id) = call.dialog {
            self.flows.remove(&id);
            if let Some(d) = self.dialogs.get_mut(&id) {
                d.terminate();
            }
            self.dialogs.reap_terminated();
        }
    }

    fn place_call(&mut self, now: Instant, msg: PlaceCall) {
        let destination = Destination {
            kind: msg.transport,
            addr: msg.destination,
            connection: None,
        };
        let local = self.local_endpoint(msg.transport, self.route_ip(msg.destination));
        let tag = new_tag(&mut self.rng);
        let mut req = Request::new(Method::Invite, msg.to.clone());
        req.headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={};rport",
                msg.transport.via_token(),
                local.sent_by,
                new_branch(&mut self.rng)
            ),
        );
        req.headers.push(HeaderName::MaxForwards, "70");
        req.headers.push(
            HeaderName::From,
            format!("<sip:{}@{}>;tag={tag}", msg.from_user, local.sent_by),
        );
        req.headers.push(HeaderName::To, format!("<{}>", msg.to));
        req.headers.push(HeaderName::CallId, msg.call_id.clone());
        req.headers.push(HeaderName::CSeq, "1 INVITE");
        req.headers.push(HeaderName::Contact, local.contact.clone());
        req.headers.push(
            HeaderName::UserAgent,
            self.state.config.sip.user_agent.clone(),
        );
        for (name, value) in msg.headers {
            req.headers.push(name, value);
        }
        req.headers.push(HeaderName::ContentType, "application/sdp");
        req.body = msg.sdp_offer;
        match self
            .transactions
            .send_request(now, req.clone(), destination)
        {
            Ok(key) => {
                self.outgoing
                    .clients
                    .insert(key.clone(), msg.call_id.clone());
                self.outgoing.calls.insert(
                    msg.call_id,
                    Outgoing {
                        owner: msg.owner,
                        invite: req,
                        invite_key: key,
                        destination,
                        dialog: None,
                        ended: false,
                        answered: false,
                        credentials: msg.credentials,
                    },
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "outgoing INVITE not sent");
                msg.owner.do_send(OutgoingEvent::Failed {
                    call_id: msg.call_id,
                    status: 500,
                });
            }
        }
    }

    fn end_outgoing(&mut self, now: Instant, msg: EndOutgoing) {
        let Some(call) = self.outgoing.calls.get_mut(&msg.call_id) else {
            return;
        };
        let confirmed = call
            .dialog
            .as_ref()
            .and_then(|id| self.dialogs.get(id))
            .is_some_and(|d| d.state() == DialogState::Confirmed);
        if confirmed {
            self.bye_outgoing(now, &msg.call_id, msg.headers);
            return;
        }
        call.ended = true;
        let invite_key = call.invite_key.clone();
        match self.transactions.cancel(now, &invite_key) {
            // The CANCEL's own response matters to no one; the INVITE's 487 ends the call.
            Ok(_) => {}
            Err(_) => self.forget_outgoing(&msg.call_id),
        }
    }
}

impl Handler<PlaceCall> for SipEndpoint {
    type Result = ();
    fn handle(&mut self, msg: PlaceCall, ctx: &mut Context<Self>) {
        let stream = match msg.transport {
            TransportKind::Udp => None,
            TransportKind::Tcp => Some(Kind::Tcp),
            TransportKind::Tls => Some(Kind::Tls),
        };
        if let Some(kind) = stream.filter(|&k| !self.out.has_stream(msg.destination, k)) {
            // Open the connection first; the INVITE goes on it once it is up.
            let tls = if kind == Kind::Tls {
                msg.tls.clone()
            } else {
                None
            };
            if kind == Kind::Tls && tls.is_none() {
                tracing::info!("outgoing TLS call without a TLS configuration; not placed");
                msg.owner.do_send(OutgoingEvent::Failed {
                    call_id: msg.call_id,
                    status: 503,
                });
                return;
            }
            let connect = crate::sip::tcp::connect(
                msg.destination,
                tls,
                ctx.address(),
                self.out.clone(),
                self.limits.max_message_bytes,
            );
            ctx.spawn(
                connect
                    .into_actor(self)
                    .map(move |result, endpoint, ctx| match result {
                        Ok(()) => {
                            let now = Instant::now();
                            endpoint.place_call(now, msg);
                            endpoint.pump(now, ctx);
                        }
                        Err(why) => {
                            tracing::info!(%why, "outgoing call not placed");
                            msg.owner.do_send(OutgoingEvent::Failed {
                                call_id: msg.call_id,
                                status: 503,
                            });
                        }
                    }),
            );
            return;
        }
        let now = Instant::now();
        self.place_call(now, msg);
        self.pump(now, ctx);
    }
}

impl Handler<EndOutgoing> for SipEndpoint {
    type Result = ();
    fn handle(&mut self, msg: EndOutgoing, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.end_outgoing(now, msg);
        self.pump(now, ctx);
    }
}

impl Handler<OutgoingRequest> for SipEndpoint {
    type Result = ();
    fn handle(&mut self, msg: OutgoingRequest, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let Some(id) = self
            .outgoing
            .calls
            .get(&msg.call_id)
            .and_then(|c| c.dialog.clone())
        else {
            return;
        };
        if let Some(key) = self.send_in_dialog(now, &id, &msg.method, msg.headers, msg.body) {
            self.outgoing.clients.insert(key, msg.call_id);
        }
        self.pump(now, ctx);
    }
}
