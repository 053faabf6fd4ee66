//! `config/systemd/voxgate.service` is a unit systemd accepts as it stands (with the binary
//! path pointed at this build), and its stop timeout covers the default drain deadline, so
//! `systemctl stop` drains instead of killing calls in progress.

use std::path::Path;
use std::process::Command;

fn unit_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/systemd/voxgate.service");
    std::fs::read_to_string(path).expect("config/systemd/voxgate.service")
}

fn value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{key}= missing from the unit"))
}

#[test]
fn the_stop_timeout_outlasts_the_drain_deadline() {
    let unit = unit_text();
    let stop: u64 = value(&unit, "TimeoutStopSec").parse().unwrap();
    let drain = voxgate_engine::config::Config::embedded_default()
        .node
        .drain_deadline_secs;
    assert!(
        stop > drain,
        "TimeoutStopSec={stop} ≤ drain_deadline_secs={drain}"
    );
    assert_eq!(value(&unit, "KillSignal"), "SIGTERM");
}

#[test]
fn systemd_accepts_the_unit() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_text().replace("/usr/local/bin/voxgate", env!("CARGO_BIN_EXE_voxgate"));
    let path = dir.path().join("voxgate.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );
}
