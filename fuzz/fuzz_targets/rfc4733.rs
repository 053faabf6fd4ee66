#![no_main]
//! Arbitrary telephone-event packets into the payload decoder and the receive state machine.
//! Input: records of 6 bytes (2-byte timestamp step, 4-byte payload), the last record may be
//! short. Nothing may panic, and no event is detected twice or ended twice.

use voxgate_codecs::rfc4733::{DtmfEvent, DtmfReceiver, TelephoneEvent};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(e) = TelephoneEvent::decode(data) {
        let round = TelephoneEvent::decode(&e.encode()).expect("own encoding decodes");
        assert_eq!(round, e);
    }
    let mut rx = DtmfReceiver::new();
    let mut ts: u32 = 0;
    let mut detected: Option<u32> = None;
    let mut ended = false;
    for rec in data.chunks(6) {
        let (step, payload) = rec.split_at(rec.len().min(2));
        if step.len() == 2 {
            // Mostly small forward steps, sometimes a backwards jump.
            let s = u16::from_be_bytes([step[0], step[1]]);
            ts = ts
                .wrapping_add(u32::from(s) * 20)
                .wrapping_sub(if s & 0x8000 != 0 { 400_000 } else { 0 });
        }
        match rx.on_packet(ts, payload) {
            Ok(Some(DtmfEvent::Began(t))) | Ok(Some(DtmfEvent::Complete(t))) => {
                assert_ne!(detected, Some(t.timestamp), "double detection");
                detected = Some(t.timestamp);
                ended = false;
            }
            Ok(Some(DtmfEvent::Ended(_))) => {
                assert!(detected.is_some() && !ended, "end without start or twice");
                ended = true;
            }
            Ok(None) => {}
            Err(_) => assert!(payload.len() < 4),
        }
    }
});
