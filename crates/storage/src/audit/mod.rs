//! The audit trail: append-only, hash-chained, signed, verifiable offline
//! by anyone holding the public key (`docs/audit.md`).
//!
//! Storage only: it appends the records it is given (already-serialised
//! events) and knows nothing of SSH or tenants. `renkei_core::events` decides what
//! is recorded; `renkei audit verify|query|export` read the files without a
//! daemon.
//!
//! At start the newest segment is read back: a record torn by a crash is
//! cut off and the repair is itself recorded, so the chain continues and
//! still verifies. Damage anywhere else is refused loudly: the daemon will
//! not build on a trail it cannot vouch for.

pub mod copies;
pub mod export;
pub mod keys;
pub mod read;
pub mod record;
pub mod segments;
pub mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::oneshot;

use keys::AuditKey;
pub use writer::WriteError;
use writer::{Msg, Writer};

pub use keys::KeyError;

/// When to checkpoint and when to start a new segment.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub checkpoint_every: u64,
    pub checkpoint_interval: Duration,
    pub segment_size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("audit directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "audit segment {segment}, line {line}, is damaged ({problem}); the daemon will not append to a trail it cannot vouch for: run `renkei audit verify`, and move the damaged segment aside if it must be kept as evidence"
    )]
    Damaged {
        segment: String,
        line: usize,
        problem: String,
    },
    #[error("the audit trail cannot be written: {0}")]
    Write(#[from] WriteError),
    #[error("the audit writer has stopped")]
    Gone,
}

/// Timestamps in records: microseconds, with the Asia/Tokyo offset.
pub fn now_ts() -> String {
    renkei_model::time::tokyo(jiff::Timestamp::now())
        .strftime("%Y-%m-%dT%H:%M:%S%.6f%:z")
        .to_string()
}

/// Where the chain stood when the log was opened.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail {
    pub next_seq: u64,
    pub prev: String,
    pub segment: u64,
    pub segment_len: u64,
    pub since_checkpoint: u64,
    /// Whether the last record is a final checkpoint (a clean stop).
    pub ended_clean: bool,
    pub torn_bytes: u64,
    pub last_ts: Option<String>,
}

/// What opening found.
#[derive(Debug, Clone)]
pub struct OpenReport {
    /// Time of the newest record before this start.
    pub last_ts: Option<String>,
    pub next_seq: u64,
    /// The previous run did not stop cleanly.
    pub crashed: bool,
    pub torn_bytes: u64,
}

/// What pruning removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub segments: Vec<u64>,
    pub through_seq: u64,
}

/// A record handed to the writer, not yet known to be on disk.
#[must_use = "a record is durable only once its ticket says so"]
pub struct Durable(oneshot::Receiver<Result<u64, WriteError>>);

impl Durable {
    /// Waits until the record is on disk; returns its seq.
    pub async fn wait(self) -> Result<u64, AuditError> {
        self.0
            .await
            .map_err(|_| AuditError::Gone)?
            .map_err(AuditError::Write)
    }

    /// [`Durable::wait`] for blocking threads.
    pub fn wait_blocking(self) -> Result<u64, AuditError> {
        self.0
            .blocking_recv()
            .map_err(|_| AuditError::Gone)?
            .map_err(AuditError::Write)
    }
}

/// Handle to the running audit log.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    healthy: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    unsigned: Arc<AtomicU64>,
    pub dir: PathBuf,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io_err(dir: &Path) -> impl Fn(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: dir.display().to_string(),
        source,
    }
}

/// Reads the chain's end: the newest segment is checked record by record
/// (a torn last record is cut off); of older segments only the last record
/// is needed, to continue the chain from it.
// Long: start-up repair of the trail's end, record by record, with the
// cases of a torn last line spelled out where they are handled.
fn recover_tail(dir: &Path) -> Result<Tail, AuditError> {
    let present = segments::list(dir).map_err(io_err(dir))?;
    let mut tail = Tail {
        next_seq: 1,
        prev: record::GENESIS.to_string(),
        segment: 1,
        ended_clean: true,
        ..Tail::default()
    };
    let damaged = |segment: String, line: usize, problem: String| AuditError::Damaged {
        segment,
        line,
        problem,
    };
    let continue_from =
        |tail: &mut Tail, line: &str, segment: String, at: usize| -> Result<(), AuditError> {
            let p = record::parse(line).map_err(|e| damaged(segment, at, e.to_string()))?;
            tail.next_seq = p.seq + 1;
            tail.ended_clean = p.event == "checkpoint"
                && p.fields.get("final").and_then(|v| v.as_bool()) == Some(true);
            tail.prev = p.hash;
            tail.last_ts = Some(p.ts);
            Ok(())
        };
    if let Some(a) = segments::read_anchor(dir).map_err(io_err(dir))? {
        continue_from(&mut tail, &a.line, segments::ANCHOR.to_string(), 1)?;
        tail.segment = a.segment + 1;
    }
    let Some((&newest, older)) = present.split_last() else {
        return Ok(tail);
    };
    if let Some(&before) = older.last() {
        let bytes = std::fs::read(segments::path(dir, before)).map_err(io_err(dir))?;
        let (lines, rest) = segments::split_lines(&bytes);
        let (Some((_, last)), true) = (lines.last(), rest.is_empty()) else {
            return Err(damaged(
                segments::name(before),
                lines.len() + 1,
                "an older segment does not end with a complete record".into(),
            ));
        };
        continue_from(
            &mut tail,
            &String::from_utf8_lossy(last),
            segments::name(before),
            lines.len(),
        )?;
    }
    let path = segments::path(dir, newest);
    let bytes = std::fs::read(&path).map_err(io_err(dir))?;
    let (lines, rest) = segments::split_lines(&bytes);
    let mut good_end = 0usize;
    for (k, (start, line)) in lines.iter().enumerate() {
        let at = |problem: String| damaged(segments::name(newest), k + 1, problem);
        let text = std::str::from_utf8(line).map_err(|_| at("not UTF-8".into()))?;
        match record::parse(text) {
            Ok(p) => {
                if p.seq != tail.next_seq || p.prev != tail.prev {
                    return Err(at(format!(
                        "expected seq {} following {}, found seq {} following {}",
                        tail.next_seq, tail.prev, p.seq, p.prev
                    )));
                }
                tail.next_seq = p.seq + 1;
                tail.prev = p.hash.clone();
                tail.last_ts = Some(p.ts.clone());
                tail.ended_clean = p.event == "checkpoint"
                    && p.fields.get("final").and_then(|v| v.as_bool()) == Some(true);
                tail.since_checkpoint = if p.event == "checkpoint" {
                    0
                } else {
                    tail.since_checkpoint + 1
                };
                good_end = start + line.len() + 1;
            }
            // A crash can tear only the very end of the newest segment.
            Err(_) if k + 1 == lines.len() && rest.is_empty() => break,
            Err(e) => return Err(at(e.to_string())),
        }
    }
    tail.segment = newest;
    if good_end < bytes.len() {
        tail.torn_bytes = (bytes.len() - good_end) as u64;
        tail.ended_clean = false;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_err(dir))?;
        f.set_len(good_end as u64)
            .and_then(|()| f.sync_all())
            .map_err(io_err(dir))?;
    }
    tail.segment_len = good_end as u64;
    Ok(tail)
}

/// Keeps `audit.pub` beside the trail listing every key that signed it: a
/// key that replaced a lost one is added, never swapped in, so the copy
/// still verifies the older checkpoints.
fn keep_public_copy(dir: &Path, key: &AuditKey) -> Result<(), AuditError> {
    let path = dir.join("audit.pub");
    let mine = keys::public_text(&key.public());
    let text = match std::fs::read_to_string(&path) {
        Ok(old) => match keys::read_public_all(&old) {
            Ok(listed) if listed.contains(&key.public()) => return Ok(()),
            Ok(_) => {
                tracing::warn!(id = %key.id, "a new audit signing key: added to audit.pub beside the trail; give auditors the new key too");
                format!(
                    "{}{mine}",
                    if old.ends_with('\n') {
                        old
                    } else {
                        format!("{old}\n")
                    }
                )
            }
            Err(_) => mine,
        },
        Err(_) => mine,
    };
    crate::fsutil::write_public(&path, text.as_bytes()).map_err(io_err(dir))
}

impl AuditLog {
    /// Opens (creating if needed) the audit log in `dir`, signing with the
    /// key at `key_path`, and starts its writer.
    pub fn open(
        dir: &Path,
        key_path: &Path,
        config: AuditConfig,
    ) -> Result<(AuditLog, OpenReport), AuditError> {
        let key = AuditKey::load_or_create(key_path)?;
        crate::fsutil::create_private_dir(dir).map_err(io_err(dir))?;
        keep_public_copy(dir, &key)?;
        let tail = recover_tail(dir)?;
        let file = writer::open_segment(dir, tail.segment).map_err(io_err(dir))?;
        crate::fsutil::fsync_dir(dir).map_err(io_err(dir))?;
        let report = OpenReport {
            last_ts: tail.last_ts.clone(),
            next_seq: tail.next_seq,
            crashed: !tail.ended_clean,
            torn_bytes: tail.torn_bytes,
        };
        let gauges = writer::Gauges {
            healthy: Arc::new(AtomicBool::new(true)),
            ..Default::default()
        };
        let w = Writer::new(dir.to_path_buf(), key, config, &tail, file, &gauges);
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || w.run(&rx))
            .map_err(io_err(dir))?;
        let log = AuditLog {
            tx,
            healthy: gauges.healthy,
            dropped: gauges.dropped,
            unsigned: gauges.unsigned,
            dir: dir.to_path_buf(),
        };
        if report.crashed {
            // The trail says itself that the previous run ended abruptly,
            // and what (if anything) had to be cut off.
            log.append(format!(
                r#"{{"event":"audit_recovered","after_seq":{},"torn_bytes_removed":{},"reason":"the previous run ended without its final checkpoint"}}"#,
                report.next_seq.saturating_sub(1),
                report.torn_bytes
            ));
        }
        Ok((log, report))
    }

    /// Whether records are being written (false while the disk refuses).
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Records dropped since start because the disk refused writes for
    /// longer than the backlog could hold.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Acquire)
    }

    /// Records written since the last signed checkpoint: what an auditor
    /// could not yet verify if the machine were lost now.
    pub fn unsigned(&self) -> u64 {
        self.unsigned.load(Ordering::Acquire)
    }

    /// Appends a record; it becomes durable with the next sync.
    pub fn append(&self, event_json: String) {
        let sent = self.tx.send(Msg::Record {
            event: event_json,
            durable: None,
        });
        if let Err(mpsc::SendError(Msg::Record { event, .. })) = sent {
            // Sealed already (a task outlived the shutdown order): the
            // record is not lost without a word, it goes to the log.
            self.dropped.fetch_add(1, Ordering::AcqRel);
            tracing::error!(record = %event, "the audit trail is sealed; this record is kept only in the log");
        }
    }

    /// Appends a record and returns at once with a ticket that tells when
    /// it is on disk: the caller can do other durable work (a journal
    /// commit) while the record's fsync runs.
    pub fn append_pending(&self, event_json: String) -> Result<Durable, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Record {
                event: event_json,
                durable: Some(tx),
            })
            .map_err(|_| AuditError::Gone)?;
        Ok(Durable(rx))
    }

    /// Appends a record and waits until it is on disk; returns its seq.
    pub async fn append_durable(&self, event_json: String) -> Result<u64, AuditError> {
        self.append_pending(event_json)?.wait().await
    }

    /// [`AuditLog::append_durable`] for blocking threads.
    pub fn append_durable_blocking(&self, event_json: String) -> Result<u64, AuditError> {
        self.append_pending(event_json)?.wait_blocking()
    }

    /// Writes a checkpoint now (if anything is unsigned); returns the seq
    /// of the last checkpointed record.
    pub async fn checkpoint(&self) -> Result<u64, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Checkpoint(tx))
            .map_err(|_| AuditError::Gone)?;
        rx.await
            .map_err(|_| AuditError::Gone)?
            .map_err(AuditError::Write)
    }

    /// Removes whole segments whose last record is older than `before`.
    pub async fn prune(&self, before: jiff::Timestamp) -> Result<PruneReport, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Prune { before, done: tx })
            .map_err(|_| AuditError::Gone)?;
        rx.await
            .map_err(|_| AuditError::Gone)?
            .map_err(AuditError::Write)
    }

    /// Seals the log with a final checkpoint and stops the writer.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Stop(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

#[cfg(test)]
mod tests;
