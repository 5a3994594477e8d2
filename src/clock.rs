//! The one clock the store reads: wall time in milliseconds since the epoch, as JavaScript's
//! `Date.now()` gives it, because due times and ages are compared with the caller's.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in ms since the epoch (0 on a clock set before 1970).
pub fn now_ms() -> f64 {
  SystemTime::now()
    .duration_since(UNIX_EPOCH)
    .map_or(0.0, |d| d.as_millis() as f64)
}
