//! The `[calendar]` table: closed days (閉庁日).
//!
//! National holidays and the year-end closure are days on which the
//! municipalities and the standard system do not work, yet they fall on
//! weekdays. A route can skip its scheduled runs and expected-file
//! deadlines on them (`on_closed_days = "skip"`), and a policy window can
//! say `business` (開庁日: Monday to Friday, closed days excepted).
//!
//! The list comes from `holidays_file` — the Cabinet Office's
//! 「国民の祝日」CSV (`syukujitsu.csv`, Shift_JIS as published, or UTF-8),
//! or any file with one date per line — and from `closed`, dates written
//! in the configuration (年末年始, the municipality's own closures).
//! Without a `[calendar]` no day is closed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jiff::civil::{Date, Weekday};
use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;

/// Closed days, as dates in Asia/Tokyo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    closed: BTreeSet<Date>,
    /// The holidays file read, if any.
    pub file: Option<PathBuf>,
}

impl Calendar {
    /// Whether `day` is listed as closed (weekends are not listed; the
    /// schedules and windows name the weekdays they want).
    pub fn is_closed(&self, day: Date) -> bool {
        self.closed.contains(&day)
    }

    /// Monday to Friday and not closed (開庁日).
    pub fn is_business_day(&self, day: Date) -> bool {
        !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) && !self.is_closed(day)
    }

    /// A calendar of just these closed days.
    pub fn with_closed(days: impl IntoIterator<Item = Date>) -> Calendar {
        Calendar {
            closed: days.into_iter().collect(),
            file: None,
        }
    }

    /// How many closed days are listed, and the first and last of them.
    pub fn span(&self) -> Option<(usize, Date, Date)> {
        Some((
            self.closed.len(),
            *self.closed.first()?,
            *self.closed.last()?,
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    holidays_file: Option<Spanned<String>>,
    #[serde(default)]
    closed: Vec<Spanned<String>>,
}

/// `2026-11-23`, `2026/11/23` or `2026/1/1`.
fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim().trim_matches('"');
    let mut parts = s.split(['-', '/']);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

/// The file's text: UTF-8 (a BOM is dropped) or, failing that, Shift_JIS
/// as the Cabinet Office publishes it.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.trim_start_matches('\u{feff}').to_string(),
        Err(_) => encoding_rs::SHIFT_JIS.decode(bytes).0.into_owned(),
    }
}

/// Reads a holidays file: the first comma-separated field of each line is
/// a date; a first line that is not one is a header; blank lines and
/// lines starting with `#` are skipped.
fn read_holidays(path: &Path) -> Result<BTreeSet<Date>, ConfigError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    parse_holidays(&file, &bytes)
}

/// A holidays file's days, from its bytes; `file` names it in an error.
pub fn parse_holidays(file: &str, bytes: &[u8]) -> Result<BTreeSet<Date>, ConfigError> {
    let file = file.to_string();
    let mut days = BTreeSet::new();
    for (i, line) in decode(bytes).lines().enumerate() {
        let first = line.split(',').next().unwrap_or("").trim();
        if first.is_empty() || first.starts_with('#') {
            continue;
        }
        match parse_date(first) {
            Some(d) => {
                days.insert(d);
            }
            None if i == 0 => {}
            None => {
                return Err(ConfigError::Invalid {
                    file,
                    line: i + 1,
                    column: 1,
                    message: format!(
                        "{first:?} is not a date: each line starts with one, such as 2026/11/23 or 2026-11-23"
                    ),
                });
            }
        }
    }
    Ok(days)
}

impl RawCalendar {
    /// Errors in the configuration come back as (span, message); errors in
    /// the holidays file name that file and line.
    pub(super) fn resolve(
        &self,
        resolve_path: &dyn Fn(&str) -> PathBuf,
    ) -> Result<Result<Calendar, (std::ops::Range<usize>, String)>, ConfigError> {
        let mut cal = Calendar::default();
        if let Some(f) = &self.holidays_file {
            let path = resolve_path(f.get_ref());
            cal.closed = read_holidays(&path)?;
            cal.file = Some(path);
        }
        for c in &self.closed {
            match parse_date(c.get_ref()) {
                Some(d) => {
                    cal.closed.insert(d);
                }
                None => {
                    return Ok(Err((
                        c.span(),
                        format!(
                            "calendar.closed: {:?} is not a date such as \"2026-12-29\"",
                            c.get_ref()
                        ),
                    )));
                }
            }
        }
        Ok(Ok(cal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cabinet_office_csv_is_read_in_shift_jis() {
        let text = "国民の祝日・休日月日,国民の祝日・休日名称\r\n2026/1/1,元日\r\n2026/11/23,勤労感謝の日\r\n";
        let (sjis, _, bad) = encoding_rs::SHIFT_JIS.encode(text);
        assert!(!bad);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("syukujitsu.csv");
        std::fs::write(&path, &sjis).unwrap();
        let days = read_holidays(&path).unwrap();
        assert_eq!(days.len(), 2);
        assert!(days.contains(&Date::new(2026, 11, 23).unwrap()));
        let cal = Calendar {
            closed: days,
            file: None,
        };
        assert!(
            !cal.is_business_day(Date::new(2026, 11, 23).unwrap()),
            "a Monday holiday"
        );
        assert!(cal.is_business_day(Date::new(2026, 11, 24).unwrap()));
        assert!(
            !cal.is_business_day(Date::new(2026, 11, 21).unwrap()),
            "Saturday"
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.csv");
        std::fs::write(&path, "date,name\n2026/1/1,元日\n2026/13/1,no such month\n").unwrap();
        let err = read_holidays(&path).unwrap_err().to_string();
        assert!(
            err.contains("h.csv:3:1") && err.contains("2026/13/1"),
            "{err}"
        );
    }
}
