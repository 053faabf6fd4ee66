//! One behaviour suite for every `engine::store` backend.
//!
//! Each test function takes a `&dyn Store` and runs once per backend: on a fresh SQLite file in a
//! temporary directory, and on a fresh `redis-server` started on a free loopback port (no
//! persistence) and killed when the test ends. Without `redis-server` on PATH the Redis tests
//! fail: install the Debian package `redis-server`.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use voxgate_engine::store::{
    Conversation, ConversationMessage, ConversationState, Escalation, EscalationOutcome,
    IngressKind, RedisStore, Role, RtpCounters, SessionRecord, SqliteStore, Store, StoreError,
    TranscriptLine,
};

// ---------------------------------------------------------------------------------------------
// Backends

/// A store plus what keeps it alive; the store drops first.
struct Backend {
    store: Box<dyn Store>,
    _guard: Guard,
}

enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Redis(#[allow(dead_code)] RedisServer),
}

impl Backend {
    fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("voxgate.db")).unwrap();
        Backend {
            store: Box::new(store),
            _guard: Guard::Dir(dir),
        }
    }

    fn redis() -> Backend {
        let server = RedisServer::start();
        let store = RedisStore::open(&server.url()).unwrap();
        Backend {
            store: Box::new(store),
            _guard: Guard::Redis(server),
        }
    }
}

/// A throwaway `redis-server` on a free loopback port.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        // Another process may grab the free port between our probe and redis binding it; the
        // server then exits at once and we try another port.
        for _ in 0..5 {
            let port = free_port();
            if let Some(server) = Self::start_on(port) {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    fn start_on(port: u16) -> Option<RedisServer> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not on PATH: the Redis store tests need a real server. \
                 Install the Debian package `redis-server` (apt-get install -y redis-server; \
                 scripts/install-deps.sh does it)."
            ),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        let mut server = RedisServer { child, port };
        server.wait_ready().then_some(server)
    }

    /// Polls PING until the server answers; `false` if it exited first. Panics past a deadline.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(self.url()).unwrap();
        loop {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(200)) {
                if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                    return true;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server and starts a new, empty one on the same port.
    fn restart(&mut self) {
        self.kill();
        let fresh = Self::start_on(self.port).expect("redis-server restart on the same port");
        // The old handle's child is already reaped; dropping it again is harmless.
        drop(std::mem::replace(self, fresh));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn record(session_id: &str, bot_id: &str, start_ms: i64) -> SessionRecord {
    SessionRecord {
        session_id: session_id.into(),
        call_id: format!("call-{session_id}@10.0.0.1"),
        ingress: IngressKind::Sip,
        did: "+15551230000".into(),
        trunk: Some("local".into()),
        bot_id: bot_id.into(),
        contact_id: None,
        account_id: None,
        start_ms,
        answer_ms: Some(start_ms + 120),
        end_ms: start_ms + 60_000,
        end_reason: "HangUp".into(),
        escalation: None,
        codec: Some("PCMU/8000".into()),
        rtp: Some(RtpCounters {
            packets_sent: 3000,
            packets_received: 2990,
            packets_lost: 10,
            jitter_ms: 3.25,
        }),
        dtmf: String::new(),
        transcript: Vec::new(),
    }
}

fn full_record() -> SessionRecord {
    SessionRecord {
        contact_id: Some("c0ffee-contact".into()),
        account_id: None,
        end_reason: "TransferToAgent".into(),
        escalation: Some(Escalation {
            reason: "TransferToAgent".into(),
            target: Some("sip:agents@pbx.example".into()),
            profile: "refer".into(),
            outcome: EscalationOutcome::FellBack {
                cause: "603 Decline".into(),
            },
            at_ms: 1_700_000_050_000,
            variables: BTreeMap::from([("ringGroup".to_string(), "agents".to_string())]),
            refer_to: Some("sip:agents@pbx.example".into()),
            refer_status: Some(603),
            agent_legs: Vec::new(),
            assist_transcripts: Vec::new(),
        }),
        dtmf: "10#".into(),
        transcript: vec![
            TranscriptLine {
                role: Role::Bot,
                text: "Hello, how can I help?".into(),
                at_ms: 1_700_000_001_000,
            },
            TranscriptLine {
                role: Role::Caller,
                text: "Un agent, s'il vous plaît — «vite»".into(),
                at_ms: 1_700_000_004_000,
            },
        ],
        ..record("sess-full", "bot-a", 1_700_000_000_000)
    }
}

fn message(id: &str, text: &str) -> ConversationMessage {
    ConversationMessage {
        message_id: id.into(),
        author: "contact".into(),
        text: text.into(),
        at_ms: 1_700_000_000_000,
        payload: json!({"message_id": id, "content": text}),
    }
}

fn conversation(id: &str, state: ConversationState) -> Conversation {
    Conversation {
        conversation_id: id.into(),
        interaction_id: None,
        state,
        created_ms: 1_700_000_000_000,
        updated_ms: 1_700_000_000_000,
        attributes: json!({"channel": "chat"}),
        messages: Vec::new(),
    }
}

fn ids(records: &[SessionRecord]) -> Vec<&str> {
    records.iter().map(|r| r.session_id.as_str()).collect()
}

/// Polls `f` until it is true or `within` passes.
fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// The suite

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $( #[test] fn $name() { let b = super::Backend::sqlite(); super::$name(&*b.store); } )*
        }
        mod redis_backend {
            $( #[test] fn $name() { let b = super::Backend::redis(); super::$name(&*b.store); } )*
        }
    };
}

conformance!(
    ping_answers,
    session_round_trip,
    session_unknown_is_none,
    session_rewrite_moves_indexes,
    session_find_by_call_id,
    session_list_pages_newest_first,
    session_rejects_unstorable,
    session_concurrent_writers,
    metadata_round_trip_and_replace,
    metadata_expires,
    metadata_rejects_zero_ttl,
    conversation_lifecycle,
    conversation_append_is_idempotent,
    conversation_unknown,
    credentials_add_verify_list,
    credentials_revoke,
    tokens_check_expiry_and_revocation,
    tokens_need_a_live_client,
);

fn ping_answers(s: &dyn Store) {
    s.ping().unwrap();
}

fn session_round_trip(s: &dyn Store) {
    let r = full_record();
    s.put_session(&r).unwrap();
    assert_eq!(s.get_session("sess-full").unwrap(), Some(r.clone()));
    // A Talkdesk record: no trunk, no RTP.
    let t = SessionRecord {
        ingress: IngressKind::Talkdesk,
        trunk: None,
        rtp: None,
        codec: None,
        answer_ms: None,
        account_id: Some("acct-1".into()),
        ..record("sess-td", "bot-a", 5)
    };
    s.put_session(&t).unwrap();
    assert_eq!(s.get_session("sess-td").unwrap(), Some(t));
    assert_eq!(s.get_session("sess-full").unwrap(), Some(r));
}

fn session_unknown_is_none(s: &dyn Store) {
    assert_eq!(s.get_session("nope").unwrap(), None);
    assert_eq!(s.find_session_by_call_id("nope").unwrap(), None);
    assert!(s.list_sessions("nobody", 0, 10).unwrap().is_empty());
}

fn session_rewrite_moves_indexes(s: &dyn Store) {
    let first = record("s1", "bot-a", 100);
    s.put_session(&first).unwrap();
    let second = SessionRecord {
        bot_id: "bot-b".into(),
        call_id: "other-call".into(),
        end_reason: "BotFailure".into(),
        ..first.clone()
    };
    s.put_session(&second).unwrap();
    assert_eq!(s.get_session("s1").unwrap(), Some(second.clone()));
    assert!(s.list_sessions("bot-a", 0, 10).unwrap().is_empty());
    assert_eq!(ids(&s.list_sessions("bot-b", 0, 10).unwrap()), ["s1"]);
    assert_eq!(s.find_session_by_call_id(&first.call_id).unwrap(), None);
    assert_eq!(
        s.find_session_by_call_id("other-call").unwrap(),
        Some(second.clone())
    );
    // Same key again: still exactly one entry.
    s.put_session(&second).unwrap();
    assert_eq!(s.list_sessions("bot-b", 0, 10).unwrap().len(), 1);
}

fn session_find_by_call_id(s: &dyn Store) {
    let a = record("a", "bot-a", 1);
    let b = record("b", "bot-a", 2);
    s.put_session(&a).unwrap();
    s.put_session(&b).unwrap();
    assert_eq!(s.find_session_by_call_id(&a.call_id).unwrap(), Some(a));
    assert_eq!(s.find_session_by_call_id(&b.call_id).unwrap(), Some(b));
}

fn session_list_pages_newest_first(s: &dyn Store) {
    for (id, start) in [
        ("s1", 100),
        ("s2", 200),
        ("s3", 300),
        ("s4", 400),
        ("s5", 500),
    ] {
        s.put_session(&record(id, "bot-a", start)).unwrap();
    }
    // Equal start times: session id descending breaks the tie.
    s.put_session(&record("t-a", "bot-a", 250)).unwrap();
    s.put_session(&record("t-b", "bot-a", 250)).unwrap();
    s.put_session(&record("other", "bot-b", 1000)).unwrap();

    let all = s.list_sessions("bot-a", 0, 100).unwrap();
    assert_eq!(ids(&all), ["s5", "s4", "s3", "t-b", "t-a", "s2", "s1"]);
    assert_eq!(all[0], record("s5", "bot-a", 500));
    assert_eq!(
        ids(&s.list_sessions("bot-a", 2, 3).unwrap()),
        ["s3", "t-b", "t-a"]
    );
    assert_eq!(ids(&s.list_sessions("bot-a", 6, 10).unwrap()), ["s1"]);
    assert!(s.list_sessions("bot-a", 7, 10).unwrap().is_empty());
    assert!(s.list_sessions("bot-a", 0, 0).unwrap().is_empty());
    assert_eq!(
        s.list_sessions("bot-a", 0, usize::MAX).unwrap().len(),
        7,
        "an unbounded limit means all"
    );
    assert!(s.list_sessions("bot-a", usize::MAX, 5).unwrap().is_empty());
    assert_eq!(ids(&s.list_sessions("bot-b", 0, 10).unwrap()), ["other"]);
}

fn session_rejects_unstorable(s: &dyn Store) {
    let empty_id = record("", "bot-a", 1);
    assert!(matches!(
        s.put_session(&empty_id),
        Err(StoreError::Invalid(_))
    ));
    let mut nan = record("nan", "bot-a", 1);
    nan.rtp = Some(RtpCounters {
        jitter_ms: f64::NAN,
        ..RtpCounters::default()
    });
    assert!(matches!(s.put_session(&nan), Err(StoreError::Invalid(_))));
    assert_eq!(s.get_session("nan").unwrap(), None);
}

fn session_concurrent_writers(s: &dyn Store) {
    thread::scope(|scope| {
        for t in 0..4 {
            scope.spawn(move || {
                for i in 0..25 {
                    s.put_session(&record(&format!("w{t}-{i:02}"), "bot-c", i))
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(s.list_sessions("bot-c", 0, 1000).unwrap().len(), 100);
    assert!(s.get_session("w3-24").unwrap().is_some());
}

fn metadata_round_trip_and_replace(s: &dyn Store) {
    let v = json!({
        "kore-instanceSessionId": "sess-1",
        "reason": "TransferToAgent",
        "variables": {"ringGroup": "agents"},
        "summary": "caller asked for an agent",
    });
    s.put_metadata("contact-1", &v, Duration::from_secs(60))
        .unwrap();
    assert_eq!(s.get_metadata("contact-1").unwrap(), Some(v));
    let w = json!({"replaced": true});
    s.put_metadata("contact-1", &w, Duration::from_secs(60))
        .unwrap();
    assert_eq!(s.get_metadata("contact-1").unwrap(), Some(w));
    assert_eq!(s.get_metadata("contact-2").unwrap(), None);
}

fn metadata_expires(s: &dyn Store) {
    s.put_metadata("short", &json!(1), Duration::from_millis(300))
        .unwrap();
    s.put_metadata("long", &json!(2), Duration::from_secs(600))
        .unwrap();
    assert_eq!(s.get_metadata("short").unwrap(), Some(json!(1)));
    assert!(
        eventually(Duration::from_secs(5), || s
            .get_metadata("short")
            .unwrap()
            .is_none()),
        "metadata with a 300 ms TTL still readable after 5 s"
    );
    // A write purges expired rows and keeps live ones.
    s.put_metadata("other", &json!(3), Duration::from_secs(600))
        .unwrap();
    assert_eq!(s.get_metadata("short").unwrap(), None);
    assert_eq!(s.get_metadata("long").unwrap(), Some(json!(2)));
}

fn metadata_rejects_zero_ttl(s: &dyn Store) {
    assert!(matches!(
        s.put_metadata("c", &json!({}), Duration::ZERO),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.put_metadata("", &json!({}), Duration::from_secs(1)),
        Err(StoreError::Invalid(_))
    ));
}

fn conversation_lifecycle(s: &dyn Store) {
    let mut c = conversation("conv-1", ConversationState::Started);
    c.messages = vec![message("m1", "hi")];
    s.put_conversation(&c).unwrap();
    assert!(s
        .append_message("conv-1", &message("m2", "I need help"))
        .unwrap());

    let mut assigned = conversation("conv-1", ConversationState::Assigned);
    assigned.interaction_id = Some("int-9".into());
    assigned.updated_ms += 5_000;
    assigned.attributes = json!({"channel": "chat", "agent": "ana"});
    // Re-sent messages (at-least-once delivery) are not duplicated; new ones are appended.
    assigned.messages = vec![message("m1", "hi"), message("m3", "on it")];
    s.put_conversation(&assigned).unwrap();

    let got = s.get_conversation("conv-1").unwrap().unwrap();
    assert_eq!(got.state, ConversationState::Assigned);
    assert_eq!(got.interaction_id.as_deref(), Some("int-9"));
    assert_eq!(got.attributes, json!({"channel": "chat", "agent": "ana"}));
    assert_eq!(got.updated_ms, assigned.updated_ms);
    let texts: Vec<&str> = got.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hi", "I need help", "on it"]);
    assert_eq!(got.messages[0], message("m1", "hi"));

    assert_eq!(
        s.find_conversation_by_interaction("int-9")
            .unwrap()
            .as_deref(),
        Some("conv-1")
    );
    let mut ended = conversation("conv-1", ConversationState::Terminated);
    ended.interaction_id = None;
    s.put_conversation(&ended).unwrap();
    let got = s.get_conversation("conv-1").unwrap().unwrap();
    assert_eq!(got.state, ConversationState::Terminated);
    assert_eq!(got.messages.len(), 3, "messages are never dropped");
    assert_eq!(
        s.find_conversation_by_interaction("int-9")
            .unwrap()
            .as_deref(),
        Some("conv-1"),
        "the interaction mapping outlives a header without it"
    );
}

fn conversation_append_is_idempotent(s: &dyn Store) {
    s.put_conversation(&conversation("conv-2", ConversationState::Started))
        .unwrap();
    assert!(s.append_message("conv-2", &message("m1", "one")).unwrap());
    assert!(!s.append_message("conv-2", &message("m1", "one")).unwrap());
    assert!(s.append_message("conv-2", &message("m2", "two")).unwrap());
    assert!(!s
        .append_message("conv-2", &message("m1", "changed?"))
        .unwrap());
    let got = s.get_conversation("conv-2").unwrap().unwrap();
    let texts: Vec<&str> = got.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["one", "two"]);
    // Message ids are per conversation.
    s.put_conversation(&conversation("conv-3", ConversationState::Started))
        .unwrap();
    assert!(s.append_message("conv-3", &message("m1", "other")).unwrap());
}

fn conversation_unknown(s: &dyn Store) {
    assert_eq!(s.get_conversation("none").unwrap(), None);
    assert_eq!(s.find_conversation_by_interaction("none").unwrap(), None);
    assert!(matches!(
        s.append_message("none", &message("m1", "x")),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.get_conversation("none").unwrap(), None);
}

fn credentials_add_verify_list(s: &dyn Store) {
    let a = s.add_credential("talkdesk-prod").unwrap();
    let b = s.add_credential("talkdesk-staging").unwrap();
    assert_ne!(a.id, b.id);
    assert_ne!(a.secret, b.secret);
    assert!(s.verify_credential(&a.id, &a.secret).unwrap());
    assert!(s.verify_credential(&b.id, &b.secret).unwrap());
    assert!(!s.verify_credential(&a.id, &b.secret).unwrap());
    assert!(!s.verify_credential(&a.id, "").unwrap());
    assert!(!s.verify_credential("unknown", &a.secret).unwrap());

    let list = s.list_credentials().unwrap();
    assert_eq!(list.len(), 2);
    let mut names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["talkdesk-prod", "talkdesk-staging"]);
    assert!(list
        .iter()
        .all(|c| c.revoked_ms.is_none() && c.created_ms > 0));
    assert!(list.windows(2).all(|w| w[0].created_ms <= w[1].created_ms));
    assert!(matches!(s.add_credential(""), Err(StoreError::Invalid(_))));
}

fn credentials_revoke(s: &dyn Store) {
    let a = s.add_credential("a").unwrap();
    let b = s.add_credential("b").unwrap();
    assert!(s.revoke_credential(&a.id).unwrap());
    assert!(!s.verify_credential(&a.id, &a.secret).unwrap());
    assert!(s.verify_credential(&b.id, &b.secret).unwrap());
    let revoked_at = s
        .list_credentials()
        .unwrap()
        .into_iter()
        .find(|c| c.id == a.id)
        .unwrap()
        .revoked_ms
        .expect("listed as revoked");
    // Revoking again succeeds and keeps the first revocation time.
    assert!(s.revoke_credential(&a.id).unwrap());
    let again = s.list_credentials().unwrap();
    assert_eq!(
        again.iter().find(|c| c.id == a.id).unwrap().revoked_ms,
        Some(revoked_at)
    );
    assert!(!s.revoke_credential("unknown").unwrap());
}

fn tokens_check_expiry_and_revocation(s: &dyn Store) {
    let now = 1_000_000; // check_token takes the time; only put_token's expiry is a real clock
    let far = 4_000_000_000_000; // year 2096
    let a = s.add_credential("a").unwrap();
    let b = s.add_credential("b").unwrap();
    s.put_token("hash-a1", &a.id, far).unwrap();
    s.put_token("hash-a2", &a.id, far).unwrap();
    s.put_token("hash-b1", &b.id, far).unwrap();
    assert_eq!(s.check_token("hash-a1", now).unwrap(), Some(a.id.clone()));
    assert_eq!(s.check_token("hash-b1", now).unwrap(), Some(b.id.clone()));
    assert_eq!(s.check_token("hash-a1", far).unwrap(), None, "expired");
    assert_eq!(
        s.check_token("hash-a1", far - 1).unwrap(),
        Some(a.id.clone())
    );
    assert_eq!(s.check_token("unknown", now).unwrap(), None);

    assert!(s.revoke_credential(&a.id).unwrap());
    assert_eq!(s.check_token("hash-a1", now).unwrap(), None);
    assert_eq!(s.check_token("hash-a2", now).unwrap(), None);
    assert_eq!(s.check_token("hash-b1", now).unwrap(), Some(b.id));
}

fn tokens_need_a_live_client(s: &dyn Store) {
    let far = 4_000_000_000_000;
    assert!(matches!(
        s.put_token("h", "unknown", far),
        Err(StoreError::NotFound { .. })
    ));
    let a = s.add_credential("a").unwrap();
    assert!(matches!(
        s.put_token("h", &a.id, 0),
        Err(StoreError::Invalid(_))
    ));
    s.revoke_credential(&a.id).unwrap();
    assert!(matches!(
        s.put_token("h", &a.id, far),
        Err(StoreError::Revoked(_))
    ));
    assert_eq!(s.check_token("h", 1).unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Backend-specific behaviour

#[test]
fn sqlite_reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voxgate.db");
    let cred = {
        let s = SqliteStore::open(&path).unwrap();
        s.put_session(&full_record()).unwrap();
        s.put_metadata("c", &json!({"k": 1}), Duration::from_secs(60))
            .unwrap();
        s.put_conversation(&conversation("conv", ConversationState::Started))
            .unwrap();
        s.add_credential("a").unwrap()
    };
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.get_session("sess-full").unwrap(), Some(full_record()));
    assert_eq!(s.get_metadata("c").unwrap(), Some(json!({"k": 1})));
    assert!(s.get_conversation("conv").unwrap().is_some());
    assert!(s.verify_credential(&cred.id, &cred.secret).unwrap());
}

#[test]
fn sqlite_wal_full_and_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voxgate.db");
    drop(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::SCHEMA_VERSION);

    // A database from a newer build is refused, not misread.
    raw.pragma_update(None, "user_version", SqliteStore::SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::SchemaTooNew { .. })
    ));
}

#[test]
fn sqlite_corrupt_rows_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voxgate.db");
    let s = SqliteStore::open(&path).unwrap();
    s.put_session(&record("bad", "bot-a", 1)).unwrap();
    s.put_session(&record("good", "bot-a", 2)).unwrap();
    s.put_metadata("m", &json!(1), Duration::from_secs(60))
        .unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE sessions SET record = '{\"session_id\": 1' WHERE session_id = 'bad'",
        [],
    )
    .unwrap();
    raw.execute("UPDATE metadata SET value = 'not json'", [])
        .unwrap();
    assert!(matches!(
        s.get_session("bad"),
        Err(StoreError::Corrupt {
            what: "session",
            ..
        })
    ));
    assert!(s.get_session("good").unwrap().is_some());
    assert!(matches!(
        s.list_sessions("bot-a", 0, 10),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        s.get_metadata("m"),
        Err(StoreError::Corrupt { .. })
    ));
    // A corrupt credential hash is an error, not a panic or a silent `false`.
    let cred = s.add_credential("a").unwrap();
    raw.execute("UPDATE credentials SET secret_hash = 'garbage'", [])
        .unwrap();
    assert!(matches!(
        s.verify_credential(&cred.id, &cred.secret),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn sqlite_is_shared_with_a_second_process_handle() {
    // `voxgate credentials add` runs while the node has the file open.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voxgate.db");
    let node = Arc::new(SqliteStore::open(&path).unwrap());
    let cli = SqliteStore::open(&path).unwrap();
    let cred = cli.add_credential("from-cli").unwrap();
    assert!(node.verify_credential(&cred.id, &cred.secret).unwrap());
    node.put_session(&record("s", "bot", 1)).unwrap();
    assert!(cli.get_session("s").unwrap().is_some());
}

#[test]
fn redis_corrupt_values_are_errors() {
    let server = RedisServer::start();
    let s = RedisStore::open(&server.url()).unwrap();
    let mut con = server.connection();
    s.put_session(&record("good", "bot-a", 2)).unwrap();
    s.put_session(&record("bad", "bot-a", 1)).unwrap();
    redis::cmd("SET")
        .arg("voxgate:session:bad")
        .arg("{\"session_id\": 1")
        .exec(&mut con)
        .unwrap();
    redis::cmd("SET")
        .arg("voxgate:metadata:m")
        .arg("not json")
        .exec(&mut con)
        .unwrap();
    assert!(matches!(
        s.get_session("bad"),
        Err(StoreError::Corrupt {
            what: "session",
            ..
        })
    ));
    assert!(s.get_session("good").unwrap().is_some());
    assert!(matches!(
        s.list_sessions("bot-a", 0, 10),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        s.get_metadata("m"),
        Err(StoreError::Corrupt { .. })
    ));
    // A rewrite over a corrupt value still works and repairs it.
    s.put_session(&record("bad", "bot-a", 1)).unwrap();
    assert!(s.get_session("bad").unwrap().is_some());
}

#[test]
fn redis_keys_are_namespaced_and_metadata_has_a_ttl() {
    let server = RedisServer::start();
    let s = RedisStore::open(&server.url()).unwrap();
    s.put_session(&full_record()).unwrap();
    s.put_metadata("c", &json!(1), Duration::from_secs(90))
        .unwrap();
    let mut c = conversation("conv", ConversationState::Started);
    c.interaction_id = Some("int".into());
    c.messages = vec![message("m", "x")];
    s.put_conversation(&c).unwrap();
    let cred = s.add_credential("a").unwrap();
    s.put_token("h", &cred.id, 4_000_000_000_000).unwrap();

    let mut con = server.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    assert!(keys.len() >= 10, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("voxgate:")), "{keys:?}");
    let pttl: i64 = redis::cmd("PTTL")
        .arg("voxgate:metadata:c")
        .query(&mut con)
        .unwrap();
    assert!(pttl > 80_000 && pttl <= 90_000, "PTTL {pttl}");
    let token_ttl: i64 = redis::cmd("PTTL")
        .arg("voxgate:token:h")
        .query(&mut con)
        .unwrap();
    assert!(token_ttl > 0, "tokens expire in Redis too");
}

#[test]
fn redis_reconnects_after_a_server_restart() {
    let mut server = RedisServer::start();
    let s = RedisStore::open(&server.url()).unwrap();
    s.put_session(&record("before", "bot", 1)).unwrap();
    // Several idle connections in the pool, all about to go stale.
    thread::scope(|scope| {
        for i in 0..4 {
            let s = &s;
            scope.spawn(move || s.put_session(&record(&format!("p{i}"), "bot", 2)).unwrap());
        }
    });
    server.restart(); // a fresh, empty server on the same port
    s.put_session(&record("after", "bot", 3)).unwrap();
    assert!(s.get_session("after").unwrap().is_some());
    assert_eq!(
        s.get_session("before").unwrap(),
        None,
        "the new server is empty"
    );
    for _ in 0..8 {
        s.ping().unwrap();
    }
}

#[test]
fn redis_down_is_an_error_not_a_hang() {
    let port = free_port();
    let started = Instant::now();
    assert!(matches!(
        RedisStore::open(&format!("redis://127.0.0.1:{port}/")),
        Err(StoreError::Redis(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
}
