//! SIP over TCP: the accept loop with a connection cap, the connections the node opens itself
//! (calls it places over TCP: [`connect`]), and per connection a reader that cuts messages out
//! of the stream by Content-Length and a writer fed by a bounded queue.

use std::net::SocketAddr;
use std::sync::Arc;

use actix::Addr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use voxgate_engine::sip::message::{FrameResult, Framer, Limits};

use tokio_rustls::TlsConnector;

use super::endpoint::{Inbound, SipEndpoint};
use super::tls::TlsDial;
use super::transport::{Certified, Kind, Origin, Outbound};

/// Messages queued for one connection's writer before further ones are dropped.
const WRITE_QUEUE: usize = 256;

/// Accepts connections until the listener fails; at the cap, new connections are closed at
/// once (and counted) instead of being left to pile up.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    endpoint: Addr<SipEndpoint>,
    outbound: Outbound,
    max_connections: usize,
    max_message_bytes: usize,
) {
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    let framer = stream_framer(max_message_bytes);
    loop {
        let (stream, peer, permit) = accept_capped(&listener, &permits).await;
        let endpoint = endpoint.clone();
        let outbound = outbound.clone();
        actix::spawn(async move {
            serve_connection(stream, peer, endpoint, outbound, framer).await;
            drop(permit);
        });
    }
}

/// Opens a connection to `peer` for a call the node places over TCP, or over TLS when `tls`
/// says how (the handshake checks the peer's certificate), and serves it as an accepted one
/// (its requests and responses reach the endpoint, sends to `peer` use it); returns once it is
/// registered with `outbound`.
pub(crate) async fn connect(
    peer: SocketAddr,
    tls: Option<TlsDial>,
    endpoint: Addr<SipEndpoint>,
    outbound: Outbound,
    max_message_bytes: usize,
) -> Result<(), String> {
    let stream = actix_rt::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer))
        .await
        .map_err(|_| format!("TCP connect to {peer}: no answer"))?
        .map_err(|e| format!("TCP connect to {peer}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let local = stream
        .local_addr()
        .map_err(|e| format!("TCP connection to {peer}: {e}"))?;
    let framer = stream_framer(max_message_bytes);
    let link = |kind| Link {
        kind,
        peer,
        local,
        certified: Certified::default(),
    };
    let kind = match tls {
        None => {
            actix::spawn(serve_stream(
                stream,
                link(Kind::Tcp),
                endpoint,
                outbound.clone(),
                framer,
            ));
            Kind::Tcp
        }
        Some(dial) => {
            let handshake = TlsConnector::from(dial.config).connect(dial.server_name, stream);
            let secure = actix_rt::time::timeout(CONNECT_TIMEOUT, handshake)
                .await
                .map_err(|_| format!("TLS handshake with {peer}: no answer"))?
                .map_err(|e| format!("TLS handshake with {peer}: {e}"))?;
            actix::spawn(serve_stream(
                secure,
                link(Kind::Tls),
                endpoint,
                outbound.clone(),
                framer,
            ));
            Kind::Tls
        }
    };
    // The connection registers itself before its first read; the task runs on this arbiter,
    // so a few yields let it get there.
    for _ in 0..64 {
        if outbound.has_stream(peer, kind) {
            return Ok(());
        }
        actix_rt::task::yield_now().await;
    }
    Err(format!("connection to {peer} closed at once"))
}

/// How long opening a connection toward a peer may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The framer of SIP streams (TCP and TLS) with the node's message size limit.
pub(crate) fn stream_framer(max_message_bytes: usize) -> Framer {
    Framer::new(Limits {
        max_message_bytes,
        ..Limits::DEFAULT
    })
}

/// The next connection that gets a permit; at the cap, new connections are closed at once
/// (and counted) instead of being left to pile up, and accept errors (out of file descriptors
/// and the like) are waited out while the live connections go on.
pub(crate) async fn accept_capped(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "SIP stream accept failed");
                actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        match Arc::clone(permits).try_acquire_owned() {
            Ok(permit) => return (stream, peer, permit),
            Err(_) => {
                metrics::counter!(crate::metrics::TCP_REFUSED).increment(1);
                drop(stream);
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    endpoint: Addr<SipEndpoint>,
    outbound: Outbound,
    framer: Framer,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let link = Link {
        kind: Kind::Tcp,
        peer,
        local,
        certified: Certified::default(),
    };
    serve_stream(stream, link, endpoint, outbound, framer).await;
}

/// What a stream connection is: its transport, both ends, and (TLS) the trunks its client
/// certificate satisfied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub kind: Kind,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub certified: Certified,
}

/// Serves one SIP stream connection (TCP, or TLS once its handshake is done): frames the
/// messages it reads for the endpoint and writes what the endpoint sends on it.
pub(crate) async fn serve_stream<S>(
    stream: S,
    link: Link,
    endpoint: Addr<SipEndpoint>,
    outbound: Outbound,
    framer: Framer,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    let Link {
        kind,
        peer,
        local,
        certified,
    } = link;
    let id = outbound.add_tcp(peer, kind, tx.clone(), certified);
    let write_task = actix::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });

    let origin = Origin {
        kind,
        source: peer,
        local,
        connection: Some(id),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match framer.frame(&buf) {
                FrameResult::Incomplete => break,
                FrameResult::KeepAlive(len) => {
                    if len == 4 {
                        let _ = tx.try_send(b"\r\n".to_vec()); // RFC 5626 pong
                    }
                    buf.drain(..len);
                }
                FrameResult::Complete(len) => {
                    let bytes: Vec<u8> = buf.drain(..len).collect();
                    // Back-pressure on the stream rather than dropping: TCP promised delivery.
                    if endpoint.send(Inbound { origin, bytes }).await.is_err() {
                        break 'read;
                    }
                }
                FrameResult::Error(error) => {
                    tracing::debug!(%peer, ?error, "unframeable SIP stream; closing");
                    metrics::counter!(crate::metrics::SIP_REJECTED, "status" => "closed")
                        .increment(1);
                    break 'read;
                }
            }
        }
    }
    outbound.remove_tcp(id);
    drop(tx);
    let _ = write_task.await;
}
