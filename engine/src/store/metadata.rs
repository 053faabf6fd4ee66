//! Metadata handoff: JSON stored under a contact-center contact id for a limited time.
//!
//! The Amazon Connect profile writes the call's metadata here before it sends BYE; the flow that
//! resumes reads it back through `GET /metadata/{contactId}`. Records expire: Redis with `SET PX`,
//! SQLite with an `expires_at_ms` column checked on read and purged lazily on write.

use std::time::Duration;

use super::StoreError;

/// The TTL of a metadata record unless configured otherwise (24 h).
pub const DEFAULT_METADATA_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The TTL in whole milliseconds; zero (or sub-millisecond) TTLs are refused rather than stored as
/// already-expired records, and absurd ones are refused rather than overflowing.
pub(crate) fn ttl_ms(ttl: Duration) -> Result<i64, StoreError> {
    let ms = ttl.as_millis();
    if ms == 0 {
        return Err(StoreError::Invalid(
            "metadata TTL must be at least 1 ms".into(),
        ));
    }
    // Ten years: far beyond any sensible handoff and far from i64 overflow when added to `now`.
    const MAX_MS: u128 = 10 * 365 * 24 * 3600 * 1000;
    if ms > MAX_MS {
        return Err(StoreError::Invalid(format!(
            "metadata TTL {ms} ms is too long"
        )));
    }
    // In range by the check above.
    Ok(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_bounds() {
        assert!(ttl_ms(Duration::ZERO).is_err());
        assert!(ttl_ms(Duration::from_micros(999)).is_err());
        assert_eq!(ttl_ms(Duration::from_millis(1)).unwrap(), 1);
        assert_eq!(ttl_ms(DEFAULT_METADATA_TTL).unwrap(), 86_400_000);
        assert!(ttl_ms(Duration::from_secs(u64::MAX)).is_err());
    }
}
