//! Wall-clock time as GitHub writes it: UTC epoch seconds (rate-limit resets, token expiries).
//! Must never: be used to measure durations (that is `Instant`'s job).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in UTC epoch seconds (0 if the clock is before 1970).
pub fn now_epoch() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
