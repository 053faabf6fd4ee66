//! Frame and format types shared with the actors crate: fixed-size, inline, no `Vec` per frame.

use crate::error::{CodecError, Result};

/// Frame duration used everywhere on the media path.
pub const FRAME_MS: u32 = 20;
/// Most samples one 20 ms mono frame can hold (48 kHz).
pub const MAX_FRAME_SAMPLES: usize = 960;
/// Most bytes one encoded frame can hold: 20 ms of L16/16k, the largest format the media path
/// carries between legs (G.711 and G.722 need 160, L16/8k 320; Opus at 20 ms stays under it up
/// to 256 kbit/s). Every frame in flight between two legs is an actor envelope holding one
/// [`EncodedFrame`], so this bound is the frame's memory and copy cost: it was 1,500 bytes
/// (an MTU) and cost ~28 KiB per call in envelopes and ~10 % of the node's CPU in copies
/// (docs/performance.md). Larger payloads are cut or concealed where they enter the path.
pub const MAX_ENCODED_BYTES: usize = 640;

/// The sample rates the media path uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleRate {
    /// 8 kHz narrowband (G.711, L16/8k).
    Hz8000,
    /// 16 kHz wideband (L16/16k, G.722 audio).
    Hz16000,
    /// 48 kHz fullband (Opus).
    Hz48000,
}

impl SampleRate {
    /// Rate in Hz.
    pub const fn hz(self) -> u32 {
        match self {
            SampleRate::Hz8000 => 8000,
            SampleRate::Hz16000 => 16000,
            SampleRate::Hz48000 => 48000,
        }
    }

    /// Samples in one 20 ms mono frame at this rate.
    pub const fn frame_samples(self) -> usize {
        (self.hz() / 50) as usize
    }

    /// The rate for a value in Hz, if it is one of ours.
    pub fn from_hz(hz: u32) -> Result<Self> {
        match hz {
            8000 => Ok(SampleRate::Hz8000),
            16000 => Ok(SampleRate::Hz16000),
            48000 => Ok(SampleRate::Hz48000),
            _ => Err(CodecError::BadConfig(
                "sample rate must be 8000, 16000 or 48000",
            )),
        }
    }
}

/// Byte order of L16 samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Network order, as RTP L16 (RFC 3551) requires.
    BigEndian,
    /// Little-endian, as WebSocket bot streams commonly use.
    LittleEndian,
}

/// An encoded audio format on one side of a [`crate::Transcoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    /// G.711 µ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// Linear 16-bit PCM at the given rate and byte order.
    L16 {
        /// Sample rate (8 or 16 kHz on the media path; 48 kHz is accepted too).
        rate: SampleRate,
        /// Byte order on the wire.
        order: ByteOrder,
    },
    /// Opus, decoded/encoded at 48 kHz mono.
    Opus48k,
    /// G.722 (16 kHz audio, 8 kHz RTP clock), 64 kbit/s.
    G722,
}

impl AudioFormat {
    /// RTP-style L16 (big-endian) at 8 kHz.
    pub const L16_8K: AudioFormat = AudioFormat::L16 {
        rate: SampleRate::Hz8000,
        order: ByteOrder::BigEndian,
    };
    /// RTP-style L16 (big-endian) at 16 kHz.
    pub const L16_16K: AudioFormat = AudioFormat::L16 {
        rate: SampleRate::Hz16000,
        order: ByteOrder::BigEndian,
    };

    /// The PCM rate the codec works at.
    pub const fn pcm_rate(self) -> SampleRate {
        match self {
            AudioFormat::Pcmu | AudioFormat::Pcma => SampleRate::Hz8000,
            AudioFormat::L16 { rate, .. } => rate,
            AudioFormat::Opus48k => SampleRate::Hz48000,
            AudioFormat::G722 => SampleRate::Hz16000,
        }
    }

    /// Bytes of one 20 ms frame for the constant-rate formats; `None` for Opus, whose packets
    /// vary.
    pub const fn frame_bytes(self) -> Option<usize> {
        match self {
            // One byte per sample; G.722 codes two 16 kHz samples per byte.
            AudioFormat::Pcmu | AudioFormat::Pcma | AudioFormat::G722 => Some(160),
            AudioFormat::L16 { rate, .. } => Some(rate.frame_samples() * 2),
            AudioFormat::Opus48k => None,
        }
    }

    /// Short name for logs and bench ids.
    pub const fn name(self) -> &'static str {
        match self {
            AudioFormat::Pcmu => "PCMU/8k",
            AudioFormat::Pcma => "PCMA/8k",
            AudioFormat::L16 {
                rate: SampleRate::Hz8000,
                ..
            } => "L16/8k",
            AudioFormat::L16 {
                rate: SampleRate::Hz16000,
                ..
            } => "L16/16k",
            AudioFormat::L16 {
                rate: SampleRate::Hz48000,
                ..
            } => "L16/48k",
            AudioFormat::Opus48k => "Opus/48k",
            AudioFormat::G722 => "G722/16k",
        }
    }
}

/// One 20 ms (or shorter) mono PCM frame stored inline: `Copy`-free but allocation-free.
#[derive(Clone, PartialEq, Eq)]
pub struct PcmFrame {
    samples: [i16; MAX_FRAME_SAMPLES],
    len: u16,
    rate: SampleRate,
}

impl PcmFrame {
    /// A frame of 20 ms of silence at `rate`.
    pub const fn silence(rate: SampleRate) -> Self {
        // frame_samples() is at most 960, which fits u16.
        PcmFrame {
            samples: [0; MAX_FRAME_SAMPLES],
            len: rate.frame_samples() as u16,
            rate,
        }
    }

    /// Copies `samples` (at most [`MAX_FRAME_SAMPLES`]) into a new frame.
    pub fn from_samples(rate: SampleRate, samples: &[i16]) -> Result<Self> {
        let mut f = PcmFrame::silence(rate);
        f.set_samples(samples)?;
        Ok(f)
    }

    /// Replaces the content with `samples` (at most [`MAX_FRAME_SAMPLES`]).
    pub fn set_samples(&mut self, samples: &[i16]) -> Result<()> {
        let n = samples.len();
        let dst = self.samples.get_mut(..n).ok_or(CodecError::BadLength {
            what: "PCM frame",
            got: n,
            expected: "at most 960 samples",
        })?;
        dst.copy_from_slice(samples);
        // n <= 960 was checked just above.
        self.len = n as u16;
        Ok(())
    }

    /// Replaces rate and content in place (no copy of the whole frame).
    pub fn fill(&mut self, rate: SampleRate, samples: &[i16]) -> Result<()> {
        self.set_samples(samples)?;
        self.rate = rate;
        Ok(())
    }

    /// The sample rate.
    pub fn rate(&self) -> SampleRate {
        self.rate
    }

    /// The valid samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples[..usize::from(self.len)]
    }

    /// The valid samples, mutable.
    pub fn samples_mut(&mut self) -> &mut [i16] {
        &mut self.samples[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for PcmFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcmFrame")
            .field("rate", &self.rate)
            .field("len", &self.len)
            .finish()
    }
}

/// One encoded frame stored inline (up to [`MAX_ENCODED_BYTES`]).
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    bytes: [u8; MAX_ENCODED_BYTES],
    len: u16,
    format: AudioFormat,
}

impl EncodedFrame {
    /// An empty frame of `format`.
    pub const fn empty(format: AudioFormat) -> Self {
        EncodedFrame {
            bytes: [0; MAX_ENCODED_BYTES],
            len: 0,
            format,
        }
    }

    /// Copies `bytes` (at most [`MAX_ENCODED_BYTES`]) into a new frame.
    pub fn from_bytes(format: AudioFormat, bytes: &[u8]) -> Result<Self> {
        let mut f = EncodedFrame::empty(format);
        f.set_bytes(bytes)?;
        Ok(f)
    }

    /// Replaces the content with `bytes`.
    pub fn set_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let n = bytes.len();
        let dst = self.bytes.get_mut(..n).ok_or(CodecError::BadLength {
            what: "encoded frame",
            got: n,
            expected: "at most 640 bytes",
        })?;
        dst.copy_from_slice(bytes);
        // n <= 640 was checked just above.
        self.len = n as u16;
        Ok(())
    }

    /// The whole backing buffer, for writing into; follow with [`EncodedFrame::set_len`].
    pub fn buffer_mut(&mut self) -> &mut [u8; MAX_ENCODED_BYTES] {
        &mut self.bytes
    }

    /// Sets the valid length after writing through [`EncodedFrame::buffer_mut`].
    pub fn set_len(&mut self, len: usize) -> Result<()> {
        if len > MAX_ENCODED_BYTES {
            return Err(CodecError::BadLength {
                what: "encoded frame",
                got: len,
                expected: "at most 640 bytes",
            });
        }
        // len <= 640 was checked just above.
        self.len = len as u16;
        Ok(())
    }

    /// The format of the bytes.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// The valid bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for EncodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedFrame")
            .field("format", &self.format)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_bounds() {
        assert_eq!(SampleRate::Hz48000.frame_samples(), 960);
        assert_eq!(PcmFrame::silence(SampleRate::Hz8000).samples().len(), 160);
        assert!(PcmFrame::from_samples(SampleRate::Hz48000, &[0; 961]).is_err());
        assert!(EncodedFrame::from_bytes(AudioFormat::Pcmu, &[0; MAX_ENCODED_BYTES + 1]).is_err());
        assert!(EncodedFrame::from_bytes(AudioFormat::L16_16K, &[0; 640]).is_ok());
        assert_eq!(AudioFormat::L16_16K.frame_bytes(), Some(MAX_ENCODED_BYTES));
        assert_eq!(AudioFormat::Pcma.frame_bytes(), Some(160));
        assert_eq!(AudioFormat::Opus48k.frame_bytes(), None);
        let f = EncodedFrame::from_bytes(AudioFormat::Pcmu, &[1, 2, 3]).unwrap();
        assert_eq!(f.bytes(), &[1, 2, 3]);
    }
}
