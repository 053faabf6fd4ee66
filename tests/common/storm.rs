//! `voxgate storm` run by the tests: the command with `--json --quiet`, its report parsed.

use std::process::{Command, Output};

use serde_json::Value;

/// Runs `voxgate storm ARGS --json --quiet` and returns its exit and its JSON report.
pub fn run(args: &[&str]) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_voxgate"))
        .arg("storm")
        .args(args)
        .args(["--json", "--quiet"])
        .output()
        .expect("run voxgate storm");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "storm printed no JSON report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, report)
}

/// Runs `voxgate storm FIRST --target TARGET EXTRA --json --quiet`.
pub fn run_at(target: std::net::SocketAddr, first: &[&str], extra: &[&str]) -> (Output, Value) {
    let target = target.to_string();
    let mut args = first.to_vec();
    args.extend(["--target", target.as_str()]);
    args.extend_from_slice(extra);
    run(&args)
}

/// A small storm: 20 calls at 20/s, each held 2 s, 5 of them (a quarter) pressing `0`.
pub const TWENTY_CALLS_FIVE_ESCALATING: [&str; 10] = [
    "--calls",
    "20",
    "--rate",
    "20",
    "--total",
    "20",
    "--hold",
    "2s",
    "--dtmf-escalate",
    "0.25",
];

/// The number at `pointer` in a report.
pub fn n(report: &Value, pointer: &str) -> u64 {
    report
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} missing in {report:#}"))
}

/// Asserts that a storm of `calls` calls, `escalated` of them escalating, went right in
/// every respect, with at least `frames_each` of each call's own frames echoed back on average
/// and none of another call's.
pub fn assert_all_went_right(
    out: &Output,
    report: &Value,
    calls: u64,
    escalated: u64,
    frames_each: u64,
) {
    assert!(out.status.success(), "storm failed: {report:#}");
    assert_eq!(n(report, "/attempted"), calls);
    assert_eq!(n(report, "/answered"), calls);
    assert_eq!(n(report, "/succeeded"), calls, "{report:#}");
    assert_eq!(n(report, "/failed"), 0, "{report:#}");
    assert_eq!(n(report, "/escalated"), escalated);
    assert_eq!(n(report, "/hung_up"), calls - escalated);
    let echoed = n(report, "/rtp/echoed");
    assert!(
        echoed >= calls * frames_each,
        "only {echoed} frames echoed: {report:#}"
    );
    assert_eq!(n(report, "/rtp/foreign"), 0, "audio leaked between calls");
    let p99 = report["setup_ms"]["p99"].as_f64().expect("setup p99");
    assert!(p99 > 0.0 && p99 < 5_000.0, "setup p99 {p99} ms");
    assert!(report["media_rtt_ms"]["p50"].as_f64().expect("rtt p50") > 0.0);
}
