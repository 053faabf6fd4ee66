//! RTP port allocation: an even RTP port and the odd RTCP port above it, taken from the
//! configured range by a node-wide cursor, skipping pairs that are in use (by another process
//! or another node sharing the range).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::UdpSocket;
use voxgate_engine::config::PortRange;

/// A bound RTP/RTCP socket pair.
#[derive(Debug)]
pub struct RtpPair {
    /// The RTP socket (even port).
    pub rtp: UdpSocket,
    /// The RTCP socket (RTP port + 1).
    pub rtcp: UdpSocket,
}

impl RtpPair {
    /// The RTP port.
    pub fn port(&self) -> u16 {
        self.rtp.local_addr().map(|a| a.port()).unwrap_or(0)
    }
}

/// Where the next search starts; spread over the range so neighbouring calls rarely collide.
static CURSOR: AtomicU32 = AtomicU32::new(0);

/// Binds the next free even/odd pair in `range` on `ip`, trying every pair once.
pub fn bind_rtp_pair(range: PortRange, ip: IpAddr) -> std::io::Result<RtpPair> {
    let first_even = range.lo + (range.lo & 1);
    let pairs = u32::from(range.hi.saturating_sub(first_even) + 1) / 2;
    if pairs == 0 {
        return Err(std::io::Error::other(format!(
            "RTP range {range} holds no port pair"
        )));
    }
    let start = CURSOR.fetch_add(1, Ordering::Relaxed);
    for i in 0..pairs {
        // pairs <= 32768 and the port stays within range.hi, so the cast cannot truncate.
        let port = first_even + (((start + i) % pairs) * 2) as u16;
        let Ok(rtp) = std::net::UdpSocket::bind(SocketAddr::new(ip, port)) else {
            continue;
        };
        let Ok(rtcp) = std::net::UdpSocket::bind(SocketAddr::new(ip, port + 1)) else {
            continue;
        };
        rtp.set_nonblocking(true)?;
        rtcp.set_nonblocking(true)?;
        return Ok(RtpPair {
            rtp: UdpSocket::from_std(rtp)?,
            rtcp: UdpSocket::from_std(rtcp)?,
        });
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no free RTP port pair in {range}"),
    ))
}
