#![no_main]
//! Arbitrary bytes through the SDP parser, and whatever parses through offer/answer.

use voxgate_engine::sdp::{
    answer, build_offer, process_answer, AnswerPolicy, Direction, SdpSession, SessionDescription,
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
