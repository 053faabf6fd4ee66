//! `udp_echo`: the bare UDP echo the node's media path is measured against (issue 11).
//!
//! One blocking socket, one buffer, `recv_from` then `send_to` back to the sender: the least a
//! program can do per RTP packet in user space, so its CPU per packet is the floor for the
//! node's. It prints the address it listens on (`listening udp=ADDR`) and runs until killed;
//! `voxgate storm --echo-target ADDR --echo-pid PID` mirrors every RTP packet to it and reports
//! its CPU per packet next to the node's.
//!
//! `udp_echo [BIND_ADDR]` (default `127.0.0.1:0`).

use std::io::Write;
use std::net::UdpSocket;
use std::process::ExitCode;

fn main() -> ExitCode {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let socket = match UdpSocket::bind(&bind) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("udp_echo: bind {bind}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match socket.local_addr() {
        Ok(addr) => println!("listening udp={addr}"),
        Err(e) => {
            eprintln!("udp_echo: {e}");
            return ExitCode::FAILURE;
        }
    }
    // The reader of our stdout (a script waiting for the address) needs the line now.
    let _ = std::io::stdout().flush();
    let mut buf = [0u8; 2048];
    loop {
        // Errors concern one datagram (ICMP feedback from a peer gone away): skip it.
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let _ = socket.send_to(&buf[..n], from);
    }
}
