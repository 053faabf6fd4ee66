//! Opus (libopus through the `opus` crate): mono, 20 ms frames, VOIP application, in-band FEC,
//! optional DTX, loss concealment and FEC recovery.
//!
//! The RTP clock of Opus is always 48 kHz, but libopus encodes from and decodes to 8, 16 or
//! 48 kHz PCM itself; the [`crate::Transcoder`] uses that instead of a separate resampler.

use crate::error::{CodecError, Result};
use crate::frame::SampleRate;

/// Largest Opus packet this crate accepts (RFC 6716 caps a frame at 1275 bytes per frame;
/// we accept up to an MTU payload and let libopus judge). The encoder writes at most the
/// buffer it is given, so packets made for an [`crate::EncodedFrame`] fit one.
pub const MAX_OPUS_PACKET: usize = 1500;

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusEncoderConfig {
    /// PCM rate of the encoder input (48, 16 or 8 kHz).
    pub rate: SampleRate,
    /// Discontinuous transmission: near-empty packets during silence.
    pub dtx: bool,
    /// In-band forward error correction (LBRR) for the previous frame.
    pub inband_fec: bool,
    /// Expected packet loss in percent (0..=100); drives how much FEC is spent.
    pub packet_loss_percent: u8,
    /// Target bitrate in bit/s, or `None` for libopus' choice.
    pub bitrate: Option<i32>,
    /// Encoder complexity 0..=10 (libopus' own default is 10). The default here is 5, chosen
    /// for the Transcoder, which feeds Opus 8 or 16 kHz PCM: at 16 kHz, 5 measured ~0.6× the
    /// CPU of 10. With 48 kHz input, 8-10 measured *cheaper* than 5 (libopus picks another
    /// mode), so use 10 there (see docs/performance.md).
    pub complexity: u8,
}

impl Default for OpusEncoderConfig {
    fn default() -> Self {
        OpusEncoderConfig {
            rate: SampleRate::Hz48000,
            dtx: false,
            inband_fec: true,
            packet_loss_percent: 5,
            bitrate: None,
            complexity: 5,
        }
    }
}

/// Opus encoder for 20 ms mono frames.
pub struct OpusEncoder {
    inner: opus::Encoder,
    frame: usize,
}

impl OpusEncoder {
    /// Builds an encoder (allocates libopus state once).
    pub fn new(config: OpusEncoderConfig) -> Result<Self> {
        if config.packet_loss_percent > 100 {
            return Err(CodecError::BadConfig("packet_loss_percent must be 0..=100"));
        }
        if config.complexity > 10 {
            return Err(CodecError::BadConfig("complexity must be 0..=10"));
        }
        let mut inner = opus::Encoder::new(
            config.rate.hz(),
            opus::Channels::Mono,
            opus::Application::Voip,
        )?;
        inner.set_inband_fec(config.inband_fec)?;
        inner.set_dtx(config.dtx)?;
        inner.set_packet_loss_perc(i32::from(config.packet_loss_percent))?;
        inner.set_complexity(i32::from(config.complexity))?;
        if let Some(b) = config.bitrate {
            inner.set_bitrate(opus::Bitrate::Bits(b))?;
        }
        Ok(OpusEncoder {
            inner,
            frame: config.rate.frame_samples(),
        })
    }

    /// Samples per 20 ms frame.
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// Updates the expected loss hint at run time (e.g. from RTCP receiver reports).
    pub fn set_packet_loss_percent(&mut self, percent: u8) -> Result<()> {
        Ok(self
            .inner
            .set_packet_loss_perc(i32::from(percent.min(100)))?)
    }

    /// Encodes exactly one 20 ms frame into `out`; returns the packet length. With DTX on, a
    /// packet of 2 bytes or fewer is a DTX frame the caller need not send.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize> {
        if pcm.len() != self.frame {
            return Err(CodecError::BadLength {
                what: "Opus encoder input",
                got: pcm.len(),
                expected: "one 20 ms frame",
            });
        }
        let out_len = out.len().min(MAX_OPUS_PACKET);
        Ok(self.inner.encode(pcm, &mut out[..out_len])?)
    }
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("frame", &self.frame)
            .finish()
    }
}

/// Opus decoder for mono output, with packet loss concealment and FEC recovery.
pub struct OpusDecoder {
    inner: opus::Decoder,
    frame: usize,
}

impl OpusDecoder {
    /// Builds a decoder producing `rate` (48, 16 or 8 kHz) output.
    pub fn new(rate: SampleRate) -> Result<Self> {
        let inner = opus::Decoder::new(rate.hz(), opus::Channels::Mono)?;
        Ok(OpusDecoder {
            inner,
            frame: rate.frame_samples(),
        })
    }

    /// Samples per 20 ms frame.
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// Decodes one packet into `out`; returns samples written. Packets longer than `out`
    /// holds, empty packets and malformed packets are errors, never panics.
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize> {
        if packet.is_empty() || packet.len() > MAX_OPUS_PACKET {
            return Err(CodecError::BadLength {
                what: "Opus packet",
                got: packet.len(),
                expected: "1..=1500 bytes (use conceal() for a lost frame)",
            });
        }
        Ok(self.inner.decode(packet, out, false)?)
    }

    /// Packet loss concealment: synthesises the next 20 ms after a lost packet into `out`.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize> {
        let out = self.frame_slice(out)?;
        Ok(self.inner.decode(&[], out, false)?)
    }

    /// Recovers the lost frame *preceding* `next_packet` from its in-band FEC data (falls back
    /// to concealment inside libopus if `next_packet` carries none). Writes one 20 ms frame.
    pub fn decode_fec(&mut self, next_packet: &[u8], out: &mut [i16]) -> Result<usize> {
        if next_packet.is_empty() || next_packet.len() > MAX_OPUS_PACKET {
            return Err(CodecError::BadLength {
                what: "Opus FEC packet",
                got: next_packet.len(),
                expected: "1..=1500 bytes",
            });
        }
        let out = self.frame_slice(out)?;
        Ok(self.inner.decode(next_packet, out, true)?)
    }

    fn frame_slice<'a>(&self, out: &'a mut [i16]) -> Result<&'a mut [i16]> {
        let have = out.len();
        out.get_mut(..self.frame).ok_or(CodecError::OutputTooSmall {
            need: self.frame,
            have,
        })
    }
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("frame", &self.frame)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tone(rate: SampleRate, frame_idx: usize) -> Vec<i16> {
        let n = rate.frame_samples();
        let hz = f64::from(rate.hz());
        (0..n)
            .map(|i| {
                let t = (frame_idx * n + i) as f64 / hz;
                (6000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
            })
            .collect()
    }

    fn energy(x: &[i16]) -> f64 {
        x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64
    }

    #[test]
    fn round_trip_plc_and_fec_at_both_rates() {
        for rate in [SampleRate::Hz48000, SampleRate::Hz16000, SampleRate::Hz8000] {
            let cfg = OpusEncoderConfig {
                rate,
                packet_loss_percent: 20,
                ..Default::default()
            };
            let mut enc = OpusEncoder::new(cfg).unwrap();
            let mut dec = OpusDecoder::new(rate).unwrap();
            let n = rate.frame_samples();
            let mut pkt = [0u8; 1500];
            let mut out = [0i16; 960];
            let mut packets = Vec::new();
            for i in 0..20 {
                let len = enc.encode(&tone(rate, i), &mut pkt).unwrap();
                packets.push(pkt[..len].to_vec());
            }
            for p in &packets[..10] {
                assert_eq!(dec.decode(p, &mut out).unwrap(), n);
            }
            assert!(energy(&out[..n]) > 1e6, "decoded tone has energy");
            // Frame 10 lost: recover it from frame 11's FEC, then decode 11.
            assert_eq!(dec.decode_fec(&packets[11], &mut out).unwrap(), n);
            assert!(energy(&out[..n]) > 1e5, "FEC output has energy");
            assert_eq!(dec.decode(&packets[11], &mut out).unwrap(), n);
            // Frame 12 lost without FEC: PLC.
            assert_eq!(dec.conceal(&mut out).unwrap(), n);
            assert!(energy(&out[..n]) > 1e4, "PLC output continues the tone");
        }
    }

    #[test]
    fn dtx_and_bad_config() {
        let cfg = OpusEncoderConfig {
            dtx: true,
            ..Default::default()
        };
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let mut pkt = [0u8; 1500];
        let silence = [0i16; 960];
        let lens: Vec<usize> = (0..30)
            .map(|_| enc.encode(&silence, &mut pkt).unwrap())
            .collect();
        assert!(
            lens.iter().skip(10).any(|&l| l <= 2),
            "DTX kicks in on silence: {lens:?}"
        );
        assert!(enc.encode(&silence[..100], &mut pkt).is_err());
        assert!(OpusEncoder::new(OpusEncoderConfig {
            packet_loss_percent: 101,
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn garbage_is_an_error_or_audio() {
        let mut dec = OpusDecoder::new(SampleRate::Hz48000).unwrap();
        let mut out = [0i16; 960];
        assert!(dec.decode(&[], &mut out).is_err());
        // TOC code 3 with a zero frame count is invalid.
        assert!(dec.decode(&[0x03, 0x00], &mut out).is_err());
        // A 60 ms packet does not fit a 20 ms buffer.
        assert!(dec.decode(&[0x1B, 0x00], &mut out).is_err() || dec.frame_samples() == 960);
    }

    proptest! {
        #[test]
        fn decode_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
            let mut dec = OpusDecoder::new(SampleRate::Hz48000).unwrap();
            let mut out = [0i16; 960];
            if let Ok(n) = dec.decode(&bytes, &mut out) {
                prop_assert!(n <= 960);
            }
            if let Ok(n) = dec.decode_fec(&bytes, &mut out) {
                prop_assert!(n <= 960);
            }
            prop_assert_eq!(dec.conceal(&mut out).unwrap(), 960);
        }
    }
}
