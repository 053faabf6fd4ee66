#![no_main]
//! Arbitrary bytes through the SDP parser, and whatever parses through offer/answer.

use voxgate_engine::sdp::{
    answer, build_offer, process_answer, AnswerPolicy, CryptoAttribute, Direction, MasterKey,
    SdpSession, SessionDescription, SrtpMode, SrtpPolicy, KEY_MATERIAL_LEN,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };

    // Printing is a fixed point after one parse.
    let printed = sdp.to_string();
    let reparsed = SessionDescription::parse(printed.as_bytes()).expect("printed SDP parses");
    assert_eq!(reparsed.to_string(), printed);

    // As an offer to our UAS.
    let policy = AnswerPolicy::default();
    match answer(&sdp, &policy) {
        Ok(ans) => {
            assert_eq!(ans.sdp.media.len(), sdp.media.len());
            let text = ans.sdp.to_string();
            assert_eq!(
                SessionDescription::parse(text.as_bytes()).as_ref(),
                Ok(&ans.sdp)
            );
        }
        Err(e) => assert!(matches!(e.status_code(), 400 | 488)),
    }

    // As an offer to an SRTP trunk (optional, then required): the a=crypto parser and the
    // SDES answer. An answer with SRTP carries our key under the offer's tag and suite.
    for mode in [SrtpMode::Optional, SrtpMode::Required] {
        let mut srtp_policy = AnswerPolicy::default();
        srtp_policy.srtp = SrtpPolicy::new(mode, MasterKey::from_bytes([7; KEY_MATERIAL_LEN]));
        match answer(&sdp, &srtp_policy) {
            Ok(ans) => {
                let text = ans.sdp.to_string();
                assert_eq!(
                    SessionDescription::parse(text.as_bytes()).as_ref(),
                    Ok(&ans.sdp)
                );
            }
            Err(e) => assert!(matches!(e.status_code(), 400 | 488)),
        }
    }
    // Every a=crypto value on its own, printed and parsed back.
    for line in data.split(|&b| b == b'\n') {
        let Some(value) = line.strip_prefix(b"a=crypto:") else {
            continue;
        };
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        if let Some(c) = CryptoAttribute::parse(value.trim_end_matches('\r')) {
            assert_eq!(CryptoAttribute::parse(&c.to_value()), Some(c.clone()));
        }
    }

    // Twice through a dialog: a re-offer of the same SDP must keep our version.
    let mut session = SdpSession::new(policy.clone());
    if let Ok((first, _)) = session.handle_offer(&sdp) {
        let (again, change) = session
            .handle_offer(&sdp)
            .expect("same offer answers again");
        assert_eq!(first.sdp, again.sdp);
        assert!(!change.is_some_and(|c| c.any()));
    }

    // As an answer to our UAC offer.
    let offer = build_offer(&policy, Direction::SendRecv).expect("default policy has codecs");
    let _ = process_answer(&offer, &sdp);
});
