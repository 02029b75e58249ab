//! When routes run: on arrival, on a cron schedule, or at an interval.
//!
//! Schedules are wall-clock times in Asia/Tokyo whatever the server's own
//! time zone, because that is how municipal batch calendars are written
//! ("02:00 on weekdays"). Japan has no daylight saving time, so every
//! local minute exists exactly once and a schedule fires once per match.
//!
//! The cron dialect is the classic five fields (minute hour day-of-month
//! month day-of-week) with `*`, numbers, ranges `a-b`, steps `*/n` and
//! `a-b/n`, lists, and the names `JAN`–`DEC` and `SUN`–`SAT`; 0 and 7 are
//! both Sunday. As in Vixie cron, when both day fields are restricted a day
//! matching either one fires.

use std::fmt;
use std::time::Duration;

use jiff::civil::{Date, DateTime};
use jiff::{Timestamp, ToSpan};

use crate::time::zone as tokyo;

/// What makes a route run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// As soon as a file arrives (and at start, for anything waiting).
    Arrival,
    /// At the times a cron expression names, in Asia/Tokyo.
    Cron(Cron),
    /// Every so often, counted from the last run (see `route::clock`).
    Every(Duration),
}

impl Trigger {
    /// The first time after `now` the trigger fires, `None` for
    /// [`Trigger::Arrival`] (it fires on events, not times).
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Trigger::Arrival => None,
            Trigger::Cron(c) => c.next_after(now),
            Trigger::Every(d) => {
                let span = jiff::SignedDuration::try_from(*d).ok()?;
                now.checked_add(span).ok()
            }
        }
    }
}

impl Trigger {
    /// The latest firing after `last` and at or before `now`: one the
    /// daemon missed, if `last` was when it last fired.
    pub fn missed(&self, last: Timestamp, now: Timestamp) -> Option<Timestamp> {
        match self {
            Trigger::Arrival => None,
            Trigger::Cron(c) => c.prev_at_or_before(now).filter(|t| *t > last),
            Trigger::Every(_) => self.next_after(last).filter(|t| *t <= now),
        }
    }
}

/// RFC 3339 in Asia/Tokyo, to the second, as the audit trail writes times.
pub fn rfc3339(t: Timestamp) -> String {
    t.to_zoned(tokyo())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Arrival => f.write_str("on arrival"),
            Trigger::Cron(c) => write!(f, "cron \"{}\" (Asia/Tokyo)", c.text),
            Trigger::Every(d) => write!(f, "every {}", crate::units::format_duration(*d)),
        }
    }
}

/// A parsed five-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// How far ahead a schedule is searched: one that matches nothing in this
/// time (e.g. `0 0 31 2 *`) is refused when parsed.
const HORIZON_DAYS: i32 = 366 * 5;

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The value the first name stands for.
    names_from: u32,
}

fn value(f: &Field, s: &str) -> Result<u32, String> {
    let upper = s.to_ascii_uppercase();
    if let Some(i) = f.names.iter().position(|n| *n == upper) {
        return Ok(f.names_from + i as u32);
    }
    let v: u32 = s
        .parse()
        .map_err(|_| format!("{}: {s:?} is not a number", f.name))?;
    if v < f.min || v > f.max {
        return Err(format!(
            "{}: {v} is out of range {}-{}",
            f.name, f.min, f.max
        ));
    }
    Ok(v)
}

/// The set of values a field allows, as bits; and whether it was `*`.
fn field(f: &Field, text: &str) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 =
                    s.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("{}: step {s:?} is not a positive number", f.name)
                    })?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            star = star || step == 1;
            (f.min, f.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(f, a)?, value(f, b)?);
            if a > b {
                return Err(format!("{}: range {range:?} runs backwards", f.name));
            }
            (a, b)
        } else {
            let a = value(f, range)?;
            // "5/15" means from 5 to the end in steps of 15.
            (a, if step > 1 { f.max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "{text:?} has {} fields; a schedule has five: minute hour day-of-month month day-of-week, e.g. \"0 2 * * MON-FRI\"",
                fields.len()
            ));
        }
        let spec = |name, min, max| Field {
            name,
            min,
            max,
            names: &[],
            names_from: 0,
        };
        let (minutes, _) = field(&spec("minute", 0, 59), fields[0])?;
        let (hours, _) = field(&spec("hour", 0, 23), fields[1])?;
        let (days, all_days) = field(&spec("day of month", 1, 31), fields[2])?;
        let months_field = Field {
            names: &MONTHS,
            names_from: 1,
            ..spec("month", 1, 12)
        };
        let (months, _) = field(&months_field, fields[3])?;
        let weekday_field = Field {
            names: &WEEKDAYS,
            names_from: 0,
            ..spec("day of week", 0, 7)
        };
        let (mut weekdays, all_weekdays) = field(&weekday_field, fields[4])?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & 0x7f;
        }
        let cron = Cron {
            text: fields.join(" "),
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_restricted: !all_days,
            weekdays_restricted: !all_weekdays,
        };
        if cron.next_after(Timestamp::UNIX_EPOCH).is_none() {
            return Err(format!("{text:?} never fires (no such date)"));
        }
        Ok(cron)
    }

    fn day_matches(&self, d: Date) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first matching minute strictly after `now`.
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let tz = tokyo();
        let local = now.to_zoned(tz.clone()).datetime();
        // Start at the next whole minute.
        let start = local
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        let mut day = start.date();
        for _ in 0..HORIZON_DAYS {
            if self.day_matches(day) {
                let from = if day == start.date() {
                    (start.hour() as u32, start.minute() as u32)
                } else {
                    (0, 0)
                };
                if let Some((h, m)) = self.first_time_from(from) {
                    let at = DateTime::from_parts(day, jiff::civil::time(h as i8, m as i8, 0, 0));
                    return tz.to_timestamp(at).ok();
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    /// The last matching minute at or before `at`.
    pub fn prev_at_or_before(&self, at: Timestamp) -> Option<Timestamp> {
        let tz = tokyo();
        let local = at.to_zoned(tz.clone()).datetime();
        let mut day = local.date();
        for i in 0..HORIZON_DAYS {
            if self.day_matches(day) {
                let until = if i == 0 {
                    (local.hour() as u32, local.minute() as u32)
                } else {
                    (23, 59)
                };
                if let Some((h, m)) = self.last_time_until(until) {
                    let t = DateTime::from_parts(day, jiff::civil::time(h as i8, m as i8, 0, 0));
                    return tz.to_timestamp(t).ok();
                }
            }
            day = day.yesterday().ok()?;
        }
        None
    }

    /// The last (hour, minute) at or before `until` on a matching day.
    fn last_time_until(&self, until: (u32, u32)) -> Option<(u32, u32)> {
        for h in (0..=until.0).rev() {
            if self.hours & (1 << h) == 0 {
                continue;
            }
            let m_max = if h == until.0 { until.1 } else { 59 };
            if let Some(m) = (0..=m_max).rev().find(|m| self.minutes & (1 << m) != 0) {
                return Some((h, m));
            }
        }
        None
    }

    /// The first (hour, minute) at or after `from` on a matching day.
    fn first_time_from(&self, from: (u32, u32)) -> Option<(u32, u32)> {
        for h in from.0..24 {
            if self.hours & (1 << h) == 0 {
                continue;
            }
            let m0 = if h == from.0 { from.1 } else { 0 };
            if let Some(m) = (m0..60).find(|m| self.minutes & (1 << m) != 0) {
                return Some((h, m));
            }
        }
        None
    }
}

/// A time as people here read it: Asia/Tokyo, to the second.
pub fn local_text(t: Timestamp) -> String {
    t.to_zoned(tokyo())
        .strftime("%Y-%m-%d %H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests;
