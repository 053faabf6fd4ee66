//! voxgate-codecs: the pure audio layer of voxgate (no I/O, no actix, no threads).
//!
//! Everything works on 20 ms mono frames and allocates only at construction.
//!
//! Notable types and modules:
//! - [`Transcoder`]: one direction of frame conversion between any two [`AudioFormat`]s
//!   (PCMU/8k, PCMA/8k, L16/8k, L16/16k, Opus/48k, G.722/16k); owns codec and resampler state.
//! - [`PcmFrame`], [`EncodedFrame`]: fixed-size inline frames for the actor messages.
//! - [`g711`]: µ-law/A-law, table driven, bit-exact with SoX.
//! - [`l16`]: big-endian (RTP) and little-endian (WebSocket) linear PCM.
//! - [`g722`]: G.722 64 kbit/s, own allocation-free implementation.
//! - [`opus`]: [`opus::OpusEncoder`] / [`opus::OpusDecoder`] with FEC, DTX and PLC.
//! - [`resample::Resampler`]: 8k ↔ 16k ↔ 48k on exact frames: 8k ↔ 16k by our half-band FIR
//!   ([`halfband`], 2 ms delay), the 48 kHz pairs by rubato `Fft` (10 ms).
//! - [`rfc4733`]: telephone-event payloads, [`rfc4733::DtmfReceiver`] and
//!   [`rfc4733::DigitPackets`].
//! - [`jitter::JitterBuffer`]: sans-IO adaptive playout buffer.
//! - [`wav`]: 16-bit mono WAV files (8/16 kHz) read from bytes, for ringback and hold audio.
//! - [`CodecError`]: the one error type.
#![warn(unreachable_pub, missing_docs)]

pub mod error;
pub mod frame;
pub mod g711;
pub mod g722;
pub mod halfband;
pub mod jitter;
pub mod l16;
pub mod opus;
pub mod resample;
pub mod rfc4733;
pub mod transcoder;
pub mod wav;

pub use error::{CodecError, Result};
pub use frame::{AudioFormat, ByteOrder, EncodedFrame, PcmFrame, SampleRate};
pub use transcoder::{Transcoder, TranscoderConfig};
