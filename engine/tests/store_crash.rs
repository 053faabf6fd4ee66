//! An acknowledged SQLite write survives `kill -9` of the writer.
//!
//! The parent test re-runs this test binary as a child, filtered to [`crash_child_writer`] and
//! told by an environment variable which database to write. The child writes session records
//! and metadata as fast as it can, printing `ack <id>` after each write returns. The parent reads
//! the acknowledgements, SIGKILLs the child mid-stream, reopens the file and checks that every
//! acknowledged write is there.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use voxgate_engine::store::{IngressKind, SessionRecord, SqliteStore, Store};

/// Set in the child's environment to the database path.
const CHILD_ENV: &str = "VOXGATE_STORE_CRASH_CHILD_DB";
/// Acknowledgements the parent waits for before it kills the child.
const ACKS_BEFORE_KILL: usize = 150;

fn record(i: u64) -> SessionRecord {
    SessionRecord {
        session_id: format!("s{i:06}"),
        call_id: format!("c{i}@crash"),
        ingress: IngressKind::Sip,
        did: "+15550000000".into(),
        trunk: Some("local".into()),
        bot_id: "crash-bot".into(),
        contact_id: None,
        account_id: None,
        start_ms: i64::try_from(i).unwrap(),
        answer_ms: None,
        end_ms: i64::try_from(i).unwrap() + 1,
        end_reason: "HangUp".into(),
        escalation: None,
        codec: None,
        rtp: None,
        dtmf: String::new(),
        transcript: Vec::new(),
    }
}

/// The child's body; a no-op unless started by [`acknowledged_writes_survive_kill_9`].
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(&path).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    // Bounded so that a parent that failed to kill us does not leave a runaway process.
    for i in 0..1_000_000u64 {
        store.put_session(&record(i)).unwrap();
        writeln!(out, "ack session {i}").unwrap();
        if i % 3 == 0 {
            store
                .put_metadata(
                    &format!("contact-{i}"),
                    &json!({ "i": i }),
                    Duration::from_secs(3600),
                )
                .unwrap();
            writeln!(out, "ack metadata {i}").unwrap();
        }
        out.flush().unwrap();
    }
}

/// Files an `ack session N` / `ack metadata N` line; other lines are libtest's own chatter.
fn record_ack(line: &str, sessions: &mut Vec<u64>, metadata: &mut Vec<u64>) {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("ack"), Some("session"), Some(i)) => sessions.push(i.parse().unwrap()),
        (Some("ack"), Some("metadata"), Some(i)) => metadata.push(i.parse().unwrap()),
        _ => {}
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let mut sessions = Vec::new();
    let mut metadata = Vec::new();
    while sessions.len() < ACKS_BEFORE_KILL {
        let line = lines
            .next()
            .expect("child exited before writing enough records")
            .unwrap();
        record_ack(&line, &mut sessions, &mut metadata);
    }
    // Child::kill is SIGKILL on Unix: no destructors, no flush, no checkpoint.
    child.kill().unwrap();
    // Acknowledgements already in the pipe were printed after their write returned: they count.
    for line in lines {
        let Ok(line) = line else { break };
        record_ack(&line, &mut sessions, &mut metadata);
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    assert!(
        path.with_extension("db-wal").exists(),
        "the writer died with a WAL not checkpointed"
    );

    println!(
        "child killed after {} acknowledged sessions and {} metadata records",
        sessions.len(),
        metadata.len()
    );
    let store = SqliteStore::open(&path).unwrap();
    for &i in &sessions {
        assert_eq!(
            store.get_session(&format!("s{i:06}")).unwrap(),
            Some(record(i)),
            "acknowledged session {i} lost (acked {} sessions)",
            sessions.len()
        );
    }
    for &i in &metadata {
        assert_eq!(
            store.get_metadata(&format!("contact-{i}")).unwrap(),
            Some(json!({ "i": i })),
            "acknowledged metadata {i} lost"
        );
    }
    let listed = store.list_sessions("crash-bot", 0, usize::MAX).unwrap();
    assert!(listed.len() >= sessions.len());
    // At most the one write in flight at the kill may be there without an acknowledgement.
    assert!(listed.len() <= sessions.len() + 1);
}
