//! [`TransactionLayer`]: owns every transaction of a SIP endpoint, routes messages to them and
//! turns their actions into transmits and TU events.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::cancel::{cancel_for, derived_tag, request_terminated};
use super::invite_client::{InviteClient, InviteClientState};
use super::invite_server::{InviteServer, InviteServerState};
use super::key::{Role, TransactionKey, MAGIC_COOKIE};
use super::non_invite_client::{NonInviteClient, NonInviteClientState};
use super::non_invite_server::{NonInviteServer, NonInviteServerState};
use super::timers::TimerConfig;
use super::{
    Action, Destination, TransactionError, Transmit, TransportInfo, TransportKind, TuEvent,
};
use crate::sip::message::typed::{split_top_level_commas, Param};
use crate::sip::message::{HeaderName, Method, Request, Response, SipMessage, Via};

#[derive(Debug)]
enum ServerMachine {
    Invite(InviteServer),
    NonInvite(NonInviteServer),
}

#[derive(Debug)]
struct Server {
    machine: ServerMachine,
    source: TransportInfo,
    reply_to: Destination,
}

impl Server {
    fn is_terminated(&self) -> bool {
        match &self.machine {
            ServerMachine::Invite(m) => m.state() == InviteServerState::Terminated,
            ServerMachine::NonInvite(m) => m.state() == NonInviteServerState::Terminated,
        }
    }

    fn request(&self) -> &Request {
        match &self.machine {
            ServerMachine::Invite(m) => m.request(),
            ServerMachine::NonInvite(m) => m.request(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.machine {
            ServerMachine::Invite(m) => m.poll_timeout(),
            ServerMachine::NonInvite(m) => m.poll_timeout(),
        }
    }
}

#[derive(Debug)]
enum ClientMachine {
    Invite(InviteClient),
    NonInvite(NonInviteClient),
}

#[derive(Debug)]
struct Client {
    machine: ClientMachine,
    destination: Destination,
    /// The TU asked to cancel before a provisional arrived (§9.1: wait for one).
    cancel_pending: bool,
}

impl Client {
    fn is_terminated(&self) -> bool {
        match &self.machine {
            ClientMachine::Invite(m) => m.state() == InviteClientState::Terminated,
            ClientMachine::NonInvite(m) => m.state() == NonInviteClientState::Terminated,
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.machine {
            ClientMachine::Invite(m) => m.poll_timeout(),
            ClientMachine::NonInvite(m) => m.poll_timeout(),
        }
    }
}

/// A transaction's place in the deadline index: its next deadline and a serial that keeps
/// equal deadlines apart.
type Armed = (Instant, u64);

/// Every live transaction's next deadline, earliest first.
///
/// `poll_timeout` and `handle_timeout` used to scan every transaction; in a call storm
/// (thousands of INVITE transactions waiting for ACK or Timer I/J/K) that scan ran after every
/// message and took 27 % of the node's CPU at 300 calls/s (perf, `benches/cps.sh`). The index
/// is updated whenever a transaction's machine is touched (`reap_server`/`reap_client`); debug
/// builds check it against the full scan on every `poll_timeout`.
#[derive(Debug, Default)]
struct Deadlines {
    by_time: BTreeMap<Armed, TransactionKey>,
    armed: HashMap<TransactionKey, Armed>,
    serial: u64,
}

impl Deadlines {
    /// Updates `key`'s entry from its transaction's `(terminated, next deadline)` (`None`: no
    /// such transaction). Returns whether the transaction is terminated and must be dropped.
    fn settle(&mut self, key: &TransactionKey, state: Option<(bool, Option<Instant>)>) -> bool {
        let Some((terminated, next)) = state else {
            return false;
        };
        let next = if terminated { None } else { next };
        if self.armed.get(key).map(|(at, _)| *at) != next {
            if let Some(old) = self.armed.remove(key) {
                self.by_time.remove(&old);
            }
            if let Some(at) = next {
                self.serial += 1;
                let entry = (at, self.serial);
                self.by_time.insert(entry, key.clone());
                self.armed.insert(key.clone(), entry);
            }
        }
        terminated
    }

    fn first(&self) -> Option<Instant> {
        self.by_time.keys().next().map(|(at, _)| *at)
    }

    /// Keys whose deadline is at or before `now`, with the deadline.
    fn due(&self, now: Instant) -> Vec<(Instant, TransactionKey)> {
        self.by_time
            .range(..=(now, u64::MAX))
            .map(|((at, _), key)| (*at, key.clone()))
            .collect()
    }
}

/// The transactions of one SIP endpoint. See the module docs of
/// [`crate::sip::transaction`] for the drive loop.
#[derive(Debug)]
pub struct TransactionLayer {
    timers: TimerConfig,
    servers: HashMap<TransactionKey, Server>,
    clients: HashMap<TransactionKey, Client>,
    deadlines: Deadlines,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TuEvent>,
}

/// Turns state machine actions into transmits and TU events.
fn dispatch(
    actions: Vec<Action>,
    key: &TransactionKey,
    destination: Destination,
    source: Option<TransportInfo>,
    transmits: &mut VecDeque<Transmit>,
    events: &mut VecDeque<TuEvent>,
) {
    for action in actions {
        match action {
            Action::Send(message) => transmits.push_back(Transmit {
                message,
                destination,
            }),
            Action::Response(response) => events.push_back(TuEvent::Response {
                key: key.clone(),
                response,
            }),
            Action::Ack(request) => {
                if let Some(source) = source {
                    events.push_back(TuEvent::Ack { request, source });
                }
            }
            Action::Timeout => events.push_back(TuEvent::Timeout { key: key.clone() }),
            Action::TransportError => {
                events.push_back(TuEvent::TransportError { key: key.clone() })
            }
        }
    }
}

impl TransactionLayer {
    /// A layer with these timers.
    pub fn new(timers: TimerConfig) -> TransactionLayer {
        TransactionLayer {
            timers,
            servers: HashMap::new(),
            clients: HashMap::new(),
            deadlines: Deadlines::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The timer configuration.
    pub fn timers(&self) -> &TimerConfig {
        &self.timers
    }

    /// A request arrived from the network. Retransmissions are absorbed (the last response is
    /// sent again); a new request becomes a [`TuEvent::NewRequest`]; an ACK to a 2xx becomes a
    /// [`TuEvent::Ack`]; a CANCEL is answered here. An error means the request could not be
    /// keyed: the caller may answer it 400 statelessly.
    pub fn handle_request(
        &mut self,
        now: Instant,
        mut request: Request,
        source: TransportInfo,
    ) -> Result<(), TransactionError> {
        let cseq = request.cseq()?;
        if cseq.method != request.method {
            return Err(TransactionError::CSeqMismatch {
                method: request.method.to_string(),
                cseq: cseq.method.to_string(),
            });
        }
        request.call_id()?;
        let via = request.top_via()?;
        stamp_via(&mut request, &via, source.source);
        let key = TransactionKey::for_server(&request)?;
        let reply_to = response_destination(&via, &source);

        match request.method {
            Method::Ack => self.receive_ack(now, &key, request, source),
            Method::Cancel if !self.servers.contains_key(&key) => {
                self.receive_cancel(now, &key, request, source, reply_to)
            }
            _ => {
                if let Some(server) = self.servers.get_mut(&key) {
                    let mut out = Vec::new();
                    match &mut server.machine {
                        ServerMachine::Invite(m) => m.handle_retransmission(&mut out),
                        ServerMachine::NonInvite(m) => m.handle_retransmission(&mut out),
                    }
                    let dest = server.reply_to;
                    dispatch(out, &key, dest, None, &mut self.transmits, &mut self.events);
                    self.reap_server(&key);
                    return Ok(());
                }
                let mut out = Vec::new();
                let reliable = source.kind.is_reliable();
                let machine = if request.method == Method::Invite {
                    ServerMachine::Invite(InviteServer::new(
                        now,
                        request.clone(),
                        self.timers,
                        reliable,
                        &mut out,
                    ))
                } else {
                    ServerMachine::NonInvite(NonInviteServer::new(
                        request.clone(),
                        self.timers,
                        reliable,
                    ))
                };
                self.servers.insert(
                    key.clone(),
                    Server {
                        machine,
                        source,
                        reply_to,
                    },
                );
                self.reap_server(&key);
                self.events.push_back(TuEvent::NewRequest {
                    key: key.clone(),
                    request,
                    source,
                });
                dispatch(
                    out,
                    &key,
                    reply_to,
                    None,
                    &mut self.transmits,
                    &mut self.events,
                );
            }
        }
        Ok(())
    }

    fn receive_ack(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        request: Request,
        source: TransportInfo,
    ) {
        let Some(server) = self.servers.get_mut(key) else {
            // An ACK to a 2xx: a transaction of its own at the TU (RFC 3261 §17.2.3).
            self.events.push_back(TuEvent::Ack { request, source });
            return;
        };
        let mut out = Vec::new();
        if let ServerMachine::Invite(m) = &mut server.machine {
            m.handle_ack(now, request, &mut out);
        }
        let dest = server.reply_to;
        dispatch(
            out,
            key,
            dest,
            Some(source),
            &mut self.transmits,
            &mut self.events,
        );
        self.reap_server(key);
    }

    fn receive_cancel(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        cancel: Request,
        source: TransportInfo,
        reply_to: Destination,
    ) {
        let invite_key = key.with_method(Method::Invite);
        let (status, reason, tag, notify) = match self.servers.get(&invite_key) {
            Some(Server {
                machine: ServerMachine::Invite(m),
                ..
            }) => {
                // §9.2: the 200 to the CANCEL should carry the To tag of the INVITE's answer.
                let tag = m
                    .to_tag()
                    .unwrap_or_else(|| derived_tag(&invite_key.branch));
                let pending = m.state() == InviteServerState::Proceeding;
                (200, "OK", tag, pending)
            }
            _ => (
                481,
                "Call/Transaction Does Not Exist",
                derived_tag(&key.branch),
                false,
            ),
        };
        let response = cancel.response(status, reason, Some(&tag));
        let mut machine =
            NonInviteServer::new(cancel.clone(), self.timers, source.kind.is_reliable());
        let mut out = Vec::new();
        machine.send_response(now, response, &mut out);
        dispatch(
            out,
            key,
            reply_to,
            None,
            &mut self.transmits,
            &mut self.events,
        );
        if machine.state() != NonInviteServerState::Terminated {
            self.servers.insert(
                key.clone(),
                Server {
                    machine: ServerMachine::NonInvite(machine),
                    source,
                    reply_to,
                },
            );
            self.reap_server(key);
        }
        if notify {
            self.events
                .push_back(TuEvent::CancelReceived { invite_key, cancel });
        }
    }

    /// A response arrived from the network. It goes to the client transaction named by its
    /// top Via branch and CSeq method; a 2xx to an INVITE without one becomes
    /// [`TuEvent::StrayInvite2xx`]; other strays are dropped (RFC 3261 §18.1.2). An error
    /// means the response could not be keyed and was dropped.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: Response,
    ) -> Result<(), TransactionError> {
        let key = TransactionKey::for_client_response(&response)?;
        // RFC 3261 §18.1.2: a UA's requests carry one Via, so a response with more was meant
        // for someone else.
        let vias = response
            .headers
            .get_all(&HeaderName::Via)
            .flat_map(split_top_level_commas)
            .count();
        if vias > 1 {
            return Ok(());
        }
        let Some(client) = self.clients.get_mut(&key) else {
            if key.method == Method::Invite && (200..300).contains(&response.status) {
                self.events.push_back(TuEvent::StrayInvite2xx { response });
            }
            return Ok(());
        };
        let provisional = response.is_provisional();
        let mut out = Vec::new();
        match &mut client.machine {
            ClientMachine::Invite(m) => m.handle_response(now, response, &mut out),
            ClientMachine::NonInvite(m) => m.handle_response(now, response, &mut out),
        }
        let dest = client.destination;
        let send_cancel = client.cancel_pending
            && provisional
            && matches!(&client.machine, ClientMachine::Invite(m) if m.state() == InviteClientState::Proceeding);
        if !provisional {
            client.cancel_pending = false;
        }
        dispatch(out, &key, dest, None, &mut self.transmits, &mut self.events);
        if send_cancel {
            client.cancel_pending = false;
            self.start_cancel(now, &key);
        }
        self.reap_client(&key);
        Ok(())
    }

    /// Sends a request in a new client transaction toward `destination` and returns its key.
    /// The request's top Via must carry a fresh `z9hG4bK` branch. ACKs are refused: an ACK to
    /// a 2xx has no transaction ([`TransactionLayer::send_stateless`]) and the ACK to a
    /// non-2xx is sent by the transaction itself.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        destination: Destination,
    ) -> Result<TransactionKey, TransactionError> {
        if request.method == Method::Ack {
            return Err(TransactionError::AckIsStateless);
        }
        let key = TransactionKey::for_client_request(&request)?;
        if !key.branch.starts_with(MAGIC_COOKIE) {
            return Err(TransactionError::BadBranch(key.branch.to_string()));
        }
        if self.clients.contains_key(&key) {
            return Err(TransactionError::Exists(key));
        }
        let reliable = destination.kind.is_reliable();
        let mut out = Vec::new();
        let machine = if request.method == Method::Invite {
            ClientMachine::Invite(InviteClient::start(
                now,
                request,
                self.timers,
                reliable,
                &mut out,
            ))
        } else {
            ClientMachine::NonInvite(NonInviteClient::start(
                now,
                request,
                self.timers,
                reliable,
                &mut out,
            ))
        };
        self.clients.insert(
            key.clone(),
            Client {
                machine,
                destination,
                cancel_pending: false,
            },
        );
        self.reap_client(&key);
        dispatch(
            out,
            &key,
            destination,
            None,
            &mut self.transmits,
            &mut self.events,
        );
        Ok(key)
    }

    /// Sends a message outside any transaction (the ACK to a 2xx, a stateless 400 or 503).
    pub fn send_stateless(&mut self, message: SipMessage, destination: Destination) {
        self.transmits.push_back(Transmit {
            message,
            destination,
        });
    }

    /// Cancels a pending client INVITE (RFC 3261 §9.1) and returns the CANCEL's key. If no
    /// provisional response arrived yet, the CANCEL leaves when the first one does.
    pub fn cancel(
        &mut self,
        now: Instant,
        invite_key: &TransactionKey,
    ) -> Result<TransactionKey, TransactionError> {
        let client = self
            .clients
            .get_mut(invite_key)
            .ok_or_else(|| TransactionError::NoTransaction(invite_key.clone()))?;
        let state = match &client.machine {
            ClientMachine::Invite(m) => m.state(),
            ClientMachine::NonInvite(_) => {
                return Err(TransactionError::NotPending(invite_key.clone()))
            }
        };
        let cancel_key = invite_key.with_method(Method::Cancel);
        match state {
            InviteClientState::Calling => client.cancel_pending = true,
            InviteClientState::Proceeding => {
                if !self.clients.contains_key(&cancel_key) {
                    self.start_cancel(now, invite_key);
                }
            }
            _ => return Err(TransactionError::NotPending(invite_key.clone())),
        }
        Ok(cancel_key)
    }

    fn start_cancel(&mut self, now: Instant, invite_key: &TransactionKey) {
        let Some(client) = self.clients.get(invite_key) else {
            return;
        };
        let ClientMachine::Invite(m) = &client.machine else {
            return;
        };
        let cancel = cancel_for(m.request());
        let destination = client.destination;
        // The key is the INVITE's with method CANCEL; it cannot exist twice because the
        // caller checked, so an error here is only a duplicate we may ignore.
        let _ = self.send_request(now, cancel, destination);
    }

    /// The TU answers the request of server transaction `key`. Responses go to the request's
    /// source as RFC 3261 §18.2.2 and RFC 3581 say (the connection it came on when reliable).
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: Response,
    ) -> Result<(), TransactionError> {
        let server = self
            .servers
            .get_mut(key)
            .ok_or_else(|| TransactionError::NoTransaction(key.clone()))?;
        let status = response.status;
        let mut out = Vec::new();
        let accepted = match &mut server.machine {
            ServerMachine::Invite(m) => m.send_response(now, response, &mut out),
            ServerMachine::NonInvite(m) => m.send_response(now, response, &mut out),
        };
        if !accepted {
            return Err(TransactionError::ResponseNotAllowed {
                key: key.clone(),
                status,
            });
        }
        let dest = server.reply_to;
        dispatch(out, key, dest, None, &mut self.transmits, &mut self.events);
        self.reap_server(key);
        Ok(())
    }

    /// Ends a cancelled INVITE with `487 Request Terminated` (RFC 3261 §9.2). `to_tag` is the
    /// tag of the early dialog, if the TU made one; otherwise the tag the 200 to the CANCEL
    /// carried is used so both agree.
    pub fn send_request_terminated(
        &mut self,
        now: Instant,
        invite_key: &TransactionKey,
        to_tag: Option<&str>,
    ) -> Result<(), TransactionError> {
        let server = self
            .servers
            .get(invite_key)
            .ok_or_else(|| TransactionError::NoTransaction(invite_key.clone()))?;
        let ServerMachine::Invite(m) = &server.machine else {
            return Err(TransactionError::NotPending(invite_key.clone()));
        };
        let tag = to_tag
            .map(str::to_owned)
            .or_else(|| m.to_tag())
            .unwrap_or_else(|| derived_tag(&invite_key.branch));
        let response = request_terminated(m.request(), Some(&tag));
        self.send_response(now, invite_key, response)
    }

    /// The transport failed to send for transaction `key` (ICMP error, connection refused or
    /// reset): the transaction ends with [`TuEvent::TransportError`].
    pub fn handle_transport_error(&mut self, key: &TransactionKey) {
        let mut out = Vec::new();
        if let Some(client) = self.clients.get_mut(key) {
            match &mut client.machine {
                ClientMachine::Invite(m) => m.handle_transport_error(&mut out),
                ClientMachine::NonInvite(m) => m.handle_transport_error(&mut out),
            }
            let dest = client.destination;
            dispatch(out, key, dest, None, &mut self.transmits, &mut self.events);
            self.reap_client(key);
        } else if let Some(server) = self.servers.get_mut(key) {
            match &mut server.machine {
                ServerMachine::Invite(m) => m.handle_transport_error(&mut out),
                ServerMachine::NonInvite(m) => m.handle_transport_error(&mut out),
            }
            let dest = server.reply_to;
            dispatch(out, key, dest, None, &mut self.transmits, &mut self.events);
            self.reap_server(key);
        }
    }

    /// A reliable connection closed: every transaction bound to it ends with
    /// [`TuEvent::TransportError`] (RFC 3261 §18.2.2 would have the UAS open a new connection
    /// for its responses; a gateway behind trunks does not, the peer retries).
    pub fn handle_connection_closed(&mut self, connection: u64) {
        let mut keys: Vec<TransactionKey> = self
            .servers
            .iter()
            .filter(|(_, s)| s.reply_to.connection == Some(connection))
            .map(|(k, _)| k.clone())
            .chain(
                self.clients
                    .iter()
                    .filter(|(_, c)| c.destination.connection == Some(connection))
                    .map(|(k, _)| k.clone()),
            )
            .collect();
        // HashMap order is random; keep the events deterministic.
        keys.sort_by(|a, b| {
            a.branch
                .cmp(&b.branch)
                .then(a.method.as_str().cmp(b.method.as_str()))
        });
        for key in keys {
            self.handle_transport_error(&key);
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Fire in deadline order (ties by key), not hash order, so that the outputs, and any
        // test run on virtual time, are the same on every run.
        let mut due = self.deadlines.due(now);
        due.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| key_order(&a.1, &b.1)));
        for (_, key) in due {
            let mut out = Vec::new();
            match key.role {
                Role::Server => {
                    let Some(server) = self.servers.get_mut(&key) else {
                        continue;
                    };
                    match &mut server.machine {
                        ServerMachine::Invite(m) => m.handle_timeout(now, &mut out),
                        ServerMachine::NonInvite(m) => m.handle_timeout(now),
                    }
                    let dest = server.reply_to;
                    dispatch(out, &key, dest, None, &mut self.transmits, &mut self.events);
                    self.reap_server(&key);
                }
                Role::Client => {
                    let Some(client) = self.clients.get_mut(&key) else {
                        continue;
                    };
                    match &mut client.machine {
                        ClientMachine::Invite(m) => m.handle_timeout(now, &mut out),
                        ClientMachine::NonInvite(m) => m.handle_timeout(now, &mut out),
                    }
                    let dest = client.destination;
                    dispatch(out, &key, dest, None, &mut self.transmits, &mut self.events);
                    self.reap_client(&key);
                }
            }
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TuEvent> {
        self.events.pop_front()
    }

    /// When [`TransactionLayer::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self.deadlines.first();
        debug_assert_eq!(next, self.scan_timeout(), "deadline index out of step");
        next
    }

    /// The earliest deadline by scanning every transaction: what the index must agree with.
    #[cfg(debug_assertions)]
    fn scan_timeout(&self) -> Option<Instant> {
        let servers = self.servers.values().filter_map(Server::poll_timeout);
        let clients = self.clients.values().filter_map(Client::poll_timeout);
        servers.chain(clients).min()
    }

    #[cfg(not(debug_assertions))]
    fn scan_timeout(&self) -> Option<Instant> {
        self.deadlines.first()
    }

    /// The request of a live server transaction.
    pub fn server_request(&self, key: &TransactionKey) -> Option<&Request> {
        self.servers.get(key).map(Server::request)
    }

    /// Where a live server transaction came from.
    pub fn server_source(&self, key: &TransactionKey) -> Option<TransportInfo> {
        self.servers.get(key).map(|s| s.source)
    }

    /// The request of a live client transaction.
    pub fn client_request(&self, key: &TransactionKey) -> Option<&Request> {
        self.clients.get(key).map(|c| match &c.machine {
            ClientMachine::Invite(m) => m.request(),
            ClientMachine::NonInvite(m) => m.request(),
        })
    }

    /// The state of a live INVITE server transaction.
    pub fn invite_server_state(&self, key: &TransactionKey) -> Option<InviteServerState> {
        match self.servers.get(key).map(|s| &s.machine) {
            Some(ServerMachine::Invite(m)) => Some(m.state()),
            _ => None,
        }
    }

    /// The state of a live INVITE client transaction.
    pub fn invite_client_state(&self, key: &TransactionKey) -> Option<InviteClientState> {
        match self.clients.get(key).map(|c| &c.machine) {
            Some(ClientMachine::Invite(m)) => Some(m.state()),
            _ => None,
        }
    }

    /// Number of live (server, client) transactions.
    pub fn len(&self) -> (usize, usize) {
        (self.servers.len(), self.clients.len())
    }

    /// Whether no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.clients.is_empty()
    }

    /// After server transaction `key`'s machine was touched: drops it when terminated, else
    /// moves its entry in the deadline index.
    fn reap_server(&mut self, key: &TransactionKey) {
        let state = self
            .servers
            .get(key)
            .map(|t| (t.is_terminated(), t.poll_timeout()));
        if self.deadlines.settle(key, state) {
            self.servers.remove(key);
        }
    }

    /// The same for client transaction `key`.
    fn reap_client(&mut self, key: &TransactionKey) {
        let state = self
            .clients
            .get(key)
            .map(|t| (t.is_terminated(), t.poll_timeout()));
        if self.deadlines.settle(key, state) {
            self.clients.remove(key);
        }
    }
}

impl Default for TransactionLayer {
    fn default() -> Self {
        TransactionLayer::new(TimerConfig::default())
    }
}

/// A total order on keys for deterministic processing (`Method` has no `Ord`).
fn key_order(a: &TransactionKey, b: &TransactionKey) -> std::cmp::Ordering {
    let role = |k: &TransactionKey| matches!(k.role, Role::Client);
    role(a)
        .cmp(&role(b))
        .then_with(|| a.branch.cmp(&b.branch))
        .then_with(|| a.sent_by.cmp(&b.sent_by))
        .then_with(|| a.method.as_str().cmp(b.method.as_str()))
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: record where the request really came from in its top
/// Via (`received` when the sent-by host differs or `rport` was asked for, `rport` filled
/// with the source port), so every response copies it.
fn stamp_via(request: &mut Request, via: &Via, source: SocketAddr) {
    let rport_requested = via.rport().is_some();
    let same_host = via.host.parse::<IpAddr>().ok() == Some(source.ip());
    if same_host && !rport_requested {
        return;
    }
    let mut stamped = via.clone();
    stamped.params.retain(|p| {
        !p.name.eq_ignore_ascii_case("received") && !p.name.eq_ignore_ascii_case("rport")
    });
    if !same_host || rport_requested {
        stamped.params.push(Param {
            name: "received".to_owned(),
            value: Some(source.ip().to_string()),
        });
    }
    if rport_requested {
        stamped.params.push(Param {
            name: "rport".to_owned(),
            value: Some(source.port().to_string()),
        });
    }
    let values: Vec<String> = request
        .headers
        .get_all(&HeaderName::Via)
        .flat_map(split_top_level_commas)
        .map(str::to_owned)
        .collect();
    request.headers.remove(&HeaderName::Via);
    for value in values.iter().skip(1).rev() {
        request.headers.push_front(HeaderName::Via, value.clone());
    }
    request
        .headers
        .push_front(HeaderName::Via, stamped.to_string());
}

/// RFC 3261 §18.2.2 with RFC 3581 §4: where the responses to a request go.
fn response_destination(via: &Via, source: &TransportInfo) -> Destination {
    if source.kind.is_reliable() {
        return Destination {
            kind: source.kind,
            addr: source.source,
            connection: source.connection,
        };
    }
    let addr = if via.rport().is_some() {
        source.source
    } else {
        // `received` is the source IP (stamped above); the port is the sent-by port.
        SocketAddr::new(source.source.ip(), via.port.unwrap_or(5060))
    };
    Destination {
        kind: TransportKind::Udp,
        addr,
        connection: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::ack_for_non_2xx;
    use crate::sip::transaction::test_support::{bye, invite, ms, request, t0, TIMERS};

    fn udp_from(addr: &str) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::Udp,
            source: addr.parse().unwrap(),
            local: "198.51.100.1:5060".parse().unwrap(),
            connection: None,
        }
    }

    fn tcp_from(addr: &str, conn: u64) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::Tcp,
            connection: Some(conn),
            ..udp_from(addr)
        }
    }

    fn events(layer: &mut TransactionLayer) -> Vec<TuEvent> {
        std::iter::from_fn(|| layer.poll_event()).collect()
    }

    fn transmits(layer: &mut TransactionLayer) -> Vec<Transmit> {
        std::iter::from_fn(|| layer.poll_transmit()).collect()
    }

    fn status_of(t: &Transmit) -> u16 {
        match &t.message {
            SipMessage::Response(r) => r.status,
            SipMessage::Request(_) => 0,
        }
    }

    fn new_request_key(layer: &mut TransactionLayer) -> TransactionKey {
        match events(layer).as_slice() {
            [TuEvent::NewRequest { key, .. }] => key.clone(),
            other => panic!("expected one NewRequest, got {other:?}"),
        }
    }

    #[test]
    fn retransmitted_requests_reach_the_tu_once() {
        let mut layer = TransactionLayer::new(TIMERS);
        let src = udp_from("192.0.2.10:5060");
        layer.handle_request(t0(), bye(), src).unwrap();
        let key = new_request_key(&mut layer);
        layer.handle_request(t0() + ms(500), bye(), src).unwrap();
        assert!(events(&mut layer).is_empty());
        assert!(
            transmits(&mut layer).is_empty(),
            "Trying state absorbs silently"
        );
        layer
            .send_response(t0() + ms(600), &key, bye().response(200, "OK", None))
            .unwrap();
        assert_eq!(transmits(&mut layer).len(), 1);
        layer.handle_request(t0() + ms(700), bye(), src).unwrap();
        let again = transmits(&mut layer);
        assert_eq!(again.iter().map(status_of).collect::<Vec<_>>(), vec![200]);
        assert!(events(&mut layer).is_empty());
    }

    #[test]
    fn rport_and_received_are_stamped_and_used() {
        let mut layer = TransactionLayer::new(TIMERS);
        // Sent-by says 192.0.2.10:5060, but the packet came through a NAT.
        layer
            .handle_request(t0(), invite(), udp_from("203.0.113.7:40000"))
            .unwrap();
        let evs = events(&mut layer);
        let TuEvent::NewRequest { request, .. } = &evs[0] else {
            panic!("expected NewRequest");
        };
        let via = request.top_via().unwrap();
        assert_eq!(via.received(), Some("203.0.113.7"));
        assert_eq!(via.rport(), Some(Some(40000)));
        let trying = transmits(&mut layer);
        assert_eq!(
            trying[0].destination.addr,
            "203.0.113.7:40000".parse().unwrap()
        );
        let SipMessage::Response(r) = &trying[0].message else {
            panic!("expected a response");
        };
        assert_eq!(r.top_via().unwrap().rport(), Some(Some(40000)));
    }

    #[test]
    fn without_rport_responses_go_to_source_ip_and_sent_by_port() {
        let mut layer = TransactionLayer::new(TIMERS);
        let mut req = request(Method::Options, "z9hG4bKopt", 1);
        req.headers.set(
            HeaderName::Via,
            "SIP/2.0/UDP host.example:5070;branch=z9hG4bKopt",
        );
        layer
            .handle_request(t0(), req, udp_from("203.0.113.7:40000"))
            .unwrap();
        let evs = events(&mut layer);
        let TuEvent::NewRequest { key, request, .. } = &evs[0] else {
            panic!("expected NewRequest");
        };
        layer
            .send_response(t0(), key, request.response(200, "OK", Some("x")))
            .unwrap();
        let t = transmits(&mut layer);
        assert_eq!(t[0].destination.addr, "203.0.113.7:5070".parse().unwrap());
        let SipMessage::Response(r) = &t[0].message else {
            panic!("expected a response");
        };
        assert_eq!(r.top_via().unwrap().received(), Some("203.0.113.7"));
        assert_eq!(r.top_via().unwrap().rport(), None);
    }

    #[test]
    fn reliable_responses_reuse_the_connection() {
        let mut layer = TransactionLayer::new(TIMERS);
        layer
            .handle_request(t0(), invite(), tcp_from("192.0.2.10:51000", 42))
            .unwrap();
        let t = transmits(&mut layer);
        assert_eq!(t[0].destination.connection, Some(42));
        assert_eq!(t[0].destination.kind, TransportKind::Tcp);
        assert_eq!(t[0].destination.addr, "192.0.2.10:51000".parse().unwrap());
    }

    #[test]
    fn cseq_mismatch_and_missing_via_are_errors() {
        let mut layer = TransactionLayer::new(TIMERS);
        let mut req = bye();
        req.headers.set(HeaderName::CSeq, "2 INVITE");
        assert!(matches!(
            layer.handle_request(t0(), req, udp_from("192.0.2.10:5060")),
            Err(TransactionError::CSeqMismatch { .. })
        ));
        let mut req = bye();
        req.headers.remove(&HeaderName::Via);
        assert!(layer
            .handle_request(t0(), req, udp_from("192.0.2.10:5060"))
            .is_err());
        assert!(layer.is_empty());
    }

    #[test]
    fn cancel_is_answered_and_the_tu_sends_487() {
        let mut layer = TransactionLayer::new(TIMERS);
        let src = udp_from("192.0.2.10:5060");
        layer.handle_request(t0(), invite(), src).unwrap();
        let invite_key = new_request_key(&mut layer);
        transmits(&mut layer);
        layer
            .send_response(
                t0(),
                &invite_key,
                invite().response(180, "Ringing", Some("uas")),
            )
            .unwrap();
        transmits(&mut layer);

        let cancel = cancel_for(&invite());
        layer
            .handle_request(t0() + ms(100), cancel.clone(), src)
            .unwrap();
        let t = transmits(&mut layer);
        assert_eq!(t.iter().map(status_of).collect::<Vec<_>>(), vec![200]);
        let SipMessage::Response(ok) = &t[0].message else {
            panic!("expected a response");
        };
        assert_eq!(
            ok.to().unwrap().tag(),
            Some("uas"),
            "same tag as the INVITE's answer"
        );
        assert!(matches!(
            events(&mut layer).as_slice(),
            [TuEvent::CancelReceived { invite_key: k, .. }] if *k == invite_key
        ));
        // A retransmitted CANCEL is absorbed and answered again, not reported again.
        layer.handle_request(t0() + ms(600), cancel, src).unwrap();
        assert_eq!(
            transmits(&mut layer)
                .iter()
                .map(status_of)
                .collect::<Vec<_>>(),
            vec![200]
        );
        assert!(events(&mut layer).is_empty());

        layer
            .send_request_terminated(t0() + ms(700), &invite_key, None)
            .unwrap();
        let t = transmits(&mut layer);
        let SipMessage::Response(r487) = &t[0].message else {
            panic!("expected a response");
        };
        assert_eq!(r487.status, 487);
        assert_eq!(r487.to().unwrap().tag(), Some("uas"));
        assert_eq!(
            layer.invite_server_state(&invite_key),
            Some(InviteServerState::Completed)
        );
    }

    #[test]
    fn cancel_without_transaction_gets_481() {
        let mut layer = TransactionLayer::new(TIMERS);
        layer
            .handle_request(t0(), cancel_for(&invite()), udp_from("192.0.2.10:5060"))
            .unwrap();
        assert_eq!(
            transmits(&mut layer)
                .iter()
                .map(status_of)
                .collect::<Vec<_>>(),
            vec![481]
        );
        assert!(events(&mut layer).is_empty());
    }

    #[test]
    fn cancel_after_final_is_answered_but_not_reported() {
        let mut layer = TransactionLayer::new(TIMERS);
        let src = udp_from("192.0.2.10:5060");
        layer.handle_request(t0(), invite(), src).unwrap();
        let key = new_request_key(&mut layer);
        layer
            .send_response(t0(), &key, invite().response(200, "OK", Some("u")))
            .unwrap();
        transmits(&mut layer);
        layer
            .handle_request(t0(), cancel_for(&invite()), src)
            .unwrap();
        assert_eq!(
            transmits(&mut layer)
                .iter()
                .map(status_of)
                .collect::<Vec<_>>(),
            vec![200]
        );
        assert!(events(&mut layer).is_empty());
    }

    #[test]
    fn ack_to_2xx_goes_to_the_tu_and_ack_to_non_2xx_is_absorbed() {
        let mut layer = TransactionLayer::new(TIMERS);
        let src = udp_from("192.0.2.10:5060");
        layer.handle_request(t0(), invite(), src).unwrap();
        let key = new_request_key(&mut layer);
        layer
            .send_response(t0(), &key, invite().response(486, "Busy Here", Some("u")))
            .unwrap();
        let resp = invite().response(486, "Busy Here", Some("u"));
        let ack = ack_for_non_2xx(&invite(), &resp);
        layer.handle_request(t0() + ms(10), ack, src).unwrap();
        assert!(events(&mut layer).is_empty());
        assert_eq!(
            layer.invite_server_state(&key),
            Some(InviteServerState::Confirmed)
        );

        let mut ack2xx = request(Method::Ack, "z9hG4bKack2", 1);
        ack2xx.headers.set(HeaderName::To, "<sip:x@y>;tag=u");
        layer.handle_request(t0(), ack2xx, src).unwrap();
        assert!(matches!(
            events(&mut layer).as_slice(),
            [TuEvent::Ack { .. }]
        ));
    }

    #[test]
    fn client_responses_route_by_branch_and_method() {
        let mut layer = TransactionLayer::new(TIMERS);
        let dest = Destination {
            kind: TransportKind::Udp,
            addr: "192.0.2.20:5060".parse().unwrap(),
            connection: None,
        };
        let key = layer.send_request(t0(), bye(), dest).unwrap();
        assert_eq!(transmits(&mut layer)[0].destination, dest);
        // Same branch but another method: not ours.
        let mut wrong = bye().response(200, "OK", None);
        wrong.headers.set(HeaderName::CSeq, "2 INFO");
        layer.handle_response(t0(), wrong).unwrap();
        assert!(events(&mut layer).is_empty());
        // A response with two Vias is not for a UA.
        let mut two_vias = bye().response(200, "OK", None);
        two_vias
            .headers
            .push(HeaderName::Via, "SIP/2.0/UDP other.example;branch=z9hG4bKo");
        layer.handle_response(t0(), two_vias).unwrap();
        assert!(events(&mut layer).is_empty());
        layer
            .handle_response(t0(), bye().response(200, "OK", None))
            .unwrap();
        assert!(matches!(
            events(&mut layer).as_slice(),
            [TuEvent::Response { key: k, response }] if *k == key && response.status == 200
        ));
        // Stray non-INVITE responses vanish; a stray INVITE 2xx reaches the TU.
        layer
            .handle_response(t0(), bye().response(200, "OK", None))
            .unwrap();
        assert!(events(&mut layer).is_empty());
        layer
            .handle_response(t0(), invite().response(200, "OK", Some("late")))
            .unwrap();
        assert!(matches!(
            events(&mut layer).as_slice(),
            [TuEvent::StrayInvite2xx { .. }]
        ));
        assert!(matches!(
            layer.send_request(t0(), request(Method::Ack, "z9hG4bKa", 1), dest),
            Err(TransactionError::AckIsStateless)
        ));
        assert!(matches!(
            layer.send_request(t0(), request(Method::Info, "nocookie", 1), dest),
            Err(TransactionError::BadBranch(_))
        ));
    }

    #[test]
    fn client_cancel_waits_for_a_provisional() {
        let mut layer = TransactionLayer::new(TIMERS);
        let dest = Destination {
            kind: TransportKind::Udp,
            addr: "192.0.2.20:5060".parse().unwrap(),
            connection: None,
        };
        let key = layer.send_request(t0(), invite(), dest).unwrap();
        transmits(&mut layer);
        let cancel_key = layer.cancel(t0() + ms(10), &key).unwrap();
        assert!(
            transmits(&mut layer).is_empty(),
            "no CANCEL before a provisional"
        );
        layer
            .handle_response(t0() + ms(20), invite().response(100, "Trying", None))
            .unwrap();
        let t = transmits(&mut layer);
        assert_eq!(t.len(), 1);
        let SipMessage::Request(cancel) = &t[0].message else {
            panic!("expected the CANCEL");
        };
        assert_eq!(cancel.method, Method::Cancel);
        assert_eq!(cancel.top_via().unwrap().branch(), Some("z9hG4bKclient1"));
        assert_eq!(cancel_key.method, Method::Cancel);
        assert!(layer.client_request(&cancel_key).is_some());
        // Once the INVITE is answered finally it cannot be cancelled any more.
        layer
            .handle_response(
                t0() + ms(30),
                invite().response(487, "Terminated", Some("t")),
            )
            .unwrap();
        assert!(matches!(
            layer.cancel(t0() + ms(40), &key),
            Err(TransactionError::NotPending(_))
        ));
    }

    #[test]
    fn a_closed_connection_fails_its_transactions() {
        let mut layer = TransactionLayer::new(TIMERS);
        layer
            .handle_request(t0(), invite(), tcp_from("192.0.2.10:51000", 7))
            .unwrap();
        layer
            .handle_request(t0(), bye(), tcp_from("192.0.2.10:51001", 8))
            .unwrap();
        let keys: Vec<TransactionKey> = events(&mut layer)
            .into_iter()
            .filter_map(|e| match e {
                TuEvent::NewRequest { key, .. } => Some(key),
                _ => None,
            })
            .collect();
        layer.handle_connection_closed(7);
        assert_eq!(
            events(&mut layer),
            vec![TuEvent::TransportError {
                key: keys[0].clone()
            }]
        );
        assert_eq!(layer.len(), (1, 0));
    }

    #[test]
    fn timeout_and_transport_error_events() {
        let mut layer = TransactionLayer::new(TIMERS);
        let dest = Destination {
            kind: TransportKind::Tcp,
            addr: "192.0.2.20:5060".parse().unwrap(),
            connection: None,
        };
        let key = layer.send_request(t0(), bye(), dest).unwrap();
        let inv = layer.send_request(t0(), invite(), dest).unwrap();
        assert_eq!(layer.poll_timeout(), Some(t0() + ms(32_000)));
        layer.handle_transport_error(&inv);
        layer.handle_timeout(t0() + ms(32_000));
        let evs = events(&mut layer);
        assert_eq!(
            evs,
            vec![
                TuEvent::TransportError { key: inv },
                TuEvent::Timeout { key }
            ]
        );
        assert!(layer.is_empty());
        assert_eq!(layer.poll_timeout(), None);
    }

    proptest::proptest! {
        /// Network input never panics the layer, whatever the headers the keys depend on say.
        #[test]
        fn arbitrary_headers_never_panic(
            via in "(SIP/2\\.0/(UDP|TCP|xx) )?[a-z0-9.:\\[\\]]{0,20}(;[a-z]{1,7}(=[a-zA-Z0-9.\"]{0,9})?){0,3}|.{0,40}",
            cseq in "[0-9]{0,11} ?(INVITE|ACK|CANCEL|BYE|[A-Z]{0,4})|.{0,20}",
            from in "<sip:a@b>(;tag=[a-z0-9]{0,4})?|.{0,30}",
            to in "<sip:c@d>(;tag=[a-z0-9]{0,4})?|.{0,30}",
            method in 0usize..5,
            status in 100u16..700,
        ) {
            let methods = [Method::Invite, Method::Ack, Method::Cancel, Method::Bye, Method::Info];
            let mut req = Request::new(methods[method].clone(), "sip:x@y");
            req.headers.push(HeaderName::Via, via);
            req.headers.push(HeaderName::CSeq, cseq);
            req.headers.push(HeaderName::From, from);
            req.headers.push(HeaderName::To, to);
            req.headers.push(HeaderName::CallId, "c");
            let mut layer = TransactionLayer::new(TIMERS);
            let src = udp_from("192.0.2.10:5060");
            for _ in 0..2 {
                let _ = layer.handle_request(t0(), req.clone(), src);
                let _ = layer.handle_response(t0(), req.response(status, "X", Some("t")));
            }
            let _ = layer.handle_request(t0(), cancel_for(&req), src);
            while let Some(ev) = layer.poll_event() {
                if let TuEvent::NewRequest { key, request, .. } = ev {
                    let _ = layer.send_response(t0(), &key, request.response(status, "X", None));
                }
            }
            let mut dialogs = crate::sip::dialog::DialogLayer::new(TIMERS);
            let _ = dialogs.match_request(&req);
            let _ = dialogs.handle_ack(&req);
            while let Some(at) = layer.poll_timeout() {
                layer.handle_timeout(at);
            }
        }
    }
}
