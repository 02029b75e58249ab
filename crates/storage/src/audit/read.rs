//! Reading the trail back, for queries, exports and start-up checks.

use std::ops::ControlFlow;
use std::path::Path;

use super::record::{self, Parsed};
use super::segments;

/// A record as read, with where it was found.
pub struct Found<'a> {
    pub segment: u64,
    pub line_no: usize,
    pub line: &'a str,
    pub record: Parsed,
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{segment}, line {line}: {problem}")]
    Damaged {
        segment: String,
        line: usize,
        problem: String,
    },
}

/// Calls `f` for every record of segments `from_segment` onwards, in
/// order. A torn last line of the newest segment (a writer mid-append, or
/// a crash not yet repaired) is skipped; damage elsewhere stops the read.
pub fn each(
    dir: &Path,
    from_segment: u64,
    mut f: impl FnMut(Found<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let present: Vec<u64> = segments::list(dir)?
        .into_iter()
        .filter(|n| *n >= from_segment)
        .collect();
    for (i, n) in present.iter().enumerate() {
        let newest = i + 1 == present.len();
        let bytes = std::fs::read(segments::path(dir, *n))?;
        let (lines, rest) = segments::split_lines(&bytes);
        for (k, (_, raw)) in lines.iter().enumerate() {
            let damaged = |problem: String| ReadError::Damaged {
                segment: segments::name(*n),
                line: k + 1,
                problem,
            };
            let line = std::str::from_utf8(raw).map_err(|_| damaged("not UTF-8".into()))?;
            match record::parse(line) {
                Ok(record) => {
                    let found = Found {
                        segment: *n,
                        line_no: k + 1,
                        line,
                        record,
                    };
                    if f(found).is_break() {
                        return Ok(());
                    }
                }
                Err(_) if newest && k + 1 == lines.len() && rest.is_empty() => {}
                Err(e) => return Err(damaged(e.to_string())),
            }
        }
    }
    Ok(())
}

/// The newest segments worth reading to see everything since `since`
/// (records are appended in time order; older segments are skipped).
pub fn first_segment_since(dir: &Path, since: jiff::Timestamp) -> Result<u64, ReadError> {
    let present = segments::list(dir)?;
    for n in present.iter().rev() {
        let bytes = std::fs::read(segments::path(dir, *n))?;
        let (lines, _) = segments::split_lines(&bytes);
        let first = lines
            .first()
            .and_then(|(_, l)| std::str::from_utf8(l).ok())
            .and_then(|l| record::parse(l).ok());
        if first.is_some_and(|p| p.ts.parse::<jiff::Timestamp>().is_ok_and(|t| t < since)) {
            return Ok(*n);
        }
    }
    Ok(present.first().copied().unwrap_or(1))
}
