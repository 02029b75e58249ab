//! Segment files: `segment-000001.jsonl`, `segment-000002.jsonl`, … in the
//! audit directory; the chain runs through them in number order. Every
//! segment but the newest ends with a checkpoint. After old segments are
//! pruned, `anchor.json` holds the last checkpoint of the newest pruned
//! segment: the signed point the remaining chain continues from.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const ANCHOR: &str = "anchor.json";

pub fn name(n: u64) -> String {
    format!("segment-{n:06}.jsonl")
}

pub fn path(dir: &Path, n: u64) -> PathBuf {
    dir.join(name(n))
}

/// The segment numbers present, ascending.
pub fn list(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().to_string();
        if let Some(n) = name
            .strip_prefix("segment-")
            .and_then(|r| r.strip_suffix(".jsonl"))
            .and_then(|d| d.parse().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Where the remaining chain starts after pruning.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Anchor {
    /// The newest pruned segment.
    pub segment: u64,
    /// Its last record: a checkpoint line, verified like any other.
    pub line: String,
}

pub fn read_anchor(dir: &Path) -> io::Result<Option<Anchor>> {
    match std::fs::read_to_string(dir.join(ANCHOR)) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{ANCHOR} is unreadable: {e}"),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Splits a segment's bytes into complete lines and what follows the last
/// newline (a torn tail when not empty).
pub fn split_lines(bytes: &[u8]) -> (Vec<(usize, &[u8])>, &[u8]) {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            lines.push((start, &bytes[start..i]));
            start = i + 1;
        }
    }
    (lines, &bytes[start..])
}
