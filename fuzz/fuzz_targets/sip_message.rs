#![no_main]
// Placeholder: filled by the issue that owns this target.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
