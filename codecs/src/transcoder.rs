//! One direction of 20 ms frame conversion between two [`AudioFormat`]s.
//!
//! A `Transcoder` owns its codec states, an optional resampler and fixed PCM buffers, all made
//! in [`Transcoder::new`]; converting a frame allocates nothing (proved for every pair by
//! `tests/transcoder_no_alloc.rs`). Opus never needs the resampler: libopus decodes to and
//! encodes from the other side's PCM rate directly (8, 16 or 48 kHz). Other rate changes
//! (8k ↔ 16k for G.711/L16/G.722) go through [`Resampler`] and add its delay: 2 ms for
//! 8k ↔ 16k (our half-band FIR), see [`crate::resample`].

use crate::error::{CodecError, Result};
use crate::frame::{AudioFormat, ByteOrder, EncodedFrame, PcmFrame, SampleRate};
use crate::g711;
use crate::g722::{G722Decoder, G722Encoder};
use crate::l16;
use crate::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
use crate::resample::Resampler;

/// Options for building a [`Transcoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TranscoderConfig {
    /// Opus encoder settings when the output is Opus (its `rate` is ignored: the transcoder
    /// picks the input side's PCM rate).
    pub opus: OpusEncoderConfig,
}

enum Decoder {
    Pcmu,
    Pcma,
    L16(ByteOrder),
    Opus(OpusDecoder),
    G722(Box<G722Decoder>),
}

enum Encoder {
    Pcmu,
    Pcma,
    L16(ByteOrder),
    Opus(OpusEncoder),
    G722(Box<G722Encoder>),
}

/// Consecutive concealed frames after which concealment of non-Opus input turns to silence.
const MAX_REPEAT_CONCEAL: u32 = 5;

/// Converts 20 ms frames from one format to another (one direction; use two for a call).
pub struct Transcoder {
    from: AudioFormat,
    to: AudioFormat,
    /// PCM rate produced by the decoder.
    dec_rate: SampleRate,
    /// PCM rate consumed by the encoder.
    enc_rate: SampleRate,
    decoder: Decoder,
    encoder: Encoder,
    resampler: Option<Resampler>,
    /// One frame at `dec_rate`. Sized for this pair, not for 48 kHz: a call keeps two
    /// transcoders for its whole life, and the 8 kHz ones need a sixth of the space.
    decoded: Box<[i16]>,
    /// One frame at `enc_rate` when a resampler runs; empty otherwise.
    resampled: Box<[i16]>,
    conceal_run: u32,
}

impl Transcoder {
    /// A transcoder from `from` to `to` with default options.
    pub fn new(from: AudioFormat, to: AudioFormat) -> Result<Self> {
        Self::with_config(from, to, TranscoderConfig::default())
    }

    /// A transcoder from `from` to `to` with `config`.
    pub fn with_config(
        from: AudioFormat,
        to: AudioFormat,
        config: TranscoderConfig,
    ) -> Result<Self> {
        // Opus adapts to the other side's rate, so no resampler touches an Opus path.
        let (dec_rate, enc_rate) = match (from, to) {
            (AudioFormat::Opus48k, AudioFormat::Opus48k) => {
                (SampleRate::Hz48000, SampleRate::Hz48000)
            }
            (AudioFormat::Opus48k, t) => (t.pcm_rate(), t.pcm_rate()),
            (f, AudioFormat::Opus48k) => (f.pcm_rate(), f.pcm_rate()),
            (f, t) => (f.pcm_rate(), t.pcm_rate()),
        };
        let decoder = match from {
            AudioFormat::Pcmu => Decoder::Pcmu,
            AudioFormat::Pcma => Decoder::Pcma,
            AudioFormat::L16 { order, .. } => Decoder::L16(order),
            AudioFormat::Opus48k => Decoder::Opus(OpusDecoder::new(dec_rate)?),
            AudioFormat::G722 => Decoder::G722(Box::default()),
        };
        let encoder = match to {
            AudioFormat::Pcmu => Encoder::Pcmu,
            AudioFormat::Pcma => Encoder::Pcma,
            AudioFormat::L16 { order, .. } => Encoder::L16(order),
            AudioFormat::Opus48k => Encoder::Opus(OpusEncoder::new(OpusEncoderConfig {
                rate: enc_rate,
                ..config.opus
            })?),
            AudioFormat::G722 => Encoder::G722(Box::default()),
        };
        let resampler = if dec_rate == enc_rate {
            None
        } else {
            Some(Resampler::new(dec_rate, enc_rate)?)
        };
        let resampled_len = resampler.as_ref().map_or(0, |_| enc_rate.frame_samples());
        Ok(Transcoder {
            from,
            to,
            dec_rate,
            enc_rate,
            decoder,
            encoder,
            resampler,
            decoded: vec![0; dec_rate.frame_samples()].into_boxed_slice(),
            resampled: vec![0; resampled_len].into_boxed_slice(),
            conceal_run: 0,
        })
    }

    /// Input format.
    pub fn from_format(&self) -> AudioFormat {
        self.from
    }

    /// Output format.
    pub fn to_format(&self) -> AudioFormat {
        self.to
    }

    /// Delay added by resampling, in output-rate samples (0 when no resampler is needed).
    pub fn resampler_delay(&self) -> usize {
        self.resampler.as_ref().map_or(0, Resampler::delay)
    }

    /// Converts one encoded 20 ms frame; returns the bytes written to `out`.
    pub fn transcode(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.decode_into_buffer(input)?;
        self.conceal_run = 0;
        self.resample_and_encode(out)
    }

    /// Like [`Transcoder::transcode`] on inline frames.
    pub fn transcode_frame(&mut self, input: &EncodedFrame, out: &mut EncodedFrame) -> Result<()> {
        let n = self.transcode(input.bytes(), out.buffer_mut())?;
        out.set_len(n)
    }

    /// Produces an output frame for a lost input frame: Opus input runs libopus PLC, other
    /// inputs repeat the last frame at halving gain and fall silent after a few frames.
    pub fn conceal(&mut self, out: &mut [u8]) -> Result<usize> {
        let n = self.dec_rate.frame_samples();
        match &mut self.decoder {
            Decoder::Opus(d) => {
                d.conceal(&mut self.decoded)?;
            }
            _ => {
                self.conceal_run = self.conceal_run.saturating_add(1);
                if self.conceal_run > MAX_REPEAT_CONCEAL {
                    self.decoded[..n].fill(0);
                } else {
                    for s in &mut self.decoded[..n] {
                        *s /= 2;
                    }
                }
            }
        }
        self.resample_and_encode(out)
    }

    /// Opus input only: recovers the lost frame before `next_packet` from its in-band FEC,
    /// then encodes it; other inputs fall back to [`Transcoder::conceal`].
    pub fn conceal_with_fec(&mut self, next_packet: &[u8], out: &mut [u8]) -> Result<usize> {
        match &mut self.decoder {
            Decoder::Opus(d) => {
                d.decode_fec(next_packet, &mut self.decoded)?;
                self.resample_and_encode(out)
            }
            _ => self.conceal(out),
        }
    }

    /// Decodes one frame and resamples it to the rate the output encoder consumes (the output
    /// format's PCM rate; for Opus output, the input's rate): the PCM-out entry point.
    pub fn decode_to_pcm(&mut self, input: &[u8], out: &mut PcmFrame) -> Result<()> {
        self.decode_into_buffer(input)?;
        self.conceal_run = 0;
        let rate = self.enc_rate;
        let pcm = self.resampled_pcm()?;
        out.fill(rate, pcm)
    }

    /// Encodes one 20 ms PCM frame given at the *input* format's PCM rate (PCM-in entry):
    /// resamples if needed and encodes to the output format.
    pub fn encode_pcm(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize> {
        self.conceal_run = 0;
        let n = self.dec_rate.frame_samples();
        if pcm.len() != n {
            return Err(CodecError::BadLength {
                what: "transcoder PCM input",
                got: pcm.len(),
                expected: "one 20 ms frame at the input rate",
            });
        }
        self.decoded[..n].copy_from_slice(pcm);
        self.resample_and_encode(out)
    }

    fn decode_into_buffer(&mut self, input: &[u8]) -> Result<()> {
        let want = self.dec_rate.frame_samples();
        let got = match &mut self.decoder {
            Decoder::Pcmu => g711::ulaw_decode(input, &mut self.decoded),
            Decoder::Pcma => g711::alaw_decode(input, &mut self.decoded),
            Decoder::L16(order) => l16::unpack(input, *order, &mut self.decoded)?,
            Decoder::Opus(d) => d.decode(input, &mut self.decoded[..want])?,
            Decoder::G722(d) => d.decode(input, &mut self.decoded)?,
        };
        if got != want || input.is_empty() {
            return Err(CodecError::BadLength {
                what: "transcoder input frame",
                got: input.len(),
                expected: "one 20 ms frame",
            });
        }
        Ok(())
    }

    fn resampled_pcm(&mut self) -> Result<&[i16]> {
        let n_in = self.dec_rate.frame_samples();
        match &mut self.resampler {
            None => Ok(&self.decoded[..n_in]),
            Some(r) => {
                let n = r.process(&self.decoded[..n_in], &mut self.resampled)?;
                Ok(&self.resampled[..n])
            }
        }
    }

    fn resample_and_encode(&mut self, out: &mut [u8]) -> Result<usize> {
        let n_in = self.dec_rate.frame_samples();
        let pcm: &[i16] = match &mut self.resampler {
            None => &self.decoded[..n_in],
            Some(r) => {
                let n = r.process(&self.decoded[..n_in], &mut self.resampled)?;
                &self.resampled[..n]
            }
        };
        let need = match self.to {
            AudioFormat::L16 { .. } => pcm.len() * 2,
            AudioFormat::Opus48k => 1,
            AudioFormat::G722 => pcm.len() / 2,
            AudioFormat::Pcmu | AudioFormat::Pcma => pcm.len(),
        };
        if out.len() < need {
            return Err(CodecError::OutputTooSmall {
                need,
                have: out.len(),
            });
        }
        match &mut self.encoder {
            Encoder::Pcmu => Ok(g711::ulaw_encode(pcm, out)),
            Encoder::Pcma => Ok(g711::alaw_encode(pcm, out)),
            Encoder::L16(order) => l16::pack(pcm, *order, out),
            Encoder::Opus(e) => e.encode(pcm, out),
            Encoder::G722(e) => e.encode(pcm, out),
        }
    }
}

impl std::fmt::Debug for Transcoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoder")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("resampler", &self.resampler)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every format in the set, for the all-pairs test.
    pub(crate) const ALL: [AudioFormat; 6] = [
        AudioFormat::Pcmu,
        AudioFormat::Pcma,
        AudioFormat::L16_8K,
        AudioFormat::L16_16K,
        AudioFormat::Opus48k,
        AudioFormat::G722,
    ];

    fn tone_frame(rate: SampleRate, idx: usize, hz: f64) -> Vec<i16> {
        let n = rate.frame_samples();
        (0..n)
            .map(|i| {
                let t = (idx * n + i) as f64 / f64::from(rate.hz());
                (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
            })
            .collect()
    }

    fn encode_source(format: AudioFormat, frames: usize) -> Vec<Vec<u8>> {
        let rate = format.pcm_rate();
        let mut t = Transcoder::new(
            AudioFormat::L16 {
                rate,
                order: ByteOrder::BigEndian,
            },
            format,
        )
        .unwrap();
        (0..frames)
            .map(|i| {
                let pcm = tone_frame(rate, i, 440.0);
                let mut be = vec![0u8; pcm.len() * 2];
                l16::pack(&pcm, ByteOrder::BigEndian, &mut be).unwrap();
                let mut out = [0u8; 1500];
                let n = t.transcode(&be, &mut out).unwrap();
                out[..n].to_vec()
            })
            .collect()
    }

    /// All 36 pairs: a 440 Hz tone goes through with energy, right sizes, and loss concealment.
    #[test]
    fn all_pairs_carry_a_tone() {
        for from in ALL {
            let src = encode_source(from, 25);
            for to in ALL {
                let mut t = Transcoder::new(from, to).unwrap();
                let mut back = Transcoder::new(to, AudioFormat::L16_16K).unwrap();
                let mut out = [0u8; 1500];
                let mut pcm = PcmFrame::silence(SampleRate::Hz16000);
                for frame in &src {
                    let n = t.transcode(frame, &mut out).unwrap();
                    let expect = match to {
                        AudioFormat::Pcmu | AudioFormat::Pcma => Some(160),
                        AudioFormat::L16 { rate, .. } => Some(rate.frame_samples() * 2),
                        AudioFormat::G722 => Some(160),
                        AudioFormat::Opus48k => None,
                    };
                    if let Some(e) = expect {
                        assert_eq!(n, e, "{} -> {}", from.name(), to.name());
                    }
                    back.decode_to_pcm(&out[..n], &mut pcm).unwrap();
                }
                // The last output frame, decoded again, still carries the tone.
                let energy = pcm
                    .samples()
                    .iter()
                    .map(|&s| f64::from(s).powi(2))
                    .sum::<f64>()
                    / pcm.samples().len() as f64;
                assert!(
                    energy > 1e6,
                    "{} -> {}: energy {energy}",
                    from.name(),
                    to.name()
                );
                assert!(t.conceal(&mut out).unwrap() > 0);
                assert!(t.conceal_with_fec(&src[3], &mut out).unwrap() > 0);
            }
        }
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let mut t = Transcoder::new(AudioFormat::Pcmu, AudioFormat::L16_16K).unwrap();
        let mut out = [0u8; 640];
        assert!(t.transcode(&[0xFF; 159], &mut out).is_err());
        assert!(t.transcode(&[], &mut out).is_err());
        assert!(t.transcode(&[0xFF; 160], &mut out[..639]).is_err());
        assert_eq!(t.transcode(&[0xFF; 160], &mut out).unwrap(), 640);
        assert_eq!(t.resampler_delay(), 32);
        assert!(t.encode_pcm(&[0; 100], &mut out).is_err());
        assert_eq!(t.encode_pcm(&[0; 160], &mut out).unwrap(), 640);
        let mut o = Transcoder::new(AudioFormat::Opus48k, AudioFormat::Pcmu).unwrap();
        assert!(o.transcode(&[0x03, 0x00], &mut out).is_err());
        assert_eq!(o.resampler_delay(), 0);
    }

    #[test]
    fn repeat_concealment_fades_to_silence() {
        let mut t = Transcoder::new(AudioFormat::L16_8K, AudioFormat::L16_8K).unwrap();
        let mut input = [0u8; 320];
        l16::pack(&[16000; 160], ByteOrder::BigEndian, &mut input).unwrap();
        let mut out = [0u8; 320];
        t.transcode(&input, &mut out).unwrap();
        let mut last = 16000;
        for _ in 0..MAX_REPEAT_CONCEAL + 1 {
            t.conceal(&mut out).unwrap();
            let s = i16::from_be_bytes([out[0], out[1]]);
            assert!(s < last);
            last = s;
        }
        assert_eq!(last, 0);
    }
}
