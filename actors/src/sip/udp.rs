//! The UDP receive loop: one datagram, one SIP message, straight to the endpoint.

use std::sync::Arc;

use actix::Addr;
use tokio::net::UdpSocket;

use super::endpoint::{Inbound, SipEndpoint};
use super::transport::{Kind, Origin};

/// Largest datagram read; anything longer is truncated by the kernel and then fails framing.
const MAX_DATAGRAM: usize = 65_535;

/// Reads datagrams until the socket fails, handing each to the endpoint. Under overload the
/// endpoint's mailbox fills and datagrams are dropped (and counted), as the network would.
pub(crate) async fn receive_loop(socket: Arc<UdpSocket>, endpoint: Addr<SipEndpoint>) {
    let local = match socket.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "UDP socket has no local address");
            return;
        }
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, source) = match socket.recv_from(&mut buf).await {
            Ok(v) => v,
            // ICMP port unreachable from an earlier send shows up here on Linux: not fatal.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
            Err(e) => {
                tracing::error!(error = %e, "UDP receive failed; SIP over UDP stops");
                return;
            }
        };
        if buf[..n]
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
        {
            continue; // keep-alive (RFC 5626 CRLF) or padding
        }
        let origin = Origin {
            kind: Kind::Udp,
            source,
            local,
            connection: None,
        };
        if endpoint
            .try_send(Inbound {
                origin,
                bytes: buf[..n].to_vec(),
            })
            .is_err()
        {
            metrics::counter!(crate::metrics::SIP_REJECTED, "status" => "dropped").increment(1);
        }
    }
}
