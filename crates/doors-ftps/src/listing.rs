//! What `LIST`, `NLST`, `MLSD`, `MLST`, `MDTM` and `MFMT` say of a name.
//!
//! `LIST` lines are the SFTP door's `ls -l` lines, so both doors show a
//! directory alike. Machine-readable facts (RFC 3659) are in UTC, as the
//! RFC requires; `LIST` shows Asia/Tokyo, as `ls` there would.

use jiff::Timestamp;

use renkei_core::namespace::{EntryInfo, EntryKind};

/// `YYYYMMDDHHMMSS` in UTC (RFC 3659 `time-val`).
pub(super) fn time_val(mtime: i64) -> String {
    Timestamp::from_second(mtime)
        .map(|t| t.strftime("%Y%m%d%H%M%S").to_string())
        .unwrap_or_else(|_| "19700101000000".into())
}

/// Parses an `MFMT` time (`YYYYMMDDHHMMSS`, UTC; fractions ignored).
pub(super) fn parse_time_val(s: &str) -> Option<i64> {
    let s = s.split('.').next()?;
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i16>().ok();
    let dt = jiff::civil::DateTime::new(
        n(0..4)?,
        i8::try_from(n(4..6)?).ok()?,
        i8::try_from(n(6..8)?).ok()?,
        i8::try_from(n(8..10)?).ok()?,
        i8::try_from(n(10..12)?).ok()?,
        i8::try_from(n(12..14)?).ok()?,
        0,
    )
    .ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// One `LIST` line.
pub(super) fn list_line(e: &EntryInfo, owner: &str) -> String {
    renkei_core::door::listing::longname(e, owner)
}

/// RFC 3659 facts and the name, as in an `MLSD` line. `perm` says what
/// the namespace could allow; the rules may still refuse.
pub(super) fn facts(e: &EntryInfo, name: &str) -> String {
    let (kind, perm) = match e.kind {
        EntryKind::Dir => ("dir", "cdeflmp"),
        EntryKind::File => ("file", "adfrw"),
    };
    format!(
        "type={kind};size={};modify={};perm={perm}; {name}",
        e.size,
        time_val(e.mtime)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(time_val(1_795_000_000), "20261118110640");
        assert_eq!(parse_time_val("20261118110640"), Some(1_795_000_000));
        assert_eq!(parse_time_val("20261118110640.123"), Some(1_795_000_000));
        assert_eq!(parse_time_val("2026110209064"), None);
        assert_eq!(parse_time_val("20261302090640"), None);
    }

    #[test]
    fn mlsd_facts() {
        let d = EntryInfo::dir("a", 0);
        assert_eq!(
            facts(&d, "a"),
            "type=dir;size=0;modify=19700101000000;perm=cdeflmp; a"
        );
    }
}
