//! Time windows in Asia/Tokyo for policy rules.
//!
//! Written as `"Mon-Fri 06:00-22:00"`, `"Sat,Sun 08:00-12:00"`,
//! `"daily 00:00-24:00"`, `"月-金 06:00-22:00"`, or just `"06:00-22:00"`
//! (every day) or `"Mon-Fri"` (all day). `"business 08:30-17:15"` (or
//! `"開庁日 08:30-17:15"`) is Monday to Friday without the closed days of
//! `[calendar]` (national holidays, 年末年始). A window whose end is before its
//! start runs past midnight: `"Mon-Fri 22:00-06:00"` is Monday 22:00 to
//! Tuesday 06:00, …, Friday 22:00 to Saturday 06:00. Times are local to
//! Asia/Tokyo whatever the server's time zone.

use jiff::Zoned;
use jiff::civil::{Date, Weekday};

use renkei_config::calendar::Calendar;

/// One window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    source: String,
    /// Monday first.
    days: [bool; 7],
    /// Closed days of the calendar do not count.
    business: bool,
    /// Minutes after midnight; `end` may be 1440 (24:00).
    start: u32,
    end: u32,
}

const DAYS: [(&str, &str); 7] = [
    ("mon", "月"),
    ("tue", "火"),
    ("wed", "水"),
    ("thu", "木"),
    ("fri", "金"),
    ("sat", "土"),
    ("sun", "日"),
];

const FULL_DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Monday = 0. Accepts `Mon`, `monday`, `月`, `月曜`, `月曜日`.
fn day(s: &str) -> Option<usize> {
    let l = s.to_lowercase();
    (0..7).find(|&i| {
        let (en, ja) = DAYS[i];
        l == en
            || l == FULL_DAYS[i]
            || s == ja
            || s == format!("{ja}曜")
            || s == format!("{ja}曜日")
    })
}

fn parse_days(s: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    if matches!(s.to_lowercase().as_str(), "daily" | "*" | "毎日") {
        return Ok([true; 7]);
    }
    for part in s.split(',') {
        let part = part.trim();
        let bad = || {
            format!(
                "{part:?} is not a day or day range: use Mon..Sun (or 月..日), e.g. \"Mon-Fri\" or \"Sat,Sun\""
            )
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (
                    day(a.trim()).ok_or_else(bad)?,
                    day(b.trim()).ok_or_else(bad)?,
                );
                let mut i = a;
                loop {
                    days[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            None => days[day(part).ok_or_else(bad)?] = true,
        }
    }
    Ok(days)
}

fn parse_time(s: &str) -> Result<u32, String> {
    let bad = || format!("{s:?} is not a time: use HH:MM (00:00 to 24:00)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl Window {
    pub fn parse(s: &str) -> Result<Window, String> {
        let s_trim = s.trim();
        let (days_part, time_part) = match s_trim.rsplit_once(' ') {
            Some((d, t)) => (Some(d.trim()), Some(t.trim())),
            None if s_trim.contains(':') => (None, Some(s_trim)),
            None => (Some(s_trim), None),
        };
        let business =
            days_part.is_some_and(|d| matches!(d.to_lowercase().as_str(), "business" | "開庁日"));
        let days = match days_part {
            Some(_) if business => [true, true, true, true, true, false, false],
            Some(d) => parse_days(d)?,
            None => [true; 7],
        };
        let (start, end) = match time_part {
            None => (0, 1440),
            Some(t) => {
                let (a, b) = t.split_once('-').ok_or_else(|| {
                    format!("{t:?} is not a time range: use HH:MM-HH:MM, e.g. \"06:00-22:00\"")
                })?;
                (parse_time(a.trim())?, parse_time(b.trim())?)
            }
        };
        if start == end {
            return Err(format!("window {s:?} is empty (it starts when it ends)"));
        }
        if start == 1440 {
            return Err(format!("window {s:?} starts at 24:00; use 00:00"));
        }
        Ok(Window {
            source: s.to_string(),
            days,
            business,
            start,
            end,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `at` (any zone; judged in Asia/Tokyo) is inside.
    pub fn contains(&self, at: &Zoned, calendar: &Calendar) -> bool {
        let minute = u32::from(at.hour() as u8) * 60 + u32::from(at.minute() as u8);
        let today = at.date();
        let day_counts = |d: Date| {
            self.days[weekday_index(d.weekday())] && !(self.business && calendar.is_closed(d))
        };
        if self.start < self.end {
            day_counts(today) && minute >= self.start && minute < self.end
        } else {
            (day_counts(today) && minute >= self.start)
                || (today.yesterday().is_ok_and(day_counts) && minute < self.end)
        }
    }
}

fn weekday_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Zoned {
        renkei_model::time::tokyo(s.parse::<jiff::Timestamp>().unwrap())
    }

    #[test]
    fn weekday_window() {
        let w = Window::parse("Mon-Fri 06:00-22:00").unwrap();
        // 2026-11-20 is a Friday.
        assert!(w.contains(&at("2026-11-20T06:00:00+09:00"), &Calendar::default()));
        assert!(w.contains(&at("2026-11-20T21:59:59+09:00"), &Calendar::default()));
        assert!(!w.contains(&at("2026-11-20T22:00:00+09:00"), &Calendar::default()));
        assert!(
            !w.contains(&at("2026-11-21T10:00:00+09:00"), &Calendar::default()),
            "Saturday"
        );
        // Judged in Tokyo whatever the offset it is written in.
        assert!(
            w.contains(&at("2026-11-19T23:30:00Z"), &Calendar::default()),
            "Fri 08:30 JST"
        );
    }

    #[test]
    fn business_days_leave_out_closed_days() {
        // 2026-11-23 (Monday) is 勤労感謝の日.
        let cal = Calendar::with_closed([Date::new(2026, 11, 23).unwrap()]);
        let w = Window::parse("business 08:30-17:15").unwrap();
        assert!(
            !w.contains(&at("2026-11-23T10:00:00+09:00"), &cal),
            "holiday"
        );
        assert!(w.contains(&at("2026-11-24T10:00:00+09:00"), &cal));
        assert!(
            !w.contains(&at("2026-11-21T10:00:00+09:00"), &cal),
            "Saturday"
        );
        // Named weekdays are not affected by the calendar.
        let mon_fri = Window::parse("Mon-Fri 08:30-17:15").unwrap();
        assert!(mon_fri.contains(&at("2026-11-23T10:00:00+09:00"), &cal));
        // Overnight: the early hours belong to the closed day before.
        let night = Window::parse("開庁日 22:00-06:00").unwrap();
        assert!(!night.contains(&at("2026-11-24T05:00:00+09:00"), &cal));
        assert!(night.contains(&at("2026-11-25T05:00:00+09:00"), &cal));
    }

    #[test]
    fn overnight_and_forms() {
        let w = Window::parse("Mon-Fri 22:00-06:00").unwrap();
        assert!(
            w.contains(&at("2026-11-20T23:00:00+09:00"), &Calendar::default()),
            "Fri night"
        );
        assert!(
            w.contains(&at("2026-11-21T05:00:00+09:00"), &Calendar::default()),
            "Sat early is Fri's window"
        );
        assert!(
            !w.contains(&at("2026-11-22T05:00:00+09:00"), &Calendar::default()),
            "Sun early belongs to Sat"
        );
        assert!(
            Window::parse("月-金 06:00-22:00")
                .unwrap()
                .contains(&at("2026-11-20T07:00:00+09:00"), &Calendar::default())
        );
        assert!(
            Window::parse("06:00-07:00")
                .unwrap()
                .contains(&at("2026-11-22T06:30:00+09:00"), &Calendar::default())
        );
        assert!(
            Window::parse("Sat,Sun")
                .unwrap()
                .contains(&at("2026-11-22T23:59:00+09:00"), &Calendar::default())
        );
        assert!(
            Window::parse("daily 00:00-24:00")
                .unwrap()
                .contains(&at("2026-11-22T23:59:00+09:00"), &Calendar::default())
        );
        assert!(
            Window::parse("Fri-Mon 10:00-11:00")
                .unwrap()
                .contains(&at("2026-11-22T10:30:00+09:00"), &Calendar::default())
        );
    }

    #[test]
    fn errors() {
        assert!(
            Window::parse("Mon-Fry 06:00-22:00")
                .unwrap_err()
                .contains("not a day")
        );
        assert!(
            Window::parse("Mon 6-22")
                .unwrap_err()
                .contains("not a time")
        );
        assert!(Window::parse("Mon 25:00-26:00").is_err());
        assert!(
            Window::parse("Mon 10:00-10:00")
                .unwrap_err()
                .contains("empty")
        );
    }
}
