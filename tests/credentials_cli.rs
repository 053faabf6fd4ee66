//! `voxgate credentials add | list | revoke` as an operator runs them: against the store the
//! configuration names, the secret printed once and never listed, errors with a non-zero exit.

mod common;

use common::{voxgate_cli, DEFAULT_TOML};
use voxgate_engine::store::{SqliteStore, Store as _};

#[test]
fn add_list_revoke_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("node.toml"), DEFAULT_TOML).unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["credentials"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "node.toml"]);
        let out = voxgate_cli(dir.path(), &all);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, added, _) = run(&["add", "talkdesk-prod"]);
    assert_eq!(code, Some(0));
    let field = |key: &str| {
        added
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap()
            .trim()
            .to_owned()
    };
    let (id, secret) = (field("client_id:"), field("client_secret:"));
    assert!(id.starts_with("vgc_"));
    assert_eq!(secret.len(), 64);
    let (_, second, _) = run(&["add", "talkdesk-test"]);
    assert!(second.contains("client_id: vgc_"));

    // The store named by the config (voxgate.db in the working directory) verifies the secret.
    let store = SqliteStore::open(dir.path().join("voxgate.db")).unwrap();
    assert!(store.verify_credential(&id, &secret).unwrap());

    let (code, listed, _) = run(&["list"]);
    assert_eq!(code, Some(0));
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert_eq!(
        (rows[0][0], rows[0][1], rows[0][3]),
        (id.as_str(), "talkdesk-prod", "-")
    );
    assert_eq!(rows[1][1], "talkdesk-test");
    assert!(!listed.contains(&secret), "the secret must never be listed");

    let (code, revoked, _) = run(&["revoke", &id]);
    assert_eq!(code, Some(0));
    assert!(revoked.contains(&id));
    assert!(!store.verify_credential(&id, &secret).unwrap());
    let (_, listed, _) = run(&["list"]);
    let row = listed.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(row.ends_with('Z'), "revocation time expected: {row}");

    let (code, _, err) = run(&["revoke", "vgc_unknown"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no credential with id `vgc_unknown`"), "{err}");
    let (code, _, err) = run(&["add", " "]);
    assert_eq!(code, Some(1));
    assert!(err.contains("empty credential name"), "{err}");
}
