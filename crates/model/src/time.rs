//! The product's time zone. Municipal business runs on Japan time: policy
//! windows, schedules, receipts, `ls -l` and the auditor's tables all read
//! and show times in Asia/Tokyo, whatever the machine's own zone.

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// Asia/Tokyo (UTC+9 without the zone database: Japan has no DST).
pub fn zone() -> TimeZone {
    TimeZone::get("Asia/Tokyo").unwrap_or(TimeZone::fixed(jiff::tz::offset(9)))
}

/// `at` as seen in Asia/Tokyo.
pub fn tokyo(at: Timestamp) -> Zoned {
    at.to_zoned(zone())
}
