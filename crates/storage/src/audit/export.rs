//! Export of a period as a self-verifying bundle, for archiving elsewhere.
//!
//! A bundle is a header line, then the signed checkpoint the period's chain
//! starts from (the anchor), then every record from there up to and
//! including the first checkpoint after the period: a chain that begins and
//! ends at signatures, checkable with `renkei audit verify --bundle` and
//! the public key. It may include a few records just outside the period,
//! because the chain cannot skip them.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;

use jiff::Timestamp;

use super::read::{self, ReadError};
use super::segments;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no record lies in the period")]
    Empty,
    #[error(
        "the records up to --until are not all sealed by a checkpoint yet (the last one is at {0}); wait for the next checkpoint or choose an earlier --until"
    )]
    Unsealed(String),
}

/// What was exported.
#[derive(Debug, Clone)]
pub struct Exported {
    pub records: usize,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// Writes the records of `since`..`until` to `out` as a bundle (see
/// [`export_with`]).
pub fn export(
    dir: &Path,
    since: Timestamp,
    until: Timestamp,
    key_id: &str,
    out: &Path,
) -> Result<Exported, ExportError> {
    export_with(dir, since, until, key_id, out, &mut |_, _| {})
}

// Long: one pass over the segments selecting records and carrying the
// chain and checkpoint evidence an auditor verifies the export with.
/// [`export`], telling `progress` the segment being read and the newest
/// segment's number as it goes.
pub fn export_with(
    dir: &Path,
    since: Timestamp,
    until: Timestamp,
    key_id: &str,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Exported, ExportError> {
    let newest = segments::list(dir)
        .map_err(ReadError::Io)?
        .last()
        .copied()
        .unwrap_or(0);
    // The anchor before everything: what pruning left, if anything.
    let mut anchor: Option<String> = segments::read_anchor(dir)
        .map_err(ReadError::Io)?
        .map(|a| a.line);
    let mut pending: Vec<String> = Vec::new();
    let mut body: Vec<String> = Vec::new();
    let mut started = false;
    let mut closed = false;
    let mut last_checkpoint_ts = String::from("none");
    read::each(dir, 0, |f| {
        progress(f.segment, newest.max(f.segment));
        let ts = f.record.ts.parse::<Timestamp>().ok();
        let is_checkpoint = f.record.event == "checkpoint";
        if is_checkpoint {
            last_checkpoint_ts = f.record.ts.clone();
        }
        if !started {
            if ts.is_some_and(|t| t >= since) {
                started = true;
                body.append(&mut pending);
            } else {
                if is_checkpoint {
                    anchor = Some(f.line.to_string());
                    pending.clear();
                } else {
                    pending.push(f.line.to_string());
                }
                return ControlFlow::Continue(());
            }
        }
        body.push(f.line.to_string());
        if is_checkpoint && ts.is_some_and(|t| t > until) {
            closed = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    // The period may end before a checkpoint that is itself inside it.
    let last_cp = body
        .iter()
        .rposition(|l| l.contains(r#""event":"checkpoint""#));
    if let (true, false, Some(last_cp)) = (started, closed, last_cp) {
        let in_period_after = body[last_cp + 1..].iter().any(|l| {
            super::record::parse(l)
                .ok()
                .and_then(|p| p.ts.parse::<Timestamp>().ok())
                .is_some_and(|t| t <= until)
        });
        if !in_period_after {
            body.truncate(last_cp + 1);
            closed = true;
        }
    }
    if !started || body.is_empty() {
        return Err(ExportError::Empty);
    }
    if !closed {
        return Err(ExportError::Unsealed(last_checkpoint_ts));
    }
    let first = super::record::parse(&body[0]).map(|p| p.seq).unwrap_or(0);
    let last = super::record::parse(&body[body.len() - 1])
        .map(|p| p.seq)
        .unwrap_or(0);
    let tmp = out.with_extension("partial");
    let mut f = std::fs::File::create(&tmp)?;
    let header = serde_json::json!({
        "renkei_audit_bundle": 1,
        "since": since.to_string(),
        "until": until.to_string(),
        "key": key_id,
        "first_seq": first,
        "last_seq": last,
        "exported_at": Timestamp::now().to_string(),
    });
    writeln!(f, "{header}")?;
    if let Some(a) = &anchor {
        writeln!(f, "{a}")?;
    }
    for l in &body {
        writeln!(f, "{l}")?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, out)?;
    Ok(Exported {
        records: body.len(),
        first_seq: first,
        last_seq: last,
    })
}
