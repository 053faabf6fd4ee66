//! One call's RTP stream as the storm plays it: a preallocated packet buffer rewritten for
//! every 20 ms frame (nothing allocated per packet), the telephone-event packets of a key
//! press, and the receive side that checks what came back.

use std::net::SocketAddr;
use std::time::Instant;

use voxgate_codecs::rfc4733::DigitPackets;
use voxgate_engine::rtp::packet::{RtpHeader, RtpPacket, RTP_HEADER_LEN};

pub use crate::frames::Received;
use crate::frames::SignedFrames;
use crate::signature::{FrameTemplate, FRAME_SAMPLES};
use crate::tones::{OpusBank, ToneStream, MAX_PACKET};
use crate::StormError;

/// Largest audio payload of a frame (G.711: 160 bytes; Opus: capped by the storm's bitrate).
const MAX_PAYLOAD: usize = if FRAME_SAMPLES > MAX_PACKET {
    FRAME_SAMPLES
} else {
    MAX_PACKET
};

/// What a storm's calls send and how what comes back is checked.
#[derive(Debug)]
pub enum Source {
    /// G.711 frames signed per call and frame ([`crate::signature`]).
    Signed(FrameTemplate),
    /// Opus packets of a tone pair per call ([`crate::tones`]).
    Tones(OpusBank),
}

impl Source {
    /// RTP clock units per 20 ms frame.
    fn frame_ts(&self) -> u32 {
        match self {
            Source::Signed(_) => 160,
            Source::Tones(_) => 960,
        }
    }
}

/// Send and receive state of one call's stream.
#[derive(Debug)]
pub struct Media {
    /// Where the node receives this call's RTP.
    pub remote: SocketAddr,
    payload_type: u8,
    event_payload_type: Option<u8>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    payload: [u8; FRAME_SAMPLES],
    packet: [u8; RTP_HEADER_LEN + MAX_PAYLOAD],
    dtmf: Option<DigitPackets>,
    /// RTP clock units per frame.
    frame_ts: u32,
    /// The telephone-event clock rate.
    event_clock: u32,
    /// An Opus call's tones and decoder.
    tones: Option<Box<ToneStream>>,
    /// Frames sent.
    pub sent: u64,
    /// Packets received from the node.
    pub received: u64,
    /// The signed frames sent and the check of what came back.
    pub frames: SignedFrames,
    first_seq: Option<u16>,
    highest: u32,
}

impl Media {
    /// A G.711 stream to `remote` with the negotiated payload types; `tag` signs its frames.
    pub fn new(remote: SocketAddr, payload_type: u8, event_pt: Option<u8>, tag: u16) -> Media {
        Media {
            remote,
            payload_type,
            event_payload_type: event_pt,
            ssrc: 0x5700_0000 | u32::from(tag),
            seq: tag.wrapping_mul(31),
            ts: u32::from(tag) * 1000,
            payload: [0; FRAME_SAMPLES],
            packet: [0; RTP_HEADER_LEN + MAX_PAYLOAD],
            dtmf: None,
            frame_ts: 160,
            event_clock: 8_000,
            tones: None,
            sent: 0,
            received: 0,
            frames: SignedFrames::new(tag),
            first_seq: None,
            highest: 0,
        }
    }

    /// A stream sending what `source` says: signed G.711 frames, or an Opus call's tones
    /// (`event_clock`: the negotiated telephone-event clock rate).
    pub fn for_source(
        source: &Source,
        remote: SocketAddr,
        payload_type: u8,
        event: Option<(u8, u32)>,
        tag: u16,
    ) -> Result<Media, StormError> {
        let mut media = Media::new(remote, payload_type, event.map(|(pt, _)| pt), tag);
        media.frame_ts = source.frame_ts();
        media.event_clock = event.map_or(8_000, |(_, clock)| clock);
        if let Source::Tones(_) = source {
            media.tones = Some(Box::new(ToneStream::new(tag)?));
        }
        Ok(media)
    }

    /// Whether telephone-event was negotiated.
    pub fn can_dtmf(&self) -> bool {
        self.event_payload_type.is_some()
    }

    /// Starts pressing `digit` (100 ms, RFC 4733): the next packets are its events.
    pub fn press(&mut self, digit: char) {
        // 100 ms in 20 ms steps at 8 or 48 kHz is within every limit DigitPackets checks.
        self.dtmf = DigitPackets::new(digit, self.ts, 100, 20, self.event_clock, 10).ok();
    }

    /// Writes the next 20 ms packet (an audio frame, or a key press in progress) and returns
    /// it for sending.
    pub fn next_packet(&mut self, source: &Source, now: Instant) -> &[u8] {
        self.seq = self.seq.wrapping_add(1);
        if let (Some(pt), Some(digits)) = (self.event_payload_type, self.dtmf.as_mut()) {
            if let Some(p) = digits.next() {
                let header = RtpHeader {
                    payload_type: pt,
                    marker: p.marker,
                    sequence: self.seq,
                    timestamp: p.timestamp,
                    ssrc: self.ssrc,
                };
                // The buffer holds a header and 160 bytes: 4 always fit.
                let len = header.build(&p.payload, &mut self.packet).unwrap_or(0);
                self.sent += 1;
                return &self.packet[..len];
            }
            self.dtmf = None;
            // The digit's 100 ms of timestamps have passed (5 packets, 3 ends on top).
            self.ts = self.ts.wrapping_add(self.frame_ts * 5);
        }
        self.ts = self.ts.wrapping_add(self.frame_ts);
        let header = RtpHeader {
            payload_type: self.payload_type,
            marker: self.sent == 0,
            sequence: self.seq,
            timestamp: self.ts,
            ssrc: self.ssrc,
        };
        self.sent += 1;
        let payload: &[u8] = match (source, self.tones.as_mut()) {
            (Source::Tones(bank), Some(tones)) => tones.next(bank, now),
            (Source::Signed(template), _) => {
                self.frames.next(template, now, &mut self.payload);
                &self.payload
            }
            // A stream made for another source (not done by the generator): send nothing.
            (Source::Tones(_), None) => &[],
        };
        // The buffer is sized for a header and the largest payload; the payload type comes
        // from an SDP answer we accepted (≤ 127), so building cannot fail.
        let len = header.build(payload, &mut self.packet).unwrap_or(0);
        &self.packet[..len]
    }

    /// Accounts one packet the node sent on this call.
    pub fn on_packet(&mut self, source: &Source, buf: &[u8], now: Instant) -> Received {
        let Ok(p) = RtpPacket::parse(buf) else {
            return Received::Other;
        };
        self.received += 1;
        self.track_sequence(p.sequence);
        if Some(p.payload_type) != Some(self.payload_type) {
            return Received::Other;
        }
        match (source, self.tones.as_mut()) {
            (Source::Tones(bank), Some(tones)) => {
                tones.check(bank, p.payload, now, &mut self.frames)
            }
            (Source::Signed(template), _) => self.frames.check(template, p.payload, now),
            (Source::Tones(_), None) => Received::Other,
        }
    }

    fn track_sequence(&mut self, seq: u16) {
        match self.first_seq {
            None => {
                self.first_seq = Some(seq);
                self.highest = u32::from(seq);
            }
            Some(_) => {
                let last = self.highest as u16;
                let ahead = seq.wrapping_sub(last);
                // Forward by less than half the space: newer (possibly across a wrap).
                if ahead != 0 && ahead < 0x8000 {
                    self.highest = self.highest.wrapping_add(u32::from(ahead));
                }
            }
        }
    }

    /// Packets the node sent that never arrived, judged by sequence numbers.
    pub fn lost(&self) -> u64 {
        let Some(first) = self.first_seq else {
            return 0;
        };
        let expected = u64::from(self.highest.wrapping_sub(u32::from(first))) + 1;
        expected.saturating_sub(self.received)
    }

    /// Packets the node should have sent, judged by sequence numbers.
    pub fn expected(&self) -> u64 {
        self.first_seq
            .map(|first| u64::from(self.highest.wrapping_sub(u32::from(first))) + 1)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::Law;
    use std::time::Duration;

    fn echo(packet: &[u8], seq: u16) -> Vec<u8> {
        let p = RtpPacket::parse(packet).unwrap();
        let mut out = [0u8; 200];
        let n = RtpHeader {
            payload_type: p.payload_type,
            marker: false,
            sequence: seq,
            timestamp: 0,
            ssrc: 99,
        }
        .build(p.payload, &mut out)
        .unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn own_frames_come_back_as_echoes_with_rtt_and_loss_counts_gaps() {
        let t = Source::Signed(FrameTemplate::new(Law::Ulaw));
        let mut a = Media::new("127.0.0.1:4000".parse().unwrap(), 0, Some(101), 1);
        let mut b = Media::new("127.0.0.1:4002".parse().unwrap(), 0, Some(101), 2);
        let now = Instant::now();
        let pa = a.next_packet(&t, now).to_vec();
        let pb = b.next_packet(&t, now).to_vec();
        let later = now + Duration::from_millis(40);
        assert_eq!(
            a.on_packet(&t, &echo(&pa, 10), later),
            Received::Echo {
                rtt: Some(Duration::from_millis(40))
            }
        );
        assert_eq!(a.on_packet(&t, &echo(&pb, 12), later), Received::Foreign);
        assert_eq!(a.on_packet(&t, &[0x80, 200, 0, 0], later), Received::Other);
        assert_eq!((a.frames.echoed, a.frames.foreign, a.received), (1, 1, 2));
        assert_eq!(a.expected(), 3);
        assert_eq!(a.lost(), 1, "sequence 11 never came");
    }

    #[test]
    fn a_key_press_sends_events_then_audio_resumes() {
        let t = Source::Signed(FrameTemplate::new(Law::Ulaw));
        let mut m = Media::new("127.0.0.1:4000".parse().unwrap(), 0, Some(101), 3);
        let now = Instant::now();
        m.next_packet(&t, now);
        m.press('0');
        let mut events = 0;
        loop {
            let p = m.next_packet(&t, now).to_vec();
            let p = RtpPacket::parse(&p).unwrap();
            if p.payload_type != 101 {
                break;
            }
            assert_eq!(p.payload[0], 0, "digit 0");
            events += 1;
        }
        assert_eq!(
            events,
            4 + 3,
            "start and updates to 100 ms, then three ends"
        );
    }
}
