//! A call's signed audio frames, whatever carries them (RTP or Talkdesk `media` events): each
//! frame sent is signed with the call's tag and its frame number and remembered with its send
//! time, and each payload that comes back is checked — ours (with its round trip), another
//! call's, or no signature at all.

use std::time::{Duration, Instant};

use crate::signature::{FrameTemplate, Signature, FRAME_SAMPLES};

/// Sent frames remembered for the round-trip time; an echo older than this many frames
/// (2.56 s) is counted as echoed but gives no round-trip sample.
const RING: usize = 128;

/// What one received payload turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// One of our frames came back, `rtt` after we sent it (when still remembered).
    Echo {
        /// Round-trip time.
        rtt: Option<Duration>,
    },
    /// A frame signed by another call: audio leaked between calls.
    Foreign,
    /// Audio without a signature (the greeting, silence) or not audio at all.
    Other,
}

/// The signing and checking state of one call's frames.
#[derive(Debug)]
pub struct SignedFrames {
    tag: u16,
    frame: u16,
    sent_at: [Option<(u16, Instant)>; RING],
    /// Our frames that came back.
    pub echoed: u64,
    /// Frames of other calls that came back on this call.
    pub foreign: u64,
}

impl SignedFrames {
    /// Frames signed with `tag`.
    pub fn new(tag: u16) -> SignedFrames {
        SignedFrames {
            tag,
            frame: 0,
            sent_at: [None; RING],
            echoed: 0,
            foreign: 0,
        }
    }

    /// Writes the next signed 160-byte frame into `out`, remembering that it left at `now`.
    pub fn next(&mut self, template: &FrameTemplate, now: Instant, out: &mut [u8; FRAME_SAMPLES]) {
        let sig = Signature {
            tag: self.tag,
            frame: self.frame,
        };
        self.sent_at[usize::from(self.frame) % RING] = Some((self.frame, now));
        self.frame = self.frame.wrapping_add(1);
        template.write(sig, out);
    }

    /// Checks one payload that came back at `now`.
    pub fn check(&mut self, template: &FrameTemplate, payload: &[u8], now: Instant) -> Received {
        match template.read(payload) {
            Some(sig) if sig.tag == self.tag => {
                self.echoed += 1;
                let rtt = self.sent_at[usize::from(sig.frame) % RING]
                    .filter(|&(f, _)| f == sig.frame)
                    .map(|(_, at)| now.saturating_duration_since(at));
                Received::Echo { rtt }
            }
            Some(_) => {
                self.foreign += 1;
                Received::Foreign
            }
            None => Received::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::Law;

    #[test]
    fn own_frames_echo_with_rtt_and_others_are_foreign() {
        let t = FrameTemplate::new(Law::Ulaw);
        let mut a = SignedFrames::new(1);
        let mut b = SignedFrames::new(2);
        let now = Instant::now();
        let (mut fa, mut fb) = ([0u8; FRAME_SAMPLES], [0u8; FRAME_SAMPLES]);
        a.next(&t, now, &mut fa);
        b.next(&t, now, &mut fb);
        let later = now + Duration::from_millis(30);
        assert_eq!(
            a.check(&t, &fa, later),
            Received::Echo {
                rtt: Some(Duration::from_millis(30))
            }
        );
        assert_eq!(a.check(&t, &fb, later), Received::Foreign);
        assert_eq!(a.check(&t, &[0xFF; 160], later), Received::Other);
        assert_eq!((a.echoed, a.foreign), (1, 1));
    }
}
