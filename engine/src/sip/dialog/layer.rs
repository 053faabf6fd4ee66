//! [`DialogLayer`]: the dialogs of an endpoint, matched by [`DialogId`], and the UAS 2xx
//! retransmissions waiting for their ACKs.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::dialog::{Dialog, DialogState, LocalEndpoint};
use super::id::DialogId;
use super::uas_2xx::{Uas2xx, Uas2xxAction};
use super::{DialogError, Rejection};
use crate::sip::message::{Method, Request, Response};
use crate::sip::transaction::{TimerConfig, TransactionKey};

/// What the dialog layer asks the TU to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogEvent {
    /// Send this 2xx again with [`crate::sip::transaction::TransactionLayer::send_response`]
    /// on `invite_key` (RFC 3261 §13.3.1.4).
    Retransmit2xx {
        /// The dialog.
        id: DialogId,
        /// The INVITE server transaction (in its Accepted state).
        invite_key: TransactionKey,
        /// The 2xx.
        response: Response,
    },
    /// No ACK came within 64·T1 of the 2xx: the TU should send BYE (§13.3.1.4).
    AckTimeout {
        /// The dialog.
        id: DialogId,
    },
}

/// The dialogs of one endpoint.
#[derive(Debug, Default)]
pub struct DialogLayer {
    timers: TimerConfig,
    dialogs: HashMap<DialogId, Dialog>,
    pending_2xx: HashMap<DialogId, Uas2xx>,
    events: VecDeque<DialogEvent>,
}

impl DialogLayer {
    /// An empty layer using these timers for the 2xx retransmission.
    pub fn new(timers: TimerConfig) -> DialogLayer {
        DialogLayer {
            timers,
            ..DialogLayer::default()
        }
    }

    /// Creates (or updates) the UAS dialog of `invite` answered by our 1xx/2xx `response`.
    pub fn create_uas(
        &mut self,
        invite: &Request,
        response: &Response,
        local: LocalEndpoint,
    ) -> Result<&mut Dialog, DialogError> {
        let dialog = Dialog::uas(invite, response, local)?;
        let id = dialog.id().clone();
        let slot = self.dialogs.entry(id).or_insert(dialog);
        slot.on_response_sent(invite, response);
        Ok(slot)
    }

    /// Creates (or updates) the UAC dialog of our `invite` from a 1xx/2xx with a To tag. A
    /// forked INVITE gets one dialog per remote tag.
    pub fn create_uac(
        &mut self,
        invite: &Request,
        response: &Response,
        local: LocalEndpoint,
    ) -> Result<&mut Dialog, DialogError> {
        let dialog = Dialog::uac(invite, response, local)?;
        let id = dialog.id().clone();
        let slot = self.dialogs.entry(id).or_insert(dialog);
        slot.on_response_received(invite, response);
        Ok(slot)
    }

    /// Finds the dialog of a received in-dialog request and runs the §12.2.2 checks (CSeq
    /// order; a BYE terminates). Answer an `Err` with [`Rejection::response`]: 481 for an
    /// unknown dialog, 500 for an out-of-order CSeq.
    pub fn match_request(&mut self, req: &Request) -> Result<&mut Dialog, Rejection> {
        let id = DialogId::for_incoming_request(req)
            .map_err(|_| Rejection::BadRequest)?
            .ok_or(Rejection::DoesNotExist)?;
        let dialog = self.dialogs.get_mut(&id).ok_or(Rejection::DoesNotExist)?;
        dialog.receive_request(req)?;
        Ok(dialog)
    }

    /// A final response to our request inside a known dialog (re-INVITE, UPDATE, BYE,
    /// REFER…) goes to that dialog ([`Dialog::on_final_response`]).
    pub fn final_response_received(&mut self, resp: &Response) {
        let Ok(cseq) = resp.cseq() else {
            return;
        };
        if let Some(dialog) = self.match_response(resp) {
            dialog.on_final_response(&cseq.method, resp);
        }
    }

    /// The dialog a response to our request belongs to, if known.
    pub fn match_response(&mut self, resp: &Response) -> Option<&mut Dialog> {
        let id = DialogId::for_incoming_response(resp).ok()??;
        self.dialogs.get_mut(&id)
    }

    /// A dialog by id.
    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.dialogs.get(id)
    }

    /// A dialog by id, mutable (to build requests).
    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.dialogs.get_mut(id)
    }

    /// Builds the next in-dialog request of dialog `id` (see [`Dialog::request`]).
    pub fn request(
        &mut self,
        id: &DialogId,
        method: Method,
        rng: &mut impl rand::RngCore,
    ) -> Result<Request, DialogError> {
        let dialog = self
            .dialogs
            .get_mut(id)
            .ok_or_else(|| DialogError::NoDialog(id.clone()))?;
        Ok(dialog.request(method, rng))
    }

    /// Forgets a dialog (after BYE completed) and any 2xx still waiting for its ACK.
    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        self.pending_2xx.remove(id);
        self.dialogs.remove(id)
    }

    /// Number of dialogs.
    pub fn len(&self) -> usize {
        self.dialogs.len()
    }

    /// Whether there are no dialogs.
    pub fn is_empty(&self) -> bool {
        self.dialogs.is_empty()
    }

    /// We sent `response` (a 2xx to an INVITE of dialog `id`) at `now` through server
    /// transaction `invite_key`: retransmit it until the ACK (RFC 3261 §13.3.1.4).
    pub fn start_2xx_retransmission(
        &mut self,
        now: Instant,
        id: DialogId,
        invite_key: TransactionKey,
        response: Response,
        reliable: bool,
    ) {
        let r = Uas2xx::new(now, invite_key, response, &self.timers, reliable);
        self.pending_2xx.insert(id, r);
    }

    /// An ACK arrived outside any transaction (a [`crate::sip::transaction::TuEvent::Ack`]):
    /// stops the 2xx retransmission it acknowledges and returns its dialog. `None` for an
    /// ACK of no known dialog (drop it: ACKs are never answered).
    pub fn handle_ack(&mut self, ack: &Request) -> Option<&mut Dialog> {
        let id = DialogId::for_incoming_request(ack).ok()??;
        let seq = ack.cseq().ok()?.seq;
        if self.pending_2xx.get(&id).is_some_and(|r| r.cseq() == seq) {
            self.pending_2xx.remove(&id);
        }
        let dialog = self.dialogs.get_mut(&id)?;
        dialog.receive_request(ack).ok()?;
        Some(dialog)
    }

    /// Whether the 2xx of dialog `id` still waits for its ACK.
    pub fn awaiting_ack(&self, id: &DialogId) -> bool {
        self.pending_2xx.contains_key(id)
    }

    /// Fires the 2xx retransmission timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Dialog order, not hash order: the same inputs give the same outputs on every run.
        let mut due: Vec<DialogId> = self
            .pending_2xx
            .iter()
            .filter(|(_, r)| r.poll_timeout() <= now)
            .map(|(id, _)| id.clone())
            .collect();
        due.sort();
        for id in due {
            let Some(r) = self.pending_2xx.get_mut(&id) else {
                continue;
            };
            match r.handle_timeout(now) {
                Some(Uas2xxAction::Retransmit(response)) => {
                    let invite_key = r.invite_key().clone();
                    self.events.push_back(DialogEvent::Retransmit2xx {
                        id,
                        invite_key,
                        response,
                    });
                }
                Some(Uas2xxAction::GiveUp) => {
                    self.pending_2xx.remove(&id);
                    self.events.push_back(DialogEvent::AckTimeout { id });
                }
                None => {}
            }
        }
    }

    /// When [`DialogLayer::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending_2xx.values().map(Uas2xx::poll_timeout).min()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<DialogEvent> {
        self.events.pop_front()
    }

    /// Drops terminated dialogs; returns how many.
    pub fn reap_terminated(&mut self) -> usize {
        let before = self.dialogs.len();
        let pending = &mut self.pending_2xx;
        self.dialogs.retain(|id, d| {
            let keep = d.state() != DialogState::Terminated;
            if !keep {
                pending.remove(id);
            }
            keep
        });
        before - self.dialogs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::HeaderName;
    use crate::sip::transaction::key::Role;
    use crate::sip::transaction::TransportKind;
    use std::time::Duration;

    fn local() -> LocalEndpoint {
        LocalEndpoint {
            transport: TransportKind::Udp,
            sent_by: "198.51.100.1:5060".to_owned(),
            contact: "<sip:gw@198.51.100.1:5060>".to_owned(),
        }
    }

    fn invite() -> Request {
        let mut r = Request::new(Method::Invite, "sip:+15551234@198.51.100.1");
        r.headers
            .push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKc1");
        r.headers
            .push(HeaderName::From, "<sip:alice@a.example>;tag=a1");
        r.headers.push(HeaderName::To, "<sip:+15551234@gw.example>");
        r.headers.push(HeaderName::CallId, "call-7");
        r.headers.push(HeaderName::CSeq, "1 INVITE");
        r.headers
            .push(HeaderName::Contact, "<sip:alice@192.0.2.10>");
        r
    }

    fn key() -> TransactionKey {
        TransactionKey {
            role: Role::Server,
            branch: "z9hG4bKc1".into(),
            sent_by: "192.0.2.10".into(),
            method: Method::Invite,
        }
    }

    fn peer_request(method: Method, cseq: u32) -> Request {
        let cseq = format!("{cseq} {method}");
        let mut r = Request::new(method, "sip:gw@198.51.100.1:5060");
        r.headers
            .push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKn");
        r.headers
            .push(HeaderName::From, "<sip:alice@a.example>;tag=a1");
        r.headers
            .push(HeaderName::To, "<sip:+15551234@gw.example>;tag=gw");
        r.headers.push(HeaderName::CallId, "call-7");
        r.headers.push(HeaderName::CSeq, cseq);
        r
    }

    #[test]
    fn unknown_dialog_is_481_and_known_dialog_matches() {
        let mut layer = DialogLayer::new(TimerConfig::default());
        let bye = peer_request(Method::Bye, 2);
        let err = layer.match_request(&bye).unwrap_err();
        assert_eq!(err, Rejection::DoesNotExist);
        assert_eq!(err.response(&bye).status, 481);
        let ok = invite().response(200, "OK", Some("gw"));
        layer.create_uas(&invite(), &ok, local()).unwrap();
        let d = layer.match_request(&bye).unwrap();
        assert_eq!(d.state(), DialogState::Terminated);
        assert_eq!(layer.reap_terminated(), 1);
        assert!(layer.is_empty());
        let mut rng = rand::rngs::mock::StepRng::new(1, 1);
        assert!(matches!(
            layer.request(&bye_dialog_id(), Method::Bye, &mut rng),
            Err(DialogError::NoDialog(_))
        ));
    }

    fn bye_dialog_id() -> DialogId {
        DialogId::for_incoming_request(&peer_request(Method::Bye, 2))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn ack_stops_the_2xx_retransmission() {
        let mut layer = DialogLayer::new(TimerConfig::default());
        let t0 = Instant::now();
        let ok = invite().response(200, "OK", Some("gw"));
        let id = layer
            .create_uas(&invite(), &ok, local())
            .unwrap()
            .id()
            .clone();
        layer.start_2xx_retransmission(t0, id.clone(), key(), ok, false);
        assert_eq!(layer.poll_timeout(), Some(t0 + Duration::from_millis(500)));
        layer.handle_timeout(t0 + Duration::from_millis(500));
        assert!(matches!(
            layer.poll_event(),
            Some(DialogEvent::Retransmit2xx { response, .. }) if response.status == 200
        ));
        // An ACK with another CSeq does not stop it; the right one does.
        assert!(layer.handle_ack(&peer_request(Method::Ack, 9)).is_some());
        assert!(layer.awaiting_ack(&id));
        assert!(layer.handle_ack(&peer_request(Method::Ack, 1)).is_some());
        assert!(!layer.awaiting_ack(&id));
        assert_eq!(layer.poll_timeout(), None);
    }

    #[test]
    fn no_ack_within_64_t1_is_an_ack_timeout() {
        let mut layer = DialogLayer::new(TimerConfig::default());
        let t0 = Instant::now();
        let ok = invite().response(200, "OK", Some("gw"));
        let id = layer
            .create_uas(&invite(), &ok, local())
            .unwrap()
            .id()
            .clone();
        layer.start_2xx_retransmission(t0, id.clone(), key(), ok, false);
        let mut retransmits = 0;
        while let Some(at) = layer.poll_timeout() {
            layer.handle_timeout(at);
            while let Some(ev) = layer.poll_event() {
                match ev {
                    DialogEvent::Retransmit2xx { .. } => retransmits += 1,
                    DialogEvent::AckTimeout { id: gone } => {
                        assert_eq!(gone, id);
                        assert_eq!(at, t0 + Duration::from_secs(32));
                    }
                }
            }
        }
        assert_eq!(retransmits, 10);
        assert!(!layer.awaiting_ack(&id));
    }
}
