//! Our outgoing RTP stream: one SSRC whose sequence numbers and timestamps stay continuous
//! whatever feeds it (greeting, bot audio, DTMF), timestamps derived from the count of frames
//! sent rather than from a clock, and RFC 4733 telephone-events.

use super::packet::RtpHeader;
use super::RtpError;

/// Number of times the final (E-bit) packet of an event is sent (RFC 4733 §2.5.1.4).
const DTMF_END_PACKETS: u8 = 3;
/// Default event volume: -10 dBm0 (expressed as 10, the attenuation).
pub const DTMF_DEFAULT_VOLUME: u8 = 10;

/// The RFC 4733 event code of a DTMF key (`0`-`9`, `*`, `#`, `A`-`D`).
pub fn dtmf_event_code(key: char) -> Option<u8> {
    match key {
        // A digit's value is its event code and always fits a u8.
        '0'..='9' => key.to_digit(10).map(|d| d as u8),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(12 + (key as u8 - b'A')),
        'a'..='d' => Some(12 + (key as u8 - b'a')),
        _ => None,
    }
}

/// Negotiated parameters of our outgoing stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// Our SSRC.
    pub ssrc: u32,
    /// Payload type of the audio codec.
    pub payload_type: u8,
    /// Payload type of telephone-event, when the peer accepted it.
    pub dtmf_payload_type: Option<u8>,
    /// First sequence number (random per RFC 3550).
    pub initial_sequence: u16,
    /// First timestamp (random per RFC 3550).
    pub initial_timestamp: u32,
}

/// A telephone-event being sent.
#[derive(Debug, Clone, Copy)]
struct DtmfSend {
    event: u8,
    volume: u8,
    /// Requested duration in timestamp units (capped to 16 bits).
    duration: u32,
    /// Timestamp of the event start; `None` until the first packet.
    start: Option<u32>,
    /// Timestamp units elapsed since the start.
    elapsed: u32,
    /// Final packets already sent.
    ends_sent: u8,
}

/// What one [`Sender::next_packet`] call wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Nothing: a silent frame; time advanced.
    Nothing,
    /// An audio packet of this length.
    Audio(usize),
    /// A telephone-event packet of this length (the audio of the frame was dropped).
    Dtmf(usize),
}

impl Sent {
    /// Length of the packet written, if any.
    pub fn packet_len(self) -> Option<usize> {
        match self {
            Self::Nothing => None,
            Self::Audio(n) | Self::Dtmf(n) => Some(n),
        }
    }
}

/// Our outgoing stream (RFC 3550 §5.1 fields and §6.4.1 sender counters).
#[derive(Debug, Clone)]
pub struct Sender {
    config: SenderConfig,
    next_sequence: u16,
    /// Timestamp units since the first frame; the timestamp is always base + this.
    elapsed: u64,
    talkspurt_start: bool,
    dtmf: Option<DtmfSend>,
    packets: u64,
    octets: u64,
}

impl Sender {
    /// A stream that has sent nothing yet.
    pub fn new(config: SenderConfig) -> Self {
        Self {
            next_sequence: config.initial_sequence,
            config,
            elapsed: 0,
            talkspurt_start: true,
            dtmf: None,
            packets: 0,
            octets: 0,
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.config.ssrc
    }

    /// Changes the audio payload type (codec change on re-INVITE); numbering stays continuous.
    pub fn set_payload_type(&mut self, payload_type: u8, dtmf_payload_type: Option<u8>) {
        self.config.payload_type = payload_type;
        self.config.dtmf_payload_type = dtmf_payload_type;
        self.talkspurt_start = true;
    }

    /// Timestamp the next frame will carry.
    pub fn timestamp(&self) -> u32 {
        // RTP timestamps wrap modulo 2^32 by definition, so truncating is exact.
        self.config
            .initial_timestamp
            .wrapping_add(self.elapsed as u32)
    }

    /// Sequence number of the next packet.
    pub fn next_sequence(&self) -> u16 {
        self.next_sequence
    }

    /// Packets sent so far (audio and events).
    pub fn packets_sent(&self) -> u64 {
        self.packets
    }

    /// Payload octets sent so far (headers excluded, as the SR counts them).
    pub fn octets_sent(&self) -> u64 {
        self.octets
    }

    /// Whether a telephone-event is still being sent.
    pub fn dtmf_active(&self) -> bool {
        self.dtmf.is_some()
    }

    /// Marks the next audio packet as the start of a talkspurt (e.g. the bot's audio replaces
    /// the greeting). Sequence and timestamp simply continue.
    pub fn start_talkspurt(&mut self) {
        self.talkspurt_start = true;
    }

    /// Starts sending telephone-event `event` (0-15 for DTMF, see [`dtmf_event_code`]) for
    /// `duration` timestamp units at `volume` (0-63, attenuation in dBm0). It begins at the
    /// next [`next_packet`](Self::next_packet) call and replaces audio until it ends.
    pub fn send_dtmf(&mut self, event: u8, duration: u32, volume: u8) -> Result<(), RtpError> {
        if self.config.dtmf_payload_type.is_none() {
            return Err(RtpError::InvalidArgument(
                "telephone-event was not negotiated",
            ));
        }
        if self.dtmf.is_some() {
            return Err(RtpError::InvalidArgument(
                "a DTMF event is already being sent",
            ));
        }
        if volume > 63 {
            return Err(RtpError::InvalidArgument("DTMF volume above 63"));
        }
        self.dtmf = Some(DtmfSend {
            event,
            volume,
            duration: duration.clamp(1, u32::from(u16::MAX)),
            start: None,
            elapsed: 0,
            ends_sent: 0,
        });
        Ok(())
    }

    /// One frame of media time: writes the frame's packet into `out`, then advances the
    /// timestamp by `samples` (timestamp units per frame, e.g. 160 for 20 ms at 8 kHz).
    ///
    /// `audio` is the encoded frame, or `None` for a silent frame (nothing is sent and the next
    /// audio packet carries the marker). While a DTMF event is being sent, its packet replaces
    /// the audio. Time advances even when building fails, so timestamps never drift from the
    /// frame count.
    pub fn next_packet(
        &mut self,
        audio: Option<&[u8]>,
        samples: u32,
        out: &mut [u8],
    ) -> Result<Sent, RtpError> {
        let timestamp = self.timestamp();
        self.elapsed += u64::from(samples);
        if let Some(mut dtmf) = self.dtmf {
            let result = self.dtmf_packet(&mut dtmf, timestamp, samples, out);
            self.dtmf = (dtmf.ends_sent < DTMF_END_PACKETS).then_some(dtmf);
            if self.dtmf.is_none() {
                self.talkspurt_start = true;
            }
            return result.map(Sent::Dtmf);
        }
        let Some(payload) = audio else {
            self.talkspurt_start = true;
            return Ok(Sent::Nothing);
        };
        let header = RtpHeader {
            payload_type: self.config.payload_type,
            marker: self.talkspurt_start,
            sequence: self.next_sequence,
            timestamp,
            ssrc: self.config.ssrc,
        };
        let len = header.build(payload, out)?;
        self.talkspurt_start = false;
        self.count(payload.len());
        Ok(Sent::Audio(len))
    }

    /// One frame of media time with nothing sent at all (no destination yet, or muted):
    /// the timestamp advances, the next audio packet carries the marker, a pending DTMF event
    /// waits.
    pub fn skip(&mut self, samples: u32) {
        self.elapsed += u64::from(samples);
        self.talkspurt_start = true;
    }

    fn dtmf_packet(
        &mut self,
        dtmf: &mut DtmfSend,
        timestamp: u32,
        samples: u32,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let first = dtmf.start.is_none();
        let start = *dtmf.start.get_or_insert(timestamp);
        if dtmf.ends_sent == 0 {
            dtmf.elapsed = dtmf.elapsed.saturating_add(samples).min(dtmf.duration);
        }
        let end = dtmf.elapsed >= dtmf.duration;
        if end {
            dtmf.ends_sent += 1;
        }
        // Capped to 16 bits by send_dtmf.
        let duration = dtmf.elapsed as u16;
        let [d0, d1] = duration.to_be_bytes();
        let payload = [
            dtmf.event,
            (u8::from(end) << 7) | (dtmf.volume & 0x3f),
            d0,
            d1,
        ];
        let header = RtpHeader {
            // send_dtmf refused to start without a negotiated type.
            payload_type: self
                .config
                .dtmf_payload_type
                .unwrap_or(self.config.payload_type),
            marker: first,
            sequence: self.next_sequence,
            timestamp: start,
            ssrc: self.config.ssrc,
        };
        let len = header.build(&payload, out)?;
        self.count(payload.len());
        Ok(len)
    }

    fn count(&mut self, payload_len: usize) {
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.packets += 1;
        self.octets += payload_len as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpPacket;

    fn sender() -> Sender {
        Sender::new(SenderConfig {
            ssrc: 0x5eed,
            payload_type: 0,
            dtmf_payload_type: Some(101),
            initial_sequence: 65534,
            initial_timestamp: u32::MAX - 200,
        })
    }

    fn send(s: &mut Sender, audio: Option<&[u8]>) -> Option<(RtpPacket<'static>, Sent)> {
        let buf: &'static mut [u8] = Box::leak(vec![0u8; 256].into_boxed_slice());
        let sent = s.next_packet(audio, 160, buf).unwrap();
        let len = sent.packet_len()?;
        Some((RtpPacket::parse(&buf[..len]).unwrap(), sent))
    }

    #[test]
    fn timestamps_follow_the_frame_count_across_a_source_switch() {
        let mut s = sender();
        let greeting = [0x55u8; 160];
        let bot = [0x7fu8; 160];
        let mut packets = Vec::new();
        for _ in 0..3 {
            packets.push(send(&mut s, Some(&greeting)).unwrap().0);
        }
        // The greeting is replaced by bot audio after one silent frame of handover.
        assert!(send(&mut s, None).is_none());
        s.start_talkspurt();
        for _ in 0..3 {
            packets.push(send(&mut s, Some(&bot)).unwrap().0);
        }
        let base = u32::MAX - 200;
        let frames = [0u32, 1, 2, 4, 5, 6];
        for (p, f) in packets.iter().zip(frames) {
            assert_eq!(p.ssrc, 0x5eed);
            assert_eq!(p.timestamp, base.wrapping_add(f * 160));
        }
        let seqs: Vec<u16> = packets.iter().map(|p| p.sequence).collect();
        assert_eq!(seqs, [65534, 65535, 0, 1, 2, 3]);
        let markers: Vec<bool> = packets.iter().map(|p| p.marker).collect();
        assert_eq!(markers, [true, false, false, true, false, false]);
        assert_eq!(s.packets_sent(), 6);
        assert_eq!(s.octets_sent(), 960);
    }

    #[test]
    fn dtmf_event_packets_then_audio_resumes_in_time() {
        let mut s = sender();
        let audio = [0u8; 160];
        send(&mut s, Some(&audio)).unwrap();
        let event_ts = s.timestamp();
        s.send_dtmf(dtmf_event_code('#').unwrap(), 480, DTMF_DEFAULT_VOLUME)
            .unwrap();
        assert!(s.send_dtmf(1, 480, 10).is_err());
        let mut events = Vec::new();
        while s.dtmf_active() {
            let (p, sent) = send(&mut s, Some(&audio)).unwrap();
            assert!(matches!(sent, Sent::Dtmf(16)));
            events.push(p);
        }
        // 480 units at 160 per frame: 3 packets, the last with E set, then two retransmits.
        assert_eq!(events.len(), 5);
        for (i, p) in events.iter().enumerate() {
            assert_eq!(p.payload_type, 101);
            assert_eq!(p.timestamp, event_ts);
            assert_eq!(p.marker, i == 0);
            assert_eq!(p.payload[0], 11);
            let end = p.payload[1] & 0x80 != 0;
            assert_eq!(end, i >= 2);
            assert_eq!(p.payload[1] & 0x3f, DTMF_DEFAULT_VOLUME);
            let duration = u16::from_be_bytes([p.payload[2], p.payload[3]]);
            assert_eq!(duration, [160, 320, 480, 480, 480][i]);
        }
        let seqs: Vec<u16> = events.iter().map(|p| p.sequence).collect();
        assert_eq!(seqs, [65535, 0, 1, 2, 3]);
        let (p, _) = send(&mut s, Some(&audio)).unwrap();
        assert_eq!(p.payload_type, 0);
        assert!(p.marker);
        assert_eq!(p.sequence, 4);
        assert_eq!(p.timestamp, event_ts.wrapping_add(5 * 160));
    }

    #[test]
    fn dtmf_needs_negotiation() {
        let mut s = Sender::new(SenderConfig {
            ssrc: 1,
            payload_type: 8,
            dtmf_payload_type: None,
            initial_sequence: 0,
            initial_timestamp: 0,
        });
        assert!(s.send_dtmf(1, 800, 10).is_err());
    }

    #[test]
    fn failed_build_still_advances_time() {
        let mut s = sender();
        let before = s.timestamp();
        let mut tiny = [0u8; 4];
        assert!(s.next_packet(Some(&[0; 160]), 160, &mut tiny).is_err());
        assert_eq!(s.timestamp(), before.wrapping_add(160));
        assert_eq!(s.next_sequence(), 65534);
        assert_eq!(s.packets_sent(), 0);
    }

    #[test]
    fn skipped_frames_keep_time_and_mark_the_next_packet() {
        let mut s = sender();
        let base = s.timestamp();
        send(&mut s, Some(&[0; 160])).unwrap();
        s.skip(160);
        s.skip(160);
        let (p, _) = send(&mut s, Some(&[0; 160])).unwrap();
        assert!(p.marker);
        assert_eq!(p.timestamp, base.wrapping_add(3 * 160));
        assert_eq!(p.sequence, 65535);
        assert_eq!(s.packets_sent(), 2);
    }

    #[test]
    fn event_codes() {
        assert_eq!(dtmf_event_code('0'), Some(0));
        assert_eq!(dtmf_event_code('9'), Some(9));
        assert_eq!(dtmf_event_code('*'), Some(10));
        assert_eq!(dtmf_event_code('#'), Some(11));
        assert_eq!(dtmf_event_code('D'), Some(15));
        assert_eq!(dtmf_event_code('x'), None);
    }
}
