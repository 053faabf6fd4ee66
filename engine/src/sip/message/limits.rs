//! Resource limits the framing pass enforces before it does any work on a message.

/// Upper bounds on what the parser accepts from the network. Each limit is checked before the
/// work it protects is done; exceeding one is a [`super::ParseErrorKind`] that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message (datagram or stream frame), start line to end of body.
    pub max_message_bytes: usize,
    /// Most header fields (after unfolding) one message may carry.
    pub max_headers: usize,
    /// Longest physical line, and longest header value after unfolding.
    pub max_line_len: usize,
    /// Largest body (Content-Length, or the rest of a datagram without one).
    pub max_body_bytes: usize,
}

impl Limits {
    /// The defaults: 64 KiB messages, 128 headers, 8 KiB lines, 64 KiB bodies.
    pub const DEFAULT: Limits = Limits {
        max_message_bytes: 64 * 1024,
        max_headers: 128,
        max_line_len: 8 * 1024,
        max_body_bytes: 64 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
