//! A real SIP user agent, baresip (Debian `baresip-core`), calls the node: the call is
//! established, audio flows both ways (baresip sends a 440 Hz sine and the demo bot's RTP
//! reaches it), baresip hangs up, and the session record shows it.

mod common;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, session_records, wait_until, Node};

#[test]
fn baresip_calls_talks_and_hangs_up() {
    let node = Node::start_default();
    let dir = tempfile::tempdir().unwrap();
    let sip_port = free_port();
    let rtp = free_port() & !1;
    let config = format!(
        "poll_method epoll\n\
         sip_listen 127.0.0.1:{sip_port}\n\
         module_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule ausine.so\nmodule aufile.so\n\
         module_app account.so\nmodule_app menu.so\n\
         audio_source ausine,440\nausrc_srate 48000\nausrc_channels 2\n\
         audio_alert aufile,/dev/null\n\
         rtp_ports {rtp}-{}\n",
        rtp + 40
    );
    std::fs::write(dir.path().join("config"), config).unwrap();
    std::fs::write(
        dir.path().join("accounts"),
        "<sip:tester@127.0.0.1>;regint=0\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("contacts"), "").unwrap();

    // `-t 4`: baresip hangs up and quits after 4 s.
    let out = Command::new("baresip")
        .arg("-f")
        .arg(dir.path())
        .arg("-e")
        .arg(format!("/dial sip:+15550100@{}", node.sip))
        .args(["-t", "4"])
        .stdin(Stdio::null())
        .output()
        .expect("run baresip (Debian package baresip-core)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Call established"), "baresip output:\n{text}");
    // baresip says so when the first RTP packet of the echo arrives.
    assert!(
        text.contains("incoming rtp for 'audio' established"),
        "no audio came back:\n{text}"
    );

    assert!(
        wait_until(Duration::from_secs(10), || !session_records(&node)
            .is_empty()),
        "no session record:\n{}",
        node.log()
    );
    let record = &session_records(&node)[0];
    assert_eq!(record.end_reason, "CallerHangUp");
    assert_eq!(record.did, "+15550100");
    assert_eq!(record.codec.as_deref(), Some("PCMU/8000"));
}
