#![no_main]
//! Arbitrary `Authorization` header values through the digest parser and, when they parse, the
//! verifier (nonce check, hashing, constant-time compare). Nothing may panic, and nothing made up
//! may authenticate.

use voxgate_engine::auth::digest::{parse_credentials, DigestAuth};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let auth = DigestAuth::new("voxgate", b"fuzz-secret", 300, &[]);
    for header in [text.to_owned(), format!("Digest {text}")] {
        if let Ok(creds) = parse_credentials(&header) {
            let verdict = auth.verify(&creds, "INVITE", 1_800_000_000, |user| {
                (user == "alice").then(|| "s3cret".to_owned())
            });
            assert!(
                verdict.is_err(),
                "made-up credentials authenticated: {header}"
            );
        }
    }
});
