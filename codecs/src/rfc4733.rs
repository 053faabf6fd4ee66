//! RFC 4733 telephone-event: payload codec, a receive state machine that reports each key
//! press exactly once, and a sender that produces the packet sequence for one digit.

use crate::error::{CodecError, Result};

/// Event code of the hook-flash (RFC 4733 §3.2).
pub const EVENT_FLASH: u8 = 16;
/// Character used for [`EVENT_FLASH`].
pub const FLASH_CHAR: char = '!';
/// How many times an end packet is sent (RFC 4733 §2.5.1.4 recommends three).
pub const END_REPEATS: usize = 3;

/// Maps an event code to its character: 0-9, `*`, `#`, A-D, and `!` for flash.
pub fn event_to_char(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        EVENT_FLASH => Some(FLASH_CHAR),
        _ => None,
    }
}

/// Maps a character (digits, `*`, `#`, A-D in either case, `!`) to its event code.
pub fn char_to_event(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(c as u8 - b'A' + 12),
        'a'..='d' => Some(c as u8 - b'a' + 12),
        FLASH_CHAR => Some(EVENT_FLASH),
        _ => None,
    }
}

/// One telephone-event payload (4 bytes on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-255; 0-16 are DTMF and flash).
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0, 0..=63.
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Wire size of one payload.
    pub const LEN: usize = 4;

    /// Parses the first four bytes of `payload` (the reserved bit is ignored, extra bytes such
    /// as padding are ignored).
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(CodecError::BadTelephoneEvent("shorter than 4 bytes"));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Serialises the payload (volume is masked to 6 bits, reserved bit 0).
    pub fn encode(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        let flags = (u8::from(self.end) << 7) | (self.volume & 0x3F);
        [self.event, flags, d[0], d[1]]
    }

    /// The character for this event, if it is DTMF or flash.
    pub fn char(&self) -> Option<char> {
        event_to_char(self.event)
    }
}

/// A detected tone as the receiver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tone {
    /// Event code.
    pub event: u8,
    /// Character, for DTMF and flash.
    pub digit: Option<char>,
    /// RTP timestamp identifying the event.
    pub timestamp: u32,
    /// Duration in RTP timestamp units known at this point.
    pub duration: u32,
    /// Volume in -dBm0.
    pub volume: u8,
}

/// What [`DtmfReceiver::on_packet`] reports. A key press yields exactly one `Began` or one
/// `Complete` (never both), and at most one `Ended` after a `Began`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEvent {
    /// First packet of a new event (digit detected).
    Began(Tone),
    /// First end packet of an event already reported as `Began`.
    Ended(Tone),
    /// First packet seen for a new event already carries the end bit (start packets lost).
    Complete(Tone),
}

#[derive(Debug, Clone, Copy)]
struct Current {
    tone: Tone,
    /// Duration accumulated over earlier segments of a long event (RFC 4733 §2.5.1.3).
    base: u32,
    ended: bool,
}

/// Receive state machine for one RTP stream's telephone-events.
#[derive(Debug, Default, Clone)]
pub struct DtmfReceiver {
    current: Option<Current>,
}

impl DtmfReceiver {
    /// A receiver with no event in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// The event in progress (not yet ended), if any.
    pub fn in_progress(&self) -> Option<Tone> {
        self.current.filter(|c| !c.ended).map(|c| c.tone)
    }

    /// Feeds one telephone-event packet with its RTP timestamp.
    ///
    /// Repeated start/update packets and retransmitted end packets are absorbed; packets of
    /// an older event arriving late are ignored; a new timestamp that continues an unfinished
    /// event of the same code within its duration is a long-event segment, not a new press.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Result<Option<DtmfEvent>> {
        let p = TelephoneEvent::decode(payload)?;
        let tone = |duration: u32| Tone {
            event: p.event,
            digit: p.char(),
            timestamp,
            duration,
            volume: p.volume,
        };
        if let Some(cur) = self.current.as_mut() {
            let delta = timestamp.wrapping_sub(cur.tone.timestamp);
            if delta == 0 {
                if cur.ended || p.event != cur.tone.event {
                    return Ok(None);
                }
                let total = cur.base.saturating_add(u32::from(p.duration));
                cur.tone.duration = cur.tone.duration.max(total);
                if p.end {
                    cur.ended = true;
                    return Ok(Some(DtmfEvent::Ended(cur.tone)));
                }
                return Ok(None);
            }
            if (delta as i32) < 0 {
                // Older than the current event: a late or retransmitted packet.
                return Ok(None);
            }
            let continues = !cur.ended
                && p.event == cur.tone.event
                && delta <= cur.tone.duration.saturating_sub(cur.base);
            if continues {
                cur.base = cur.base.saturating_add(delta);
                cur.tone.timestamp = timestamp;
                cur.tone.duration = cur
                    .tone
                    .duration
                    .max(cur.base.saturating_add(u32::from(p.duration)));
                if p.end {
                    cur.ended = true;
                    return Ok(Some(DtmfEvent::Ended(cur.tone)));
                }
                return Ok(None);
            }
        }
        let t = tone(u32::from(p.duration));
        self.current = Some(Current {
            tone: t,
            base: 0,
            ended: p.end,
        });
        Ok(Some(if p.end {
            DtmfEvent::Complete(t)
        } else {
            DtmfEvent::Began(t)
        }))
    }
}

/// One packet of a sent digit: the RTP fields the caller must set, and the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// RTP marker bit (set on the first packet of the event only).
    pub marker: bool,
    /// RTP timestamp (the same for every packet of the event).
    pub timestamp: u32,
    /// The 4-byte payload.
    pub payload: [u8; 4],
}

/// Iterator over the packets of one digit, to be sent one per packet interval (20 ms):
/// start (marker), updates with growing duration, then [`END_REPEATS`] identical end packets.
#[derive(Debug, Clone)]
pub struct DigitPackets {
    event: u8,
    volume: u8,
    timestamp: u32,
    step: u16,
    total: u16,
    next_duration: u16,
    ends_sent: usize,
}

impl DigitPackets {
    /// Packets for `digit` starting at RTP `timestamp`, lasting `duration_ms` at
    /// `clock_rate` Hz, with one packet every `interval_ms`; `volume` in -dBm0 (0..=63).
    pub fn new(
        digit: char,
        timestamp: u32,
        duration_ms: u32,
        interval_ms: u32,
        clock_rate: u32,
        volume: u8,
    ) -> Result<Self> {
        let event = char_to_event(digit).ok_or(CodecError::BadConfig("not a DTMF character"))?;
        let units = |ms: u32| u64::from(ms) * u64::from(clock_rate) / 1000;
        let total = u16::try_from(units(duration_ms))
            .map_err(|_| CodecError::BadConfig("digit longer than one event segment"))?;
        let step = u16::try_from(units(interval_ms))
            .map_err(|_| CodecError::BadConfig("packet interval too long"))?;
        if step == 0 || total == 0 || volume > 63 {
            return Err(CodecError::BadConfig(
                "zero duration/interval or volume > 63",
            ));
        }
        Ok(DigitPackets {
            event,
            volume,
            timestamp,
            step,
            total,
            next_duration: step.min(total),
            ends_sent: 0,
        })
    }
}

impl Iterator for DigitPackets {
    type Item = DtmfPacket;

    fn next(&mut self) -> Option<DtmfPacket> {
        let first = self.next_duration == self.step.min(self.total) && self.ends_sent == 0;
        if self.next_duration < self.total {
            let p = TelephoneEvent {
                event: self.event,
                end: false,
                volume: self.volume,
                duration: self.next_duration,
            };
            self.next_duration = self.next_duration.saturating_add(self.step).min(self.total);
            return Some(DtmfPacket {
                marker: first,
                timestamp: self.timestamp,
                payload: p.encode(),
            });
        }
        if self.ends_sent < END_REPEATS {
            let marker = first && self.ends_sent == 0 && self.step >= self.total;
            self.ends_sent += 1;
            let p = TelephoneEvent {
                event: self.event,
                end: true,
                volume: self.volume,
                duration: self.total,
            };
            return Some(DtmfPacket {
                marker,
                timestamp: self.timestamp,
                payload: p.encode(),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn char_mapping() {
        let all = "0123456789*#ABCD!";
        for (i, c) in all.chars().enumerate() {
            assert_eq!(event_to_char(i as u8), Some(c));
            assert_eq!(char_to_event(c), Some(i as u8));
        }
        assert_eq!(char_to_event('b'), Some(13));
        assert_eq!(event_to_char(17), None);
        assert_eq!(char_to_event('x'), None);
    }

    #[test]
    fn payload_round_trip() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 1280,
        };
        let b = e.encode();
        assert_eq!(b, [11, 0x8A, 0x05, 0x00]);
        assert_eq!(TelephoneEvent::decode(&b).unwrap(), e);
        // Reserved bit is ignored.
        assert_eq!(TelephoneEvent::decode(&[11, 0xCA, 5, 0]).unwrap(), e);
        assert!(TelephoneEvent::decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn sender_sequence() {
        let pkts: Vec<_> = DigitPackets::new('5', 1000, 100, 20, 8000, 10)
            .unwrap()
            .collect();
        let decoded: Vec<_> = pkts
            .iter()
            .map(|p| TelephoneEvent::decode(&p.payload).unwrap())
            .collect();
        let durs: Vec<u16> = decoded.iter().map(|e| e.duration).collect();
        assert_eq!(durs, [160, 320, 480, 640, 800, 800, 800]);
        let ends: Vec<bool> = decoded.iter().map(|e| e.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        assert!(pkts.iter().all(|p| p.timestamp == 1000));
        assert!(pkts[0].marker && pkts[1..].iter().all(|p| !p.marker));
        // A digit shorter than one interval: the end packets are all there is.
        let short: Vec<_> = DigitPackets::new('#', 7, 10, 20, 8000, 0)
            .unwrap()
            .collect();
        assert_eq!(short.len(), 3);
        assert!(short[0].marker && !short[1].marker);
        assert!(DigitPackets::new('x', 0, 100, 20, 8000, 10).is_err());
        assert!(DigitPackets::new('1', 0, 10_000, 20, 8000, 10).is_err());
    }

    #[test]
    fn receiver_reports_each_press_once() {
        let mut rx = DtmfReceiver::new();
        let mut began = 0;
        let mut ended = 0;
        // Two presses of the same digit, every packet duplicated, end packets repeated.
        for ts in [1000u32, 5000] {
            for p in DigitPackets::new('7', ts, 120, 20, 8000, 10).unwrap() {
                for _ in 0..2 {
                    match rx.on_packet(p.timestamp, &p.payload).unwrap() {
                        Some(DtmfEvent::Began(t)) => {
                            began += 1;
                            assert_eq!(t.digit, Some('7'));
                        }
                        Some(DtmfEvent::Ended(t)) => {
                            ended += 1;
                            assert_eq!(t.duration, 960);
                        }
                        Some(DtmfEvent::Complete(_)) => panic!("start was not lost"),
                        None => {}
                    }
                }
            }
        }
        assert_eq!((began, ended), (2, 2));
        // A late end packet of the first press after the second began: ignored.
        let late = TelephoneEvent {
            event: 7,
            end: true,
            volume: 10,
            duration: 960,
        }
        .encode();
        assert_eq!(rx.on_packet(1000, &late).unwrap(), None);
        // Start packets lost: the first end packet is the detection.
        let end = TelephoneEvent {
            event: 3,
            end: true,
            volume: 10,
            duration: 800,
        }
        .encode();
        assert!(matches!(
            rx.on_packet(9000, &end).unwrap(),
            Some(DtmfEvent::Complete(_))
        ));
        assert_eq!(rx.on_packet(9000, &end).unwrap(), None);
    }

    #[test]
    fn long_event_segments_are_one_press() {
        let mut rx = DtmfReceiver::new();
        let seg = |d: u16, end: bool| TelephoneEvent {
            event: 1,
            end,
            volume: 5,
            duration: d,
        };
        assert!(matches!(
            rx.on_packet(0, &seg(160, false).encode()).unwrap(),
            Some(DtmfEvent::Began(_))
        ));
        assert_eq!(rx.on_packet(0, &seg(0xFFFF, false).encode()).unwrap(), None);
        // Next segment starts at timestamp + 0xFFFF.
        assert_eq!(
            rx.on_packet(0xFFFF, &seg(160, false).encode()).unwrap(),
            None
        );
        match rx.on_packet(0xFFFF, &seg(320, true).encode()).unwrap() {
            Some(DtmfEvent::Ended(t)) => assert_eq!(t.duration, 0xFFFF + 320),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn payload_decode_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            match TelephoneEvent::decode(&bytes) {
                Ok(e) => {
                    prop_assert!(bytes.len() >= 4);
                    let mut expect = [bytes[0], bytes[1] & 0xBF, bytes[2], bytes[3]];
                    expect[1] &= 0xBF;
                    prop_assert_eq!(e.encode(), expect);
                    prop_assert!(e.volume <= 63);
                }
                Err(_) => prop_assert!(bytes.len() < 4),
            }
        }

        /// Whatever arrives, each timestamp is detected (Began/Complete) at most once while it
        /// stays the current event, and Ended never comes twice for one detection.
        #[test]
        fn receiver_never_double_detects(
            packets in proptest::collection::vec((0u32..6, any::<[u8; 4]>()), 0..200)
        ) {
            let mut rx = DtmfReceiver::new();
            let mut last_detect: Option<u32> = None;
            let mut ended_for: Option<u32> = None;
            for (ts_step, payload) in packets {
                let ts = ts_step * 400;
                match rx.on_packet(ts, &payload).unwrap() {
                    Some(DtmfEvent::Began(t)) | Some(DtmfEvent::Complete(t)) => {
                        prop_assert_ne!(last_detect, Some(t.timestamp));
                        last_detect = Some(t.timestamp);
                        ended_for = None;
                    }
                    Some(DtmfEvent::Ended(t)) => {
                        prop_assert!(last_detect.is_some());
                        prop_assert!(ended_for.is_none(), "double end for {}", t.timestamp);
                        ended_for = Some(t.timestamp);
                    }
                    None => {}
                }
            }
        }
    }
}
