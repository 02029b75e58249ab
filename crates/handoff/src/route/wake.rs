//! Turning wall-clock wake-up times into sleeps and back, for the route
//! drivers (box, folder, pull) and the deadline alerts.

use std::time::Duration;

use jiff::Timestamp;

/// How long to sleep until `t` (zero when it has passed).
pub(super) fn until(t: Timestamp) -> Duration {
    let now = Timestamp::now();
    if t <= now {
        return Duration::ZERO;
    }
    Duration::try_from(t.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// The time `d` from now.
pub(super) fn later(d: Duration) -> Timestamp {
    let now = Timestamp::now();
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|s| now.checked_add(s).ok())
        .unwrap_or(now)
}
