//! Progress of a long command (`ctl put`/`get` of a large file, `audit
//! verify`/`export` of a long trail) on standard error, when it is a
//! terminal; nothing at all otherwise, so scripts and logs see only the
//! result lines.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn.
const EVERY: Duration = Duration::from_millis(200);

/// One progress line, redrawn in place (`\r`) and cleared when done.
pub struct Progress {
    label: String,
    unit: Unit,
    started: Instant,
    drawn: Option<Instant>,
    shown: bool,
}

/// What is counted.
#[derive(Clone, Copy)]
pub enum Unit {
    Bytes,
    Segments,
}

impl Progress {
    /// A progress line for `label`, or one that draws nothing when
    /// standard error is not a terminal.
    pub fn new(label: impl Into<String>, unit: Unit) -> Progress {
        Progress {
            label: label.into(),
            unit,
            started: Instant::now(),
            drawn: None,
            shown: std::io::stderr().is_terminal(),
        }
    }

    /// `done` of `total` so far; the end is always drawn.
    pub fn update(&mut self, done: u64, total: u64) {
        let throttled = self.drawn.is_some_and(|t| t.elapsed() < EVERY);
        if !self.shown || (throttled && done < total) {
            return;
        }
        self.drawn = Some(Instant::now());
        let percent = (done.saturating_mul(100)).checked_div(total).unwrap_or(100);
        let what = match self.unit {
            Unit::Bytes => {
                let secs = self.started.elapsed().as_secs_f64().max(0.001);
                format!(
                    "{} / {}  {:.1} MB/s",
                    renkei_model::units::format_size(done),
                    renkei_model::units::format_size(total),
                    done as f64 / secs / 1e6
                )
            }
            Unit::Segments => format!("segment {done} of {total}"),
        };
        let filled = (percent as usize).min(100) / 5;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{}  [{}{}] {percent:>3}%  {what}",
            self.label,
            "#".repeat(filled),
            " ".repeat(20 - filled)
        );
        let _ = err.flush();
    }

    /// Clears the line (the result is printed after it).
    pub fn finish(&mut self) {
        if self.shown && self.drawn.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
        self.drawn = None;
    }
}
