//! Copies of the audit trail kept off the node: when the files are in S3,
//! every segment is copied into the bucket up to its last signed
//! checkpoint, with the public key and the anchor, so that the loss of the
//! machine does not take the trail with it. An auditor verifies a copy
//! as the trail itself (`rclone copy`, then `renkei audit verify --dir`).
//!
//! A copy never holds an unsigned record: it ends at a checkpoint, so what
//! the bucket shows is always a chain that verifies. A segment still
//! being written is copied again as it grows (the object is replaced;
//! bucket versioning keeps the earlier copies); a closed segment is
//! copied once. The daemon copies after its checkpoints, from a thread of
//! its own: the bucket being away never slows a record down.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::segments;

/// Where the copies go.
pub trait TrailCopies: Send + Sync {
    /// The copies present: name → size in bytes.
    fn sizes(&self) -> io::Result<HashMap<String, u64>>;
    /// Stores `from` as the copy `name`, replacing an older one.
    fn put(&self, name: &str, from: &mut dyn Read) -> io::Result<()>;
    /// Where, for messages (`s3://bucket/prefix at endpoint`).
    fn shown(&self) -> String;
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("audit trail copies at {at}: {source}")]
    Store { at: String, source: io::Error },
    #[error("audit trail {}: {source}", .path.display())]
    Local { path: PathBuf, source: io::Error },
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Files copied (or copied again) in this pass.
    pub copied: Vec<String>,
    pub bytes: u64,
    /// Files whose copy was already current.
    pub current: usize,
}

/// The tail read at a time when looking for the last checkpoint.
const TAIL: u64 = 1 << 20;

/// Brings the copies of the trail in `dir` up to date.
pub fn copy_signed(dir: &Path, to: &dyn TrailCopies) -> Result<CopyReport, CopyError> {
    let store = |source| CopyError::Store {
        at: to.shown(),
        source,
    };
    let local = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CopyError::Local { path, source }
    };
    let remote = to.sizes().map_err(store)?;
    let numbers = segments::list(dir).map_err(local(dir))?;
    let newest = numbers.last().copied();
    let mut wanted: Vec<(String, PathBuf, u64)> = Vec::new();
    for n in numbers {
        let path = segments::path(dir, n);
        let len = if Some(n) == newest {
            signed_len(&path).map_err(local(&path))?
        } else {
            path.metadata().map_err(local(&path))?.len()
        };
        wanted.push((segments::name(n), path, len));
    }
    for name in ["audit.pub", segments::ANCHOR] {
        let path = dir.join(name);
        if let Ok(m) = path.metadata() {
            wanted.push((name.to_string(), path, m.len()));
        }
    }
    let mut report = CopyReport::default();
    for (name, path, len) in wanted {
        if len == 0 || remote.get(&name) == Some(&len) {
            report.current += 1;
            continue;
        }
        let file = File::open(&path).map_err(local(&path))?;
        to.put(&name, &mut file.take(len)).map_err(store)?;
        report.copied.push(name);
        report.bytes += len;
    }
    Ok(report)
}

/// The length of `path` up to the end of its last checkpoint line (0 if
/// it has none): the part of a segment being written that is signed.
fn signed_len(path: &Path) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let from = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    file.take(TAIL).read_to_end(&mut tail)?;
    if let Some(end) = last_checkpoint_end(&tail) {
        return Ok(from + end);
    }
    if from == 0 {
        return Ok(0);
    }
    // No checkpoint in the last MiB (a burst of large records): read the
    // whole segment, which is bounded by `audit.segment_size`.
    let bytes = std::fs::read(path)?;
    Ok(last_checkpoint_end(&bytes).unwrap_or(0))
}

/// The offset just past the last complete checkpoint line in `bytes`.
fn last_checkpoint_end(bytes: &[u8]) -> Option<u64> {
    let (lines, _) = segments::split_lines(bytes);
    lines.iter().rev().find_map(|(start, line)| {
        let text = std::str::from_utf8(line).ok()?;
        let parsed = super::record::parse(text).ok()?;
        (parsed.event == "checkpoint").then_some((start + line.len() + 1) as u64)
    })
}
