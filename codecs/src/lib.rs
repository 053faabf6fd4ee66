//! voxgate-codecs: the pure audio layer of voxgate (no I/O, no actix, no threads).
#![warn(unreachable_pub, missing_docs)]

pub mod error;
pub mod frame;
pub mod g711;
pub mod g722;
pub mod jitter;
pub mod l16;
pub mod opus;
pub mod resample;
pub mod rfc4733;

pub use error::{CodecError, Result};
pub use frame::{AudioFormat, ByteOrder, EncodedFrame, PcmFrame, SampleRate};
