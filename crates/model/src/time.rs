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

/// A time as a person writes it: RFC 3339, or a civil date-time (with or
/// without seconds, or a bare date) taken as Asia/Tokyo.
pub fn parse_when(s: &str) -> Result<Zoned, String> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(tokyo(t));
    }
    let tz = zone();
    if let Ok(civil) = s.parse::<jiff::civil::DateTime>() {
        return civil.to_zoned(tz).map_err(|e| e.to_string());
    }
    if let Ok(date) = s.parse::<jiff::civil::Date>() {
        return date.to_zoned(tz).map_err(|e| e.to_string());
    }
    Err(format!(
        "{s:?} is not a time: use 2026-11-21T10:00:00+09:00, \"2026-11-21 10:00\" or 2026-11-21 (Asia/Tokyo)"
    ))
}
