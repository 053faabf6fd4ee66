//! sipvicious (`svmap`, `svwar`, `svcrack`, from PyPI; `scripts/install-deps.sh` installs it)
//! attacks a node whose trunk demands digest credentials, while a SIPp caller holds a call.
//! The attackers speak from their own loopback addresses (127.0.0.3…), the caller from
//! 127.0.0.1. Checked: the concurrent call completes; no extension is reported; the cracker,
//! whose dictionary holds the right password last, is throttled before it gets there.

mod common;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{free_port, wait_until, Node, Sipp, DEFAULT_TOML};

/// A trunk with digest auth (MD5, as SIPp and sipvicious speak it) that routes one DID.
/// `scanners` replaces the list of scanner User-Agents (`None`: the default list).
fn config(scanners: Option<&str>) -> String {
    let mut c = DEFAULT_TOML
        .replace("did = \"*\"", "did = \"+15550100\"")
        .replace(
            "# DID routes: the Request-URI",
            "[trunks.auth]\nalgorithms = [\"MD5\"]\n[trunks.auth.users]\n\"100\" = \"s3cret\"\n\n\
             # DID routes: the Request-URI",
        )
        .replace("exempt = [\"127.0.0.0/8\", \"::1/128\"]", "exempt = []");
    if let Some(list) = scanners {
        let start = c
            .find("scanner_user_agents = [")
            .expect("scanner list in default.toml");
        let end = start + c[start..].find('\n').expect("end of line");
        c.replace_range(start..end, &format!("scanner_user_agents = {list}"));
    }
    c
}

fn have_sipvicious() -> bool {
    Command::new("sipvicious_svmap")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs one sipvicious tool from `source` (a loopback address) against the node.
fn sipvicious(tool: &str, node: &Node, source: &str, args: &[&str], dir: &Path) -> Output {
    let port = node.sip.port().to_string();
    let local = free_port().to_string();
    Command::new(tool)
        .args(["-b", source, "-P", &local, "-p", &port])
        .args(args)
        .arg("127.0.0.1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A SIPp caller that authenticates and holds its call for `hold_ms` while the attack runs.
fn held_call(node: &Node, hold_ms: u32) -> (Sipp, std::process::Child) {
    let sipp = Sipp::new("uac_auth_call.xml", node.sip)
        .arg("-au")
        .arg("100")
        .arg("-ap")
        .arg("s3cret")
        .arg("-d")
        .arg(hold_ms.to_string());
    let child = sipp.spawn();
    (sipp, child)
}

#[test]
fn scanners_are_ignored_and_a_concurrent_call_goes_through() {
    if !have_sipvicious() {
        eprintln!("skipped: sipvicious is not installed (scripts/install-deps.sh installs it)");
        return;
    }
    let node = Node::start(&config(None));
    let dir = tempfile::tempdir().unwrap();
    let (_sipp, mut call) = held_call(&node, 4000);

    let map = sipvicious("sipvicious_svmap", &node, "127.0.0.3", &[], dir.path());
    assert!(
        !text(&map).contains("voxgate"),
        "svmap found the node:\n{}",
        text(&map)
    );
    let war = sipvicious(
        "sipvicious_svwar",
        &node,
        "127.0.0.3",
        &["-e", "100-120", "-m", "INVITE", "--force"],
        dir.path(),
    );
    assert!(text(&war).contains("found nothing"), "{}", text(&war));

    assert!(
        call.wait().unwrap().success(),
        "the concurrent SIPp call failed"
    );
    assert!(node.metric("voxgate_sip_requests_screened_total{reason=\"scanner\"}") > 0.0);
    assert_eq!(node.metric("voxgate_sip_auth_total{result=\"ok\"}"), 1.0);
}

#[test]
fn a_disguised_scanner_learns_no_extension_and_the_cracker_is_throttled() {
    if !have_sipvicious() {
        eprintln!("skipped: sipvicious is not installed (scripts/install-deps.sh installs it)");
        return;
    }
    // No scanner list: the node must hold on digest and throttling alone.
    let node = Node::start(&config(Some("[]")));
    let dir = tempfile::tempdir().unwrap();
    let (_sipp, mut call) = held_call(&node, 6000);

    // Every extension gets the same 401: svwar cannot tell them apart.
    let war = sipvicious(
        "sipvicious_svwar",
        &node,
        "127.0.0.3",
        &["-e", "95-105", "-m", "INVITE", "--force"],
        dir.path(),
    );
    assert!(text(&war).contains("found nothing"), "{}", text(&war));

    // 14 wrong passwords, then the right one: throttled before it (after 11).
    let dict = dir.path().join("dict.txt");
    let mut words: Vec<String> = (1..=14).map(|i| format!("guess{i}")).collect();
    words.push("s3cret".into());
    std::fs::write(&dict, words.join("\n")).unwrap();
    let crack = sipvicious(
        "sipvicious_svcrack",
        &node,
        "127.0.0.4",
        &["-u", "100", "-d", dict.to_str().unwrap(), "-m", "INVITE"],
        dir.path(),
    );
    assert!(text(&crack).contains("found nothing"), "{}", text(&crack));
    // The default budget is 10 failures a minute; the 11th tips the source over.
    let failed = node.metric("voxgate_sip_auth_total{result=\"failed\"}");
    assert!(
        (1.0..=11.0).contains(&failed),
        "failed attempts checked: {failed}"
    );
    assert!(node.metric("voxgate_sip_requests_screened_total{reason=\"auth_blocked\"}") > 0.0);

    assert!(
        call.wait().unwrap().success(),
        "the concurrent SIPp call failed"
    );
    assert!(wait_until(Duration::from_secs(5), || {
        node.metric("voxgate_sip_auth_total{result=\"ok\"}") == 1.0
    }));
}
