//! SIP on the wire: UDP, TCP and TLS transports and the endpoint actor that runs the engine's
//! transaction and dialog layers.

pub mod endpoint;
pub mod screen;
pub mod tcp;
pub mod tls;
pub mod transport;
pub mod udp;
