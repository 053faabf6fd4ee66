//! RTCP (RFC 3550 §6): sender and receiver reports, SDES CNAME and BYE, built into a caller's
//! buffer and parsed from compound packets without allocating and without ever panicking.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::RtpError;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of source description.
pub const PT_SDES: u8 = 202;
/// Packet type of goodbye.
pub const PT_BYE: u8 = 203;
/// SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;
/// Most report blocks one SR/RR can carry (5-bit count).
pub const MAX_REPORT_BLOCKS: usize = 31;

const HEADER_LEN: usize = 4;
const SENDER_INFO_LEN: usize = 20;
const REPORT_BLOCK_LEN: usize = 24;
/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp (32.32 fixed point seconds since 1900) for a wall-clock time.
pub fn ntp_timestamp(time: SystemTime) -> u64 {
    let since_unix = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since_unix.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp, the form LSR and RTT arithmetic use (RFC 3550 §6.4.1).
pub fn ntp_middle(ntp: u64) -> u32 {
    // Truncation keeps exactly the middle 32 bits, which is the definition.
    (ntp >> 16) as u32
}

/// A duration in the 1/65536-second units of DLSR, saturating.
pub fn to_ntp_short(d: Duration) -> u32 {
    let units = d.as_nanos() * 65_536 / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// 1/65536-second units back into a duration.
pub fn from_ntp_short(units: u32) -> Duration {
    Duration::from_nanos(u64::from(units) * 1_000_000_000 / 65_536)
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// The sender-information part of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wall-clock time of the report (NTP format).
    pub ntp_timestamp: u64,
    /// RTP timestamp corresponding to the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// Source the block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, as a fixed-point /256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (signed 24 bits on the wire).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received from the source.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        // Two's-complement 24-bit: the low three bytes of the clamped i32.
        let lost = self
            .cumulative_lost
            .clamp(-0x80_0000, 0x7f_ffff)
            .to_be_bytes();
        out[4] = self.fraction_lost;
        out[5..8].copy_from_slice(&lost[1..4]);
        out[8..12].copy_from_slice(&self.extended_highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        out[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }

    fn read(b: &[u8]) -> Self {
        let word = be32(b, 4);
        // Sign-extend the 24-bit field by shifting it to the top and back.
        let cumulative_lost = ((word << 8) as i32) >> 8;
        Self {
            ssrc: be32(b, 0),
            fraction_lost: (word >> 24) as u8,
            cumulative_lost,
            extended_highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            last_sr: be32(b, 16),
            delay_since_last_sr: be32(b, 20),
        }
    }
}

/// Appends RTCP packets to a caller's buffer to form one compound packet.
///
/// Each method either writes a whole packet or leaves the buffer as it was.
#[derive(Debug)]
pub struct RtcpWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> RtcpWriter<'a> {
    /// Starts an empty compound packet in `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ends the compound packet and returns its length.
    pub fn finish(self) -> usize {
        self.len
    }

    /// Reserves `body_len` bytes (a multiple of 4) after a header, returning the packet slice.
    fn packet(&mut self, count: u8, pt: u8, body_len: usize) -> Result<&mut [u8], RtpError> {
        let total = HEADER_LEN + body_len;
        debug_assert!(total.is_multiple_of(4));
        let available = self.buf.len() - self.len;
        if total > available {
            return Err(RtpError::BufferTooSmall {
                needed: self.len + total,
                available: self.buf.len(),
            });
        }
        let words = u16::try_from(total / 4 - 1)
            .map_err(|_| RtpError::InvalidArgument("RTCP packet over 256 KiB"))?;
        let start = self.len;
        self.len += total;
        let p = &mut self.buf[start..start + total];
        p[0] = 0x80 | (count & 0x1f);
        p[1] = pt;
        p[2..4].copy_from_slice(&words.to_be_bytes());
        Ok(p)
    }

    fn check_blocks(blocks: &[ReportBlock]) -> Result<u8, RtpError> {
        if blocks.len() > MAX_REPORT_BLOCKS {
            return Err(RtpError::InvalidArgument("more than 31 report blocks"));
        }
        // Bounded by MAX_REPORT_BLOCKS just above.
        Ok(blocks.len() as u8)
    }

    /// Appends a sender report.
    pub fn sender_report(
        &mut self,
        ssrc: u32,
        info: &SenderInfo,
        blocks: &[ReportBlock],
    ) -> Result<(), RtpError> {
        let count = Self::check_blocks(blocks)?;
        let p = self.packet(
            count,
            PT_SR,
            4 + SENDER_INFO_LEN + blocks.len() * REPORT_BLOCK_LEN,
        )?;
        p[4..8].copy_from_slice(&ssrc.to_be_bytes());
        p[8..16].copy_from_slice(&info.ntp_timestamp.to_be_bytes());
        p[16..20].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
        p[20..24].copy_from_slice(&info.packet_count.to_be_bytes());
        p[24..28].copy_from_slice(&info.octet_count.to_be_bytes());
        for (i, b) in blocks.iter().enumerate() {
            let at = 28 + i * REPORT_BLOCK_LEN;
            b.write(&mut p[at..at + REPORT_BLOCK_LEN]);
        }
        Ok(())
    }

    /// Appends a receiver report.
    pub fn receiver_report(&mut self, ssrc: u32, blocks: &[ReportBlock]) -> Result<(), RtpError> {
        let count = Self::check_blocks(blocks)?;
        let p = self.packet(count, PT_RR, 4 + blocks.len() * REPORT_BLOCK_LEN)?;
        p[4..8].copy_from_slice(&ssrc.to_be_bytes());
        for (i, b) in blocks.iter().enumerate() {
            let at = 8 + i * REPORT_BLOCK_LEN;
            b.write(&mut p[at..at + REPORT_BLOCK_LEN]);
        }
        Ok(())
    }

    /// Appends an SDES packet with one chunk carrying our CNAME.
    pub fn sdes_cname(&mut self, ssrc: u32, cname: &str) -> Result<(), RtpError> {
        let name_len = u8::try_from(cname.len())
            .map_err(|_| RtpError::InvalidArgument("CNAME over 255 bytes"))?;
        // ssrc + type + length + text + at least one null octet, padded to 32 bits.
        let chunk = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
        let p = self.packet(1, PT_SDES, chunk)?;
        p[4..8].copy_from_slice(&ssrc.to_be_bytes());
        p[8] = SDES_CNAME;
        p[9] = name_len;
        p[10..10 + cname.len()].copy_from_slice(cname.as_bytes());
        p[10 + cname.len()..].fill(0);
        Ok(())
    }

    /// Appends a BYE for `ssrcs` with an optional reason.
    pub fn bye(&mut self, ssrcs: &[u32], reason: Option<&str>) -> Result<(), RtpError> {
        if ssrcs.len() > MAX_REPORT_BLOCKS {
            return Err(RtpError::InvalidArgument("more than 31 SSRCs in BYE"));
        }
        let reason_len = match reason {
            Some(r) => {
                u8::try_from(r.len())
                    .map_err(|_| RtpError::InvalidArgument("BYE reason over 255 bytes"))?;
                (1 + r.len()).div_ceil(4) * 4
            }
            None => 0,
        };
        // Bounded by MAX_REPORT_BLOCKS just above.
        let p = self.packet(ssrcs.len() as u8, PT_BYE, ssrcs.len() * 4 + reason_len)?;
        for (i, s) in ssrcs.iter().enumerate() {
            p[4 + 4 * i..8 + 4 * i].copy_from_slice(&s.to_be_bytes());
        }
        if let Some(r) = reason {
            let at = 4 + 4 * ssrcs.len();
            // Checked to fit in a u8 above.
            p[at] = r.len() as u8;
            p[at + 1..at + 1 + r.len()].copy_from_slice(r.as_bytes());
            p[at + 1 + r.len()..].fill(0);
        }
        Ok(())
    }
}

/// Report blocks of an SR or RR, read lazily from the packet.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a> {
    data: &'a [u8],
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        let (block, rest) = self.data.split_at_checked(REPORT_BLOCK_LEN)?;
        self.data = rest;
        Some(ReportBlock::read(block))
    }
}

/// A parsed sender report.
#[derive(Debug, Clone)]
pub struct SenderReport<'a> {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Its sender information.
    pub info: SenderInfo,
    blocks: &'a [u8],
}

impl<'a> SenderReport<'a> {
    /// Its reception report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks { data: self.blocks }
    }
}

/// A parsed receiver report.
#[derive(Debug, Clone)]
pub struct ReceiverReport<'a> {
    /// The reporter's SSRC.
    pub ssrc: u32,
    blocks: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    /// Its reception report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks { data: self.blocks }
    }
}

/// A parsed SDES packet (structure validated at parse time).
#[derive(Debug, Clone)]
pub struct Sdes<'a> {
    chunks: &'a [u8],
    count: u8,
}

impl<'a> Sdes<'a> {
    /// Iterates `(ssrc, cname)` for every chunk that carries a CNAME.
    pub fn cnames(&self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        SdesChunks {
            data: self.chunks,
            left: self.count,
        }
        .filter_map(|(ssrc, items)| {
            SdesItems { data: items }
                .find(|(t, _)| *t == SDES_CNAME)
                .map(|(_, v)| (ssrc, v))
        })
    }
}

/// Chunks of an SDES body: `(ssrc, raw items)`.
struct SdesChunks<'a> {
    data: &'a [u8],
    left: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = (u32, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 || self.data.len() < 4 {
            return None;
        }
        self.left -= 1;
        let ssrc = be32(self.data, 0);
        let mut at = 4;
        // Walk items to the terminating null octet.
        loop {
            match self.data.get(at) {
                None => return None,
                Some(0) => break,
                Some(_) => {
                    let len = usize::from(*self.data.get(at + 1)?);
                    at += 2 + len;
                }
            }
        }
        let items = self.data.get(4..at)?;
        // Null octet(s) pad the chunk to the next 32-bit boundary.
        let end = ((at + 1).div_ceil(4) * 4).min(self.data.len());
        self.data = &self.data[end..];
        Some((ssrc, items))
    }
}

/// Items of one SDES chunk: `(type, value)`.
struct SdesItems<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, rest) = self.data.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let (value, rest) = rest.split_at_checked(usize::from(len))?;
        self.data = rest;
        Some((kind, value))
    }
}

/// A parsed BYE.
#[derive(Debug, Clone)]
pub struct Bye<'a> {
    ssrcs: &'a [u8],
    reason: Option<&'a [u8]>,
}

impl<'a> Bye<'a> {
    /// The sources leaving.
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.ssrcs.chunks_exact(4).map(|c| be32(c, 0))
    }

    /// The reason text, raw (not necessarily UTF-8).
    pub fn reason(&self) -> Option<&'a [u8]> {
        self.reason
    }
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RtcpPacket<'a> {
    /// SR.
    SenderReport(SenderReport<'a>),
    /// RR.
    ReceiverReport(ReceiverReport<'a>),
    /// SDES.
    Sdes(Sdes<'a>),
    /// BYE.
    Bye(Bye<'a>),
    /// A packet type we do not interpret (APP, feedback, XR…).
    Other {
        /// Its packet type.
        packet_type: u8,
        /// Its 5-bit count/subtype field.
        count: u8,
        /// Its body after the 4-byte header, padding removed.
        body: &'a [u8],
    },
}

/// Iterates the packets of a compound RTCP packet; yields an error once and then stops at the
/// first malformed packet.
#[derive(Debug, Clone)]
pub struct RtcpCompound<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Parses a compound RTCP packet lazily.
pub fn parse_compound(buf: &[u8]) -> RtcpCompound<'_> {
    RtcpCompound {
        rest: buf,
        failed: false,
    }
}

impl<'a> Iterator for RtcpCompound<'a> {
    type Item = Result<RtcpPacket<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let result = self.parse_one();
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

impl<'a> RtcpCompound<'a> {
    fn parse_one(&mut self) -> Result<RtcpPacket<'a>, RtpError> {
        let buf = self.rest;
        let (&[b0, pt, l0, l1], _) = buf
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(RtpError::TooShort(buf.len()))?;
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::UnsupportedVersion(version));
        }
        let count = b0 & 0x1f;
        let len = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
        let (packet, rest) = buf.split_at_checked(len).ok_or(RtpError::Truncated {
            needed: len,
            available: buf.len(),
        })?;
        self.rest = rest;
        let mut body = &packet[HEADER_LEN..];
        if b0 & 0x20 != 0 {
            let pad = *body.last().ok_or(RtpError::InvalidPadding(0))?;
            if pad == 0 || usize::from(pad) > body.len() {
                return Err(RtpError::InvalidPadding(pad));
            }
            body = &body[..body.len() - usize::from(pad)];
        }
        let count_len = usize::from(count);
        match pt {
            PT_SR => {
                let needed = 4 + SENDER_INFO_LEN + count_len * REPORT_BLOCK_LEN;
                if body.len() < needed {
                    return Err(RtpError::MalformedRtcp("SR shorter than its report count"));
                }
                let info = SenderInfo {
                    ntp_timestamp: (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8)),
                    rtp_timestamp: be32(body, 12),
                    packet_count: be32(body, 16),
                    octet_count: be32(body, 20),
                };
                Ok(RtcpPacket::SenderReport(SenderReport {
                    ssrc: be32(body, 0),
                    info,
                    blocks: &body[4 + SENDER_INFO_LEN..needed],
                }))
            }
            PT_RR => {
                let needed = 4 + count_len * REPORT_BLOCK_LEN;
                if body.len() < needed {
                    return Err(RtpError::MalformedRtcp("RR shorter than its report count"));
                }
                Ok(RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc: be32(body, 0),
                    blocks: &body[4..needed],
                }))
            }
            PT_SDES => {
                validate_sdes(body, count)?;
                Ok(RtcpPacket::Sdes(Sdes {
                    chunks: body,
                    count,
                }))
            }
            PT_BYE => {
                let ssrc_len = 4 * count_len;
                let (ssrcs, tail) = body
                    .split_at_checked(ssrc_len)
                    .ok_or(RtpError::MalformedRtcp("BYE shorter than its SSRC count"))?;
                let reason = match tail.split_first() {
                    None => None,
                    Some((&n, text)) => Some(
                        text.get(..usize::from(n))
                            .ok_or(RtpError::MalformedRtcp("BYE reason runs past the packet"))?,
                    ),
                };
                Ok(RtcpPacket::Bye(Bye { ssrcs, reason }))
            }
            _ => Ok(RtcpPacket::Other {
                packet_type: pt,
                count,
                body,
            }),
        }
    }
}

fn validate_sdes(body: &[u8], count: u8) -> Result<(), RtpError> {
    let mut data = body;
    for _ in 0..count {
        if data.len() < 4 {
            return Err(RtpError::MalformedRtcp("SDES chunk truncated"));
        }
        let mut at = 4;
        loop {
            match data.get(at) {
                None => return Err(RtpError::MalformedRtcp("SDES chunk without end")),
                Some(0) => break,
                Some(_) => {
                    let len = usize::from(
                        *data
                            .get(at + 1)
                            .ok_or(RtpError::MalformedRtcp("SDES item truncated"))?,
                    );
                    at += 2 + len;
                    if at > data.len() {
                        return Err(RtpError::MalformedRtcp("SDES item truncated"));
                    }
                }
            }
        }
        let end = ((at + 1).div_ceil(4) * 4).min(data.len());
        data = &data[end..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 25,
            cumulative_lost: lost,
            extended_highest_seq: 0x0001_0005,
            jitter: 37,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65_536 * 2,
        }
    }

    #[test]
    fn sr_sdes_bye_round_trip() {
        let info = SenderInfo {
            ntp_timestamp: 0xe000_0000_8000_0000,
            rtp_timestamp: 160_000,
            packet_count: 1000,
            octet_count: 160_000,
        };
        let blocks = [block(7, 3), block(8, -2)];
        let mut buf = [0u8; 512];
        let mut w = RtcpWriter::new(&mut buf);
        w.sender_report(0xabcd, &info, &blocks).unwrap();
        w.sdes_cname(0xabcd, "voxgate@example").unwrap();
        w.bye(&[0xabcd], Some("call ended")).unwrap();
        let len = w.finish();
        assert_eq!(len % 4, 0);

        let packets: Vec<_> = parse_compound(&buf[..len])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(packets.len(), 3);
        match &packets[0] {
            RtcpPacket::SenderReport(sr) => {
                assert_eq!(sr.ssrc, 0xabcd);
                assert_eq!(sr.info, info);
                assert_eq!(sr.report_blocks().collect::<Vec<_>>(), blocks);
            }
            other => panic!("{other:?}"),
        }
        match &packets[1] {
            RtcpPacket::Sdes(s) => assert_eq!(
                s.cnames().collect::<Vec<_>>(),
                vec![(0xabcd, &b"voxgate@example"[..])]
            ),
            other => panic!("{other:?}"),
        }
        match &packets[2] {
            RtcpPacket::Bye(b) => {
                assert_eq!(b.ssrcs().collect::<Vec<_>>(), vec![0xabcd]);
                assert_eq!(b.reason(), Some(&b"call ended"[..]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rr_round_trip_with_extreme_loss_values() {
        let blocks = [block(1, 0x7f_ffff), block(2, -0x80_0000), block(3, 0)];
        let mut buf = [0u8; 256];
        let mut w = RtcpWriter::new(&mut buf);
        w.receiver_report(99, &blocks).unwrap();
        w.receiver_report(98, &[]).unwrap();
        let len = w.finish();
        let mut it = parse_compound(&buf[..len]);
        match it.next() {
            Some(Ok(RtcpPacket::ReceiverReport(rr))) => {
                assert_eq!(rr.ssrc, 99);
                assert_eq!(rr.report_blocks().collect::<Vec<_>>(), blocks);
            }
            other => panic!("{other:?}"),
        }
        match it.next() {
            Some(Ok(RtcpPacket::ReceiverReport(rr))) => {
                assert_eq!(rr.ssrc, 98);
                assert_eq!(rr.report_blocks().count(), 0);
            }
            other => panic!("{other:?}"),
        }
        assert!(it.next().is_none());
    }

    #[test]
    fn cumulative_lost_is_clamped_on_write() {
        let mut buf = [0u8; 64];
        let mut w = RtcpWriter::new(&mut buf);
        w.receiver_report(1, &[block(2, i32::MAX)]).unwrap();
        let len = w.finish();
        let Some(Ok(RtcpPacket::ReceiverReport(rr))) = parse_compound(&buf[..len]).next() else {
            panic!()
        };
        assert_eq!(
            rr.report_blocks().next().unwrap().cumulative_lost,
            0x7f_ffff
        );
    }

    #[test]
    fn writer_leaves_buffer_intact_when_full() {
        let mut buf = [0u8; 40];
        let mut w = RtcpWriter::new(&mut buf);
        w.receiver_report(1, &[]).unwrap();
        assert_eq!(w.len(), 8);
        assert!(matches!(
            w.receiver_report(1, &[block(1, 0), block(2, 0)]),
            Err(RtpError::BufferTooSmall { .. })
        ));
        assert_eq!(w.len(), 8);
        assert!(w.sdes_cname(1, &"x".repeat(256)).is_err());
        assert!(w.receiver_report(1, &[block(1, 0); 32]).is_err());
        assert_eq!(w.finish(), 8);
    }

    #[test]
    fn sdes_padding_lengths() {
        for n in 0..12 {
            let name = "a".repeat(n);
            let mut buf = [0u8; 64];
            let mut w = RtcpWriter::new(&mut buf);
            w.sdes_cname(5, &name).unwrap();
            let len = w.finish();
            assert_eq!(len % 4, 0);
            let Some(Ok(RtcpPacket::Sdes(s))) = parse_compound(&buf[..len]).next() else {
                panic!("cname length {n}")
            };
            assert_eq!(s.cnames().next(), Some((5, name.as_bytes())));
        }
    }

    #[test]
    fn malformed_compounds_are_errors() {
        // Length field past the end.
        assert!(matches!(
            parse_compound(&[0x80, 201, 0, 9, 0, 0, 0, 1]).next(),
            Some(Err(RtpError::Truncated { .. }))
        ));
        // Version 1.
        assert_eq!(
            parse_compound(&[0x40, 201, 0, 1, 0, 0, 0, 1])
                .next()
                .unwrap()
                .unwrap_err(),
            RtpError::UnsupportedVersion(1)
        );
        // RR claiming one block with none present.
        assert!(parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 1])
            .next()
            .unwrap()
            .is_err());
        // Padding larger than the packet.
        assert!(parse_compound(&[0xa0, 201, 0, 1, 0, 0, 0, 9])
            .next()
            .unwrap()
            .is_err());
        // Iteration stops after the first error.
        let mut it = parse_compound(&[0x80, 201, 0, 9]);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        // BYE reason longer than the packet.
        assert!(
            parse_compound(&[0x81, 203, 0, 2, 0, 0, 0, 1, 9, b'a', 0, 0])
                .next()
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn unknown_packet_types_pass_through() {
        let buf = [0x81, 204, 0, 2, 0, 0, 0, 1, b'n', b'a', b'm', b'e'];
        match parse_compound(&buf).next() {
            Some(Ok(RtcpPacket::Other {
                packet_type: 204,
                count: 1,
                body,
            })) => assert_eq!(body.len(), 8),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ntp_helpers() {
        let t = UNIX_EPOCH + Duration::from_millis(1500);
        let ntp = ntp_timestamp(t);
        assert_eq!(ntp >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(ntp & 0xffff_ffff, 1 << 31);
        assert_eq!(
            ntp_middle(ntp),
            (((NTP_UNIX_OFFSET + 1) as u32) << 16) | 0x8000
        );
        assert_eq!(to_ntp_short(Duration::from_millis(500)), 32_768);
        assert_eq!(from_ntp_short(32_768), Duration::from_millis(500));
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            for p in parse_compound(&data) {
                if let Ok(RtcpPacket::Sdes(s)) = &p {
                    let _ = s.cnames().count();
                }
                if let Ok(RtcpPacket::Bye(b)) = &p {
                    let _ = b.ssrcs().count();
                }
            }
        }

        #[test]
        fn parse_never_panics_on_plausible_headers(
            mut data in proptest::collection::vec(any::<u8>(), 4..512),
            pt in 200u8..=204,
        ) {
            data[0] = 0x80 | (data[0] & 0x3f);
            data[1] = pt;
            let words = (data.len() / 4 - 1) as u16;
            data[2..4].copy_from_slice(&words.to_be_bytes());
            for p in parse_compound(&data) {
                match p {
                    Ok(RtcpPacket::Sdes(s)) => { let _ = s.cnames().count(); }
                    Ok(RtcpPacket::SenderReport(sr)) => { let _ = sr.report_blocks().count(); }
                    Ok(RtcpPacket::ReceiverReport(rr)) => { let _ = rr.report_blocks().count(); }
                    Ok(RtcpPacket::Bye(b)) => { let _ = b.ssrcs().count(); let _ = b.reason(); }
                    _ => {}
                }
            }
        }

        #[test]
        fn report_blocks_round_trip(ssrc: u32, fraction: u8, lost in -0x80_0000i32..=0x7f_ffff,
                                    seq: u32, jitter: u32, lsr: u32, dlsr: u32) {
            let b = ReportBlock { ssrc, fraction_lost: fraction, cumulative_lost: lost,
                extended_highest_seq: seq, jitter, last_sr: lsr, delay_since_last_sr: dlsr };
            let mut buf = [0u8; 32];
            let mut w = RtcpWriter::new(&mut buf);
            w.receiver_report(1, &[b]).unwrap();
            let len = w.finish();
            let Some(Ok(RtcpPacket::ReceiverReport(rr))) = parse_compound(&buf[..len]).next() else {
                panic!()
            };
            prop_assert_eq!(rr.report_blocks().next(), Some(b));
        }
    }
}
