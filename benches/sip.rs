//! Placeholder: filled by the issue that owns this bench.
fn main() {}
