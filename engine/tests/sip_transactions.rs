//! Two transaction layers on virtual time over a seeded lossy datagram link: many non-INVITE
//! and INVITE transactions at once, and each request reaches the server TU exactly once while
//! the client TU sees exactly one final response (or, for INVITE 2xx, at least one).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use voxgate_engine::sip::message::{HeaderName, Method, Request, SipMessage};
use voxgate_engine::sip::transaction::{
    new_branch, Destination, TimerConfig, TransactionKey, TransactionLayer, TransportInfo,
    TransportKind, TuEvent,
};

const CLIENT: &str = "192.0.2.1:5060";
const SERVER: &str = "192.0.2.2:5060";

fn request(method: Method, seq: u32, rng: &mut StdRng) -> Request {
    let cseq = format!("{seq} {method}");
    let mut r = Request::new(method, format!("sip:svc@{SERVER}"));
    r.headers.push(
        HeaderName::Via,
        format!("SIP/2.0/UDP {CLIENT};branch={};rport", new_branch(rng)),
    );
    r.headers.push(HeaderName::MaxForwards, "70");
    r.headers
        .push(HeaderName::From, format!("<sip:c@{CLIENT}>;tag=c{seq}"));
    r.headers
        .push(HeaderName::To, format!("<sip:svc@{SERVER}>"));
    r.headers.push(HeaderName::CallId, format!("tx-{seq}"));
    r.headers.push(HeaderName::CSeq, cseq);
    r
}

struct Net {
    rng: StdRng,
    loss: f64,
    /// (arrival, to the server?, message)
    flight: Vec<(Instant, bool, SipMessage)>,
    dropped: usize,
}

impl Net {
    fn carry(&mut self, now: Instant, to_server: bool, layer: &mut TransactionLayer) {
        while let Some(t) = layer.poll_transmit() {
            if self.rng.gen_bool(self.loss) {
                self.dropped += 1;
                continue;
            }
            let delay = Duration::from_millis(self.rng.gen_range(10..60));
            self.flight.push((now + delay, to_server, t.message));
        }
    }
}

#[test]
fn many_transactions_over_a_lossy_link_reach_the_tu_once() {
    for seed in 0..8u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut net = Net {
            rng: StdRng::seed_from_u64(seed + 100),
            loss: 0.3,
            flight: Vec::new(),
            dropped: 0,
        };
        let mut client = TransactionLayer::new(TimerConfig::default());
        let mut server = TransactionLayer::new(TimerConfig::default());
        let dest = Destination {
            kind: TransportKind::Udp,
            addr: SERVER.parse().unwrap(),
            connection: None,
        };
        let mut now = Instant::now();
        let start = now;
        let methods = [
            Method::Options,
            Method::Info,
            Method::Invite,
            Method::Message,
        ];
        let mut sent: Vec<(TransactionKey, Method)> = Vec::new();
        for seq in 1..=40u32 {
            let method = methods[seq as usize % methods.len()].clone();
            let key = client
                .send_request(now, request(method.clone(), seq, &mut rng), dest)
                .unwrap();
            sent.push((key, method));
        }
        let mut seen_by_server = Vec::new();
        let mut finals_at_client: Vec<TransactionKey> = Vec::new();
        let mut timeouts = 0;
        net.carry(now, true, &mut client);
        loop {
            let next = [
                net.flight.iter().map(|f| f.0).min(),
                client.poll_timeout(),
                server.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { break };
            now = now.max(next);
            let (due, later): (Vec<_>, Vec<_>) = net.flight.drain(..).partition(|f| f.0 <= now);
            net.flight = later;
            for (_, to_server, msg) in due {
                match (to_server, msg) {
                    (true, SipMessage::Request(r)) => {
                        let info = TransportInfo {
                            kind: TransportKind::Udp,
                            source: CLIENT.parse::<SocketAddr>().unwrap(),
                            local: SERVER.parse().unwrap(),
                            connection: None,
                        };
                        server.handle_request(now, r, info).unwrap();
                    }
                    (false, SipMessage::Response(r)) => client.handle_response(now, r).unwrap(),
                    other => panic!("misrouted {other:?}"),
                }
            }
            client.handle_timeout(now);
            server.handle_timeout(now);
            while let Some(ev) = server.poll_event() {
                match ev {
                    TuEvent::NewRequest { key, request, .. } => {
                        seen_by_server.push(request.call_id().unwrap().to_owned());
                        let status = if request.method == Method::Invite {
                            486
                        } else {
                            200
                        };
                        let resp = request.response(status, "Done", Some("s"));
                        server.send_response(now, &key, resp).unwrap();
                    }
                    TuEvent::Timeout { key } => {
                        eprintln!(
                            "seed {seed} timeout {key} at {:?}",
                            now.duration_since(start)
                        );
                        timeouts += 1
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            while let Some(ev) = client.poll_event() {
                match ev {
                    TuEvent::Response { key, response } if response.status >= 200 => {
                        finals_at_client.push(key)
                    }
                    TuEvent::Response { .. } => {}
                    TuEvent::Timeout { key } => {
                        eprintln!(
                            "seed {seed} timeout {key} at {:?}",
                            now.duration_since(start)
                        );
                        timeouts += 1
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            net.carry(now, true, &mut client);
            net.carry(now, false, &mut server);
        }
        assert!(net.dropped > 0);
        // With 30% loss a transaction can legitimately time out; none did for these seeds.
        assert_eq!(timeouts, 0, "seed {seed}");
        let mut unique = seen_by_server.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            seen_by_server.len(),
            "a retransmission reached the TU"
        );
        assert_eq!(seen_by_server.len(), 40, "seed {seed}");
        for (key, _) in &sent {
            let n = finals_at_client.iter().filter(|k| *k == key).count();
            assert_eq!(n, 1, "one final response for {key}, seed {seed}");
        }
        assert!(client.is_empty() && server.is_empty());
    }
}
