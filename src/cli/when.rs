//! Times as an operator types them on the command line.

/// A time on the command line: RFC 3339, or a civil date-time (with or
/// without seconds, or a bare date) taken as Asia/Tokyo.
pub(crate) fn when(s: &str) -> anyhow::Result<jiff::Zoned> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(renkei_model::time::tokyo(t));
    }
    let tz = renkei_model::time::zone();
    if let Ok(civil) = s.parse::<jiff::civil::DateTime>() {
        return Ok(civil.to_zoned(tz)?);
    }
    if let Ok(date) = s.parse::<jiff::civil::Date>() {
        return Ok(date.to_zoned(tz)?);
    }
    anyhow::bail!(
        "{s:?} is not a time: use 2026-11-21T10:00:00+09:00, \"2026-11-21 10:00\" or 2026-11-21 (Asia/Tokyo)"
    )
}
