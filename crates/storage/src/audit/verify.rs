//! Offline verification: no daemon, no secret, only the public key.
//!
//! Checks every record's hash, that each follows the one before it (seq and
//! `prev`), every checkpoint's signature, that segments are contiguous and
//! each but the newest ends with a checkpoint, and — unless the trail is
//! being written right now (`live`) — that it ends with the final
//! checkpoint of a clean stop, so that records cut off the end are noticed.
//! The first problem found is reported with where it is and what is wrong.

use std::fmt;
use std::path::Path;

use ed25519_dalek::VerifyingKey;

use super::keys;
use super::record::{self, GENESIS, Head, checkpoint_message};
use super::segments;

/// The first thing wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `segment-000003.jsonl, line 17`, or the bundle line.
    pub at: String,
    pub seq: Option<u64>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(s) => write!(f, "{} (record seq {s}): {}", self.at, self.message),
            None => write!(f, "{}: {}", self.at, self.message),
        }
    }
}

/// What a successful verification covered.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub records: u64,
    pub checkpoints: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub last_checkpoint_seq: u64,
    pub segments: usize,
    /// The chain starts at a signed anchor left by pruning.
    pub anchored: bool,
    /// The last record is the final checkpoint of a clean stop.
    pub sealed: bool,
    /// Ids of the keys that signed checkpoints, in the order they first did.
    pub signers: Vec<String>,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
}

impl Report {
    /// Records after the last checkpoint (not yet vouched for by a signature).
    pub fn unsigned(&self) -> u64 {
        self.last_seq.saturating_sub(self.last_checkpoint_seq)
    }
}

/// Walks a chain, one record at a time.
struct Chain<'k> {
    /// The keys trusted to sign checkpoints, with their ids.
    keys: Vec<(String, &'k VerifyingKey)>,
    next_seq: u64,
    prev: String,
    report: Report,
    /// The last record was a checkpoint (and a final one).
    last_checkpoint: bool,
    last_final: bool,
}

impl<'k> Chain<'k> {
    fn new(trusted: &'k [VerifyingKey]) -> Chain<'k> {
        Chain {
            keys: trusted.iter().map(|k| (keys::key_id(k), k)).collect(),
            next_seq: 1,
            prev: GENESIS.to_string(),
            report: Report::default(),
            last_checkpoint: false,
            last_final: false,
        }
    }

    fn check_signature(&mut self, h: &Head<'_>) -> Result<(), String> {
        let id = h.key.unwrap_or("");
        let Some((_, key)) = self.keys.iter().find(|(k, _)| k == id) else {
            let given: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
            return Err(format!(
                "the checkpoint is signed with key {id}, which is not among the given keys ({})",
                given.join(", ")
            ));
        };
        if h.signed_seq != Some(h.seq - 1) {
            return Err(format!(
                "the checkpoint signs seq {:?}, not the record before it ({})",
                h.signed_seq,
                h.seq - 1
            ));
        }
        if !keys::check(
            key,
            &checkpoint_message(h.seq - 1, h.prev),
            h.signature.unwrap_or(""),
        ) {
            return Err("the checkpoint's signature is not valid: the records before it, or the checkpoint, were altered".into());
        }
        if !self.report.signers.iter().any(|s| s == id) {
            self.report.signers.push(id.to_string());
        }
        Ok(())
    }

    /// Starts the chain at a signed anchor (a checkpoint line).
    fn anchor(&mut self, line: &str) -> Result<(), String> {
        let h = record::head(line).map_err(|e| e.to_string())?;
        if h.event != "checkpoint" {
            return Err("the anchor is not a checkpoint".into());
        }
        self.check_signature(&h)?;
        self.next_seq = h.seq + 1;
        self.prev = h.hash.to_string();
        self.report.anchored = true;
        self.report.last_checkpoint_seq = h.seq;
        self.report.first_seq = h.seq + 1;
        Ok(())
    }

    fn push(&mut self, line: &str) -> Result<(), (Option<u64>, String)> {
        let h = record::head(line).map_err(|e| (None, e.to_string()))?;
        let seq = Some(h.seq);
        if h.seq > self.next_seq {
            return Err((
                seq,
                format!(
                    "records {} to {} are missing (removed?)",
                    self.next_seq,
                    h.seq - 1
                ),
            ));
        }
        if h.seq < self.next_seq {
            return Err((
                seq,
                format!(
                    "seq {} comes after seq {}: a record was inserted, repeated or moved",
                    h.seq,
                    self.next_seq - 1
                ),
            ));
        }
        if h.prev != self.prev {
            return Err((seq, "the record does not follow the one before it (its prev hash differs): records were altered, inserted, removed or reordered".into()));
        }
        self.last_checkpoint = h.event == "checkpoint";
        self.last_final = self.last_checkpoint && h.last;
        if self.last_checkpoint {
            self.check_signature(&h).map_err(|m| (seq, m))?;
            self.report.checkpoints += 1;
            self.report.last_checkpoint_seq = h.seq;
        }
        if self.report.records == 0 && !self.report.anchored {
            self.report.first_seq = h.seq;
        }
        if self.report.first_ts.is_none() {
            self.report.first_ts = Some(h.ts.to_string());
        }
        let last_ts = self.report.last_ts.get_or_insert_with(String::new);
        last_ts.clear();
        last_ts.push_str(h.ts);
        self.report.records += 1;
        self.report.last_seq = h.seq;
        self.next_seq = h.seq + 1;
        self.prev.clear();
        self.prev.push_str(h.hash);
        Ok(())
    }

    fn last_is_checkpoint(&self) -> bool {
        self.last_checkpoint
    }

    fn last_is_final(&self) -> bool {
        self.last_final
    }
}

fn problem(at: String, seq: Option<u64>, message: impl Into<String>) -> Problem {
    Problem {
        at,
        seq,
        message: message.into(),
    }
}

/// Verifies the audit directory `dir` with `keys` (any of them may have signed a checkpoint). `live`: the daemon may
/// be writing, so an unsealed end (and a line being written) is accepted.
pub fn verify_dir(dir: &Path, keys: &[VerifyingKey], live: bool) -> Result<Report, Problem> {
    verify_dir_with(dir, keys, live, &mut |_, _| {})
}

/// [`verify_dir`], telling `progress` the segments verified and their
/// number after each one.
pub fn verify_dir_with(
    dir: &Path,
    keys: &[VerifyingKey],
    live: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, Problem> {
    let mut chain = Chain::new(keys);
    let io = |e: std::io::Error| problem(dir.display().to_string(), None, e.to_string());
    let mut expected_segment = 1;
    if let Some(a) = segments::read_anchor(dir).map_err(io)? {
        chain.anchor(&a.line).map_err(|m| {
            problem(
                segments::ANCHOR.to_string(),
                None,
                format!("the anchor left by pruning is not valid: {m}"),
            )
        })?;
        expected_segment = a.segment + 1;
    }
    let present = segments::list(dir).map_err(io)?;
    if present.is_empty() && !chain.report.anchored {
        return Err(problem(
            dir.display().to_string(),
            None,
            "there are no audit segments here",
        ));
    }
    for (i, n) in present.iter().enumerate() {
        let name = segments::name(*n);
        if *n != expected_segment {
            return Err(problem(
                name,
                None,
                format!(
                    "segment {expected_segment} was expected next: a segment is missing or was renamed"
                ),
            ));
        }
        expected_segment += 1;
        let newest = i + 1 == present.len();
        let bytes = std::fs::read(segments::path(dir, *n)).map_err(io)?;
        let (lines, rest) = segments::split_lines(&bytes);
        for (k, (_, raw)) in lines.iter().enumerate() {
            let at = format!("{name}, line {}", k + 1);
            let line = std::str::from_utf8(raw)
                .map_err(|_| problem(at.clone(), None, "not UTF-8: the record was altered"))?;
            // A live writer may be in the middle of its last line.
            let being_written = live && newest && k + 1 == lines.len() && rest.is_empty();
            if being_written && matches!(record::parse(line), Err(record::LineError::Torn)) {
                continue;
            }
            chain.push(line).map_err(|(seq, m)| problem(at, seq, m))?;
        }
        let cut_short = !rest.is_empty();
        if cut_short && !(live && newest) {
            return Err(problem(
                format!("{name}, line {}", lines.len() + 1),
                None,
                "the last record is incomplete: the segment was cut short",
            ));
        }
        if !newest && !chain.last_is_checkpoint() {
            return Err(problem(
                name,
                None,
                "the segment does not end with a checkpoint: it was truncated or replaced",
            ));
        }
        chain.report.segments += 1;
        progress(i as u64 + 1, present.len() as u64);
    }
    if !live && !chain.last_is_final() {
        let tail = chain.report.unsigned();
        return Err(problem(
            segments::name(present.last().copied().unwrap_or(0)),
            Some(chain.report.last_seq),
            format!(
                "the trail does not end with the final checkpoint of a clean stop ({tail} records after the last checkpoint): the daemon is running or stopped abnormally (verify with --live), or records were cut from the end"
            ),
        ));
    }
    chain.report.sealed = chain.last_is_final();
    Ok(chain.report)
}

/// Verifies an exported bundle: a header line, an optional signed anchor,
/// then records that must chain and end with a checkpoint.
pub fn verify_bundle(text: &str, keys: &[VerifyingKey]) -> Result<Report, Problem> {
    let mut lines = text.lines().enumerate();
    let at = |i: usize| format!("bundle line {}", i + 1);
    let Some((_, header)) = lines.next() else {
        return Err(problem(at(0), None, "the bundle is empty"));
    };
    let header: serde_json::Value = serde_json::from_str(header)
        .map_err(|e| problem(at(0), None, format!("not a bundle header: {e}")))?;
    if header.get("renkei_audit_bundle").and_then(|v| v.as_u64()) != Some(1) {
        return Err(problem(at(0), None, "not a renkei audit bundle (format 1)"));
    }
    let mut chain = Chain::new(keys);
    let mut first = true;
    for (i, line) in lines {
        if first {
            first = false;
            let p = record::parse(line).map_err(|e| problem(at(i), None, e.to_string()))?;
            if p.seq > 1 {
                chain.anchor(line).map_err(|m| {
                    problem(
                        at(i),
                        Some(p.seq),
                        format!("the bundle's anchor is not valid: {m}"),
                    )
                })?;
                continue;
            }
        }
        chain
            .push(line)
            .map_err(|(seq, m)| problem(at(i), seq, m))?;
    }
    if !chain.last_is_checkpoint() {
        return Err(problem(
            "bundle end".into(),
            Some(chain.report.last_seq),
            "the bundle does not end with a checkpoint: it was cut short",
        ));
    }
    chain.report.sealed = true;
    Ok(chain.report)
}
