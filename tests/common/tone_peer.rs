//! A media peer of the test that plays a tone: it waits for the first RTP packet on its socket
//! and then sends PCMU frames of a sine back to where that packet came from, paced at 20 ms,
//! until it is finished. Plus the tone measurements the content checks use.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The peer, running on a thread of its own.
pub struct TonePeer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    done: Arc<AtomicBool>,
    thread: JoinHandle<usize>,
}

impl TonePeer {
    /// Binds the socket and starts the thread; the tone is `hz` at peak `amplitude`.
    pub fn start(hz: f64, amplitude: f64) -> TonePeer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let thread = std::thread::spawn(move || play(&socket, hz, amplitude, &stop));
        TonePeer { port, done, thread }
    }

    /// Stops the peer; the RTP packets it received.
    pub fn finish(self) -> usize {
        self.done.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn play(socket: &UdpSocket, hz: f64, amplitude: f64, done: &AtomicBool) -> usize {
    let mut buf = [0u8; 2048];
    let mut received = 0;
    let mut peer = None;
    let mut sent = 0usize;
    let mut start = Instant::now();
    while !done.load(Ordering::Relaxed) {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            if n >= 12 {
                received += 1;
                if peer.is_none() {
                    start = Instant::now();
                }
                peer.get_or_insert(from);
            }
        }
        let Some(to) = peer else { continue };
        while start + Duration::from_millis(sent as u64 * 20) <= Instant::now() {
            let mut pkt = vec![0x80, 0];
            pkt.extend_from_slice(&(sent as u16).to_be_bytes());
            pkt.extend_from_slice(&(sent as u32 * 160).to_be_bytes());
            pkt.extend_from_slice(&0x7a7a_7a7au32.to_be_bytes());
            pkt.extend(ulaw_tone(hz, amplitude, sent));
            let _ = socket.send_to(&pkt, to);
            sent += 1;
        }
    }
    received
}

/// Frame `n` (20 ms, 8 kHz µ-law) of a sine of `hz` at peak `amplitude`.
pub fn ulaw_tone(hz: f64, amplitude: f64, n: usize) -> Vec<u8> {
    (0..160)
        .map(|i| {
            let t = (n * 160 + i) as f64 / 8000.0;
            let s = (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
            voxgate_codecs::g711::ulaw_encode_sample(s)
        })
        .collect()
}

/// The peak amplitude of the `hz` component of 8 kHz µ-law `payload` (Goertzel).
pub fn ulaw_tone_level(payload: &[u8], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &b in payload {
        let x = f64::from(voxgate_codecs::g711::ulaw_decode_sample(b));
        let s = x + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    2.0 * power.max(0.0).sqrt() / payload.len().max(1) as f64
}
