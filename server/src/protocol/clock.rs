//! The one clock of the wire contract: milliseconds since the Unix epoch.
//!
//! Message and notification timestamps (`ts`) and token deadlines are all read
//! from here, so they agree.

/// Milliseconds since the Unix epoch (0 if the system clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
