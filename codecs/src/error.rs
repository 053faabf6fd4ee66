//! The crate's single error type.

use thiserror::Error;

/// Everything that can go wrong in the audio layer; all of it is bad input or bad configuration.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// An input had a length the operation cannot take.
    #[error("bad input length {got} for {what} (expected {expected})")]
    BadLength {
        /// What was being processed.
        what: &'static str,
        /// The length received.
        got: usize,
        /// The length (or limit) expected, in words.
        expected: &'static str,
    },
    /// An output buffer was too small for the result.
    #[error("output buffer too small: need {need}, have {have}")]
    OutputTooSmall {
        /// Required length.
        need: usize,
        /// Provided length.
        have: usize,
    },
    /// libopus rejected a call (bad packet, bad argument, ...).
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    /// The resampler could not be built.
    #[error("resampler construction: {0}")]
    ResamplerConstruction(#[from] rubato::ResamplerConstructionError),
    /// The resampler failed while processing.
    #[error("resampling: {0}")]
    Resample(#[from] rubato::ResampleError),
    /// A sample rate or rate pair this crate does not handle.
    #[error("unsupported sample rate conversion {from} Hz -> {to} Hz")]
    UnsupportedRate {
        /// Input rate in Hz.
        from: u32,
        /// Output rate in Hz.
        to: u32,
    },
    /// An RFC 4733 telephone-event payload was malformed.
    #[error("bad telephone-event payload: {0}")]
    BadTelephoneEvent(&'static str),
    /// A configuration value was out of range.
    #[error("bad configuration: {0}")]
    BadConfig(&'static str),
    /// A WAV file that cannot be played (format, channels, rate, damaged).
    #[error("WAV: {0}")]
    BadWav(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, CodecError>;
