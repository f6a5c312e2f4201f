//! Wall-clock time as GitHub writes it: UTC epoch seconds (rate-limit resets, token expiries), and
//! epoch milliseconds where ghpool keeps times itself (shared cache entries, leases in Redis).
//! Must never: be used to measure durations (that is `Instant`'s job).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in UTC epoch seconds (0 if the clock is before 1970).
pub fn now_epoch() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `t` in UTC epoch milliseconds (0 before 1970).
pub fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Now, in UTC epoch milliseconds.
pub fn now_millis() -> u64 {
    epoch_millis(SystemTime::now())
}
