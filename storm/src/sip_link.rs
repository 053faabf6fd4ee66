//! The storm's SIP path to its target: one UDP socket, or one TCP connection that carries every
//! call of the storm, as a contact center's trunk does. On TCP, messages are cut out of the
//! byte stream by their Content-Length (RFC 3261 §18.3, the engine's [`Framer`]), a CRLFCRLF
//! keep-alive ping is answered with a CRLF pong (RFC 5626 §3.5.1), and what the kernel does not
//! take at once waits in an output buffer until the socket is writable again: nothing is
//! dropped, and no request is retransmitted (RFC 3261 §17.1.1.2: Timer A is for unreliable
//! transports only).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::time::Duration;

use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};
use voxgate_engine::sip::message::{frame_stream, FrameResult};

use crate::StormError;

/// How long connecting to the target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read from the stream at a time.
const READ_CHUNK: usize = 16 * 1024;

/// The SIP transport a storm uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// One UDP socket; requests are retransmitted on T1/T2.
    #[default]
    Udp,
    /// One TCP connection for all calls.
    Tcp,
}

impl Transport {
    /// The name in a Via header.
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// The `transport` URI parameter a Contact needs (none for UDP, the default).
    pub fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        }
    }
}

/// The SIP socket or connection of a storm.
pub enum SipLink {
    /// Datagrams to `target`.
    Udp {
        /// The socket.
        socket: UdpSocket,
        /// The node or proxy.
        target: SocketAddr,
    },
    /// A stream to the target.
    Tcp(TcpLink),
}

/// One TCP connection with its input and output buffers.
pub struct TcpLink {
    stream: TcpStream,
    /// Bytes read and not yet handed out; the next message starts at `start`.
    input: Vec<u8>,
    start: usize,
    /// Bytes the kernel has not taken yet.
    output: Vec<u8>,
    token: Token,
    /// Whether WRITABLE is registered (only while `output` has bytes).
    wants_write: bool,
}

impl SipLink {
    /// Connects to `target` over TCP from `local_ip`.
    pub fn connect_tcp(target: SocketAddr) -> Result<SipLink, StormError> {
        let stream = StdTcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(SipLink::Tcp(TcpLink {
            stream: TcpStream::from_std(stream),
            input: Vec::with_capacity(2 * READ_CHUNK),
            start: 0,
            output: Vec::new(),
            token: Token(0),
            wants_write: false,
        }))
    }

    /// The transport.
    pub fn transport(&self) -> Transport {
        match self {
            SipLink::Udp { .. } => Transport::Udp,
            SipLink::Tcp(_) => Transport::Tcp,
        }
    }

    /// The local address requests name in Via and Contact.
    pub fn local_addr(&self) -> Result<SocketAddr, StormError> {
        Ok(match self {
            SipLink::Udp { socket, .. } => socket.local_addr()?,
            SipLink::Tcp(link) => link.stream.local_addr()?,
        })
    }

    /// Registers for readable events under `token`.
    pub fn register(&mut self, registry: &Registry, token: Token) -> Result<(), StormError> {
        match self {
            SipLink::Udp { socket, .. } => registry.register(socket, token, Interest::READABLE)?,
            SipLink::Tcp(link) => {
                link.token = token;
                registry.register(&mut link.stream, token, Interest::READABLE)?;
            }
        }
        Ok(())
    }

    /// Sends one message. On UDP a full socket buffer or an ICMP refusal loses the datagram
    /// as the network would (retransmissions cover it); on TCP what is not taken now is sent
    /// when the socket is writable again.
    pub fn send(&mut self, bytes: &[u8], registry: &Registry) -> Result<(), StormError> {
        match self {
            SipLink::Udp { socket, target } => match socket.send_to(bytes, *target) {
                Ok(_) => Ok(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::ConnectionRefused
                    ) =>
                {
                    Ok(())
                }
                Err(e) => Err(e.into()),
            },
            SipLink::Tcp(link) => {
                link.output.extend_from_slice(bytes);
                link.flush(registry)
            }
        }
    }

    /// Sends what waits in the output buffer (nothing to do on UDP).
    pub fn flush(&mut self, registry: &Registry) -> Result<(), StormError> {
        match self {
            SipLink::Udp { .. } => Ok(()),
            SipLink::Tcp(link) => link.flush(registry),
        }
    }

    /// Copies the next whole message received into `buf` and returns its length; `None` once
    /// nothing more is waiting. `buf` must hold a message of the default size limit.
    pub fn next_message(
        &mut self,
        buf: &mut [u8],
        registry: &Registry,
    ) -> Result<Option<usize>, StormError> {
        match self {
            SipLink::Udp { socket, .. } => loop {
                match socket.recv_from(buf) {
                    Ok((n, _)) => return Ok(Some(n)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(e.into()),
                }
            },
            SipLink::Tcp(link) => link.next_message(buf, registry),
        }
    }
}

impl TcpLink {
    fn flush(&mut self, registry: &Registry) -> Result<(), StormError> {
        let mut sent = 0;
        while sent < self.output.len() {
            match self.stream.write(&self.output[sent..]) {
                Ok(0) => return Err(closed()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.output.drain(..sent);
        let wants_write = !self.output.is_empty();
        if wants_write != self.wants_write {
            let interest = if wants_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(&mut self.stream, self.token, interest)?;
            self.wants_write = wants_write;
        }
        Ok(())
    }

    fn next_message(
        &mut self,
        buf: &mut [u8],
        registry: &Registry,
    ) -> Result<Option<usize>, StormError> {
        loop {
            match frame_stream(&self.input[self.start..]) {
                FrameResult::Complete(len) => {
                    let Some(out) = buf.get_mut(..len) else {
                        return Err(StormError::Options("SIP message larger than the buffer"));
                    };
                    out.copy_from_slice(&self.input[self.start..self.start + len]);
                    self.start += len;
                    return Ok(Some(len));
                }
                FrameResult::KeepAlive(len) => {
                    if len == 4 {
                        self.output.extend_from_slice(b"\r\n");
                        self.flush(registry)?;
                    }
                    self.start += len;
                }
                FrameResult::Error(kind) => {
                    return Err(std::io::Error::new(
                        ErrorKind::InvalidData,
                        format!("the target's SIP stream cannot be framed: {kind:?}"),
                    )
                    .into())
                }
                FrameResult::Incomplete => {
                    if !self.fill()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Reads what the socket has; `false` when it had nothing (edge-triggered readiness
    /// needs the read to go on until it would block).
    fn fill(&mut self) -> Result<bool, StormError> {
        // Drop what was handed out before reading more, so the buffer does not grow.
        if self.start > 0 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        let have = self.input.len();
        self.input.resize(have + READ_CHUNK, 0);
        let read = loop {
            match self.stream.read(&mut self.input[have..]) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        match read {
            Ok(0) => {
                self.input.truncate(have);
                Err(closed())
            }
            Ok(n) => {
                self.input.truncate(have + n);
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.input.truncate(have);
                Ok(false)
            }
            Err(e) => {
                self.input.truncate(have);
                Err(e.into())
            }
        }
    }
}

fn closed() -> StormError {
    std::io::Error::new(
        ErrorKind::ConnectionAborted,
        "the target closed the SIP connection",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::Poll;
    use std::net::TcpListener;

    #[test]
    fn tcp_messages_are_cut_by_content_length_and_pings_answered() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut link = SipLink::connect_tcp(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let poll = Poll::new().unwrap();
        link.register(poll.registry(), Token(7)).unwrap();
        assert_eq!(link.transport(), Transport::Tcp);

        // Two messages and a ping, the second message split over two writes.
        let first = b"SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\n";
        let second = b"BYE sip:a@b SIP/2.0\r\nContent-Length: 4\r\n\r\nbody";
        peer.write_all(first).unwrap();
        peer.write_all(b"\r\n\r\n").unwrap();
        peer.write_all(&second[..10]).unwrap();
        let mut buf = vec![0u8; 65_536];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.len() < 2 && std::time::Instant::now() < deadline {
            if let Some(n) = link.next_message(&mut buf, poll.registry()).unwrap() {
                got.push(buf[..n].to_vec());
            } else if got.len() == 1 {
                peer.write_all(&second[10..]).unwrap();
            }
        }
        assert_eq!(got, [first.to_vec(), second.to_vec()]);

        // The pong came back, then what we send.
        link.send(b"OPTIONS", poll.registry()).unwrap();
        let mut back = [0u8; 9];
        peer.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"\r\nOPTIONS");

        // The peer closing is an error, not a silent stall.
        drop(peer);
        let closed = loop {
            match link.next_message(&mut buf, poll.registry()) {
                Ok(None) => assert!(std::time::Instant::now() < deadline, "no EOF seen"),
                other => break other,
            }
        };
        assert!(closed.is_err());
    }
}
