//! Media direction attributes (RFC 4566 §6, RFC 3264 §6.1 and §8.4).

use std::fmt;

/// `a=sendrecv` / `a=sendonly` / `a=recvonly` / `a=inactive`, seen from the SDP's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Send and receive (the default when no attribute is present).
    #[default]
    SendRecv,
    /// Send only (the author puts the peer on hold).
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither send nor receive.
    Inactive,
}

impl Direction {
    /// Parses an attribute name (`sendrecv`, ...), case-insensitively.
    pub fn from_attribute(name: &str) -> Option<Self> {
        [
            Self::SendRecv,
            Self::SendOnly,
            Self::RecvOnly,
            Self::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(name))
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction an answerer uses for a stream offered with `self` (RFC 3264 §6.1).
    pub fn reversed(self) -> Self {
        match self {
            Self::SendRecv => Self::SendRecv,
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            Self::Inactive => Self::Inactive,
        }
    }

    /// Whether the author sends media.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the author receives media.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// The same direction with receiving removed: what a legacy `c=0.0.0.0` hold means.
    pub fn without_receive(self) -> Self {
        match self {
            Self::SendRecv | Self::SendOnly => Self::SendOnly,
            Self::RecvOnly | Self::Inactive => Self::Inactive,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_mirrors_offer() {
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.reversed(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
        assert_eq!(Direction::SendRecv.reversed(), Direction::SendRecv);
    }

    #[test]
    fn parses_case_insensitively() {
        assert_eq!(
            Direction::from_attribute("SendOnly"),
            Some(Direction::SendOnly)
        );
        assert_eq!(Direction::from_attribute("rtcp-mux"), None);
    }

    #[test]
    fn legacy_hold_removes_receive() {
        assert_eq!(Direction::SendRecv.without_receive(), Direction::SendOnly);
        assert_eq!(Direction::RecvOnly.without_receive(), Direction::Inactive);
    }
}
