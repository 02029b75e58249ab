//! The audit writer: one thread that owns the segment files.
//!
//! Records from every session queue here; the writer appends whatever is
//! waiting in one write and, when any of it must be durable (a committed
//! upload must be on disk before the client hears OK), one `fdatasync`
//! covers them all — group commit, so auditing does not cap throughput.
//! Every `checkpoint_every` records or `checkpoint_interval`, at every
//! segment switch and at shutdown, it appends a signed checkpoint.
//!
//! If the disk refuses a write, the records stay queued (in order), the log
//! is marked unhealthy — the namespace then refuses operations rather than
//! do them unrecorded — and the writer retries every second.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::keys::AuditKey;
use super::record::{self, checkpoint_message};
use super::segments::{self, Anchor};
use super::{AuditConfig, PruneReport, Tail, now_ts};
use crate::fsutil;

/// Bytes of records held while the disk refuses writes; past it the oldest
/// are dropped and the loss is recorded once writing works again.
pub const MAX_BACKLOG: usize = 64 << 20;

/// Why the writer could not do what it was asked. Every waiter of a batch
/// is handed the same error, so it is `Clone`: the I/O error is shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the disk refused the write: {0}")]
    Append(Arc<io::Error>),
    #[error("cannot create audit segment {segment}: {source}")]
    NewSegment {
        segment: u64,
        source: Arc<io::Error>,
    },
    #[error("cannot sync the audit directory: {0}")]
    SyncDir(Arc<io::Error>),
    #[error("cannot list the audit segments: {0}")]
    List(Arc<io::Error>),
    #[error("cannot read audit segment {segment}: {source}")]
    ReadSegment {
        segment: u64,
        source: Arc<io::Error>,
    },
    #[error("audit segment {segment}: {problem}")]
    BadSegment { segment: u64, problem: String },
    #[error("cannot write the audit anchor: {0}")]
    Anchor(Arc<io::Error>),
    #[error("cannot remove audit segment {segment}: {source}")]
    Remove {
        segment: u64,
        source: Arc<io::Error>,
    },
}

pub(super) enum Msg {
    Record {
        event: String,
        durable: Option<oneshot::Sender<Result<u64, WriteError>>>,
    },
    Checkpoint(oneshot::Sender<Result<u64, WriteError>>),
    Prune {
        before: jiff::Timestamp,
        done: oneshot::Sender<Result<PruneReport, WriteError>>,
    },
    Stop(oneshot::Sender<()>),
}

pub(super) struct Writer {
    pub dir: PathBuf,
    pub key: AuditKey,
    pub config: AuditConfig,
    pub file: File,
    pub segment: u64,
    pub segment_len: u64,
    pub next_seq: u64,
    pub prev: String,
    pub since_checkpoint: u64,
    pub last_checkpoint: Instant,
    pub healthy: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    /// Records written since the last checkpoint, for the metrics.
    unsigned: Arc<AtomicU64>,
    backlog: VecDeque<String>,
    backlog_bytes: usize,
    lost: u64,
    error: Option<WriteError>,
}

pub(super) fn open_segment(dir: &std::path::Path, n: u64) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(segments::path(dir, n))?;
    // Owner-only whatever the umask, and for segments older builds made
    // group-readable.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// What the writer tells the rest of the daemon, read without a lock.
#[derive(Default)]
pub(super) struct Gauges {
    pub healthy: Arc<AtomicBool>,
    pub dropped: Arc<AtomicU64>,
    pub unsigned: Arc<AtomicU64>,
}

impl Writer {
    pub(super) fn new(
        dir: PathBuf,
        key: AuditKey,
        config: AuditConfig,
        tail: &Tail,
        file: File,
        gauges: &Gauges,
    ) -> Writer {
        Writer {
            dir,
            key,
            config,
            file,
            segment: tail.segment,
            segment_len: tail.segment_len,
            next_seq: tail.next_seq,
            prev: tail.prev.clone(),
            since_checkpoint: tail.since_checkpoint,
            last_checkpoint: Instant::now(),
            healthy: Arc::clone(&gauges.healthy),
            dropped: Arc::clone(&gauges.dropped),
            unsigned: Arc::clone(&gauges.unsigned),
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            lost: 0,
            error: None,
        }
    }

    fn queue(&mut self, event: String) {
        self.backlog_bytes += event.len();
        self.backlog.push_back(event);
        while self.backlog_bytes > MAX_BACKLOG {
            match self.backlog.pop_front() {
                Some(e) => {
                    self.backlog_bytes -= e.len();
                    self.lost += 1;
                    self.dropped.fetch_add(1, Ordering::AcqRel);
                }
                None => break,
            }
        }
    }

    /// Writes everything queued; syncs when `sync`. On failure nothing is
    /// half-written (the file is cut back) and the records stay queued.
    fn flush(&mut self, sync: bool) -> Result<(), WriteError> {
        if self.lost > 0 && self.error.is_none() {
            let lost = std::mem::take(&mut self.lost);
            self.backlog.push_front(format!(r#"{{"event":"audit_records_lost","records":{lost},"reason":"the disk refused writes for longer than the backlog could hold"}}"#));
        }
        if self.backlog.is_empty() && !sync {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(self.backlog_bytes + self.backlog.len() * 160);
        let (mut seq, mut prev) = (self.next_seq, self.prev.clone());
        let ts = now_ts();
        for event in &self.backlog {
            let (line, hash) = record::build(seq, &ts, &prev, event);
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            seq += 1;
            prev = hash;
        }
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        match written {
            Ok(()) => {
                self.since_checkpoint += seq - self.next_seq;
                self.unsigned
                    .store(self.since_checkpoint, Ordering::Release);
                self.next_seq = seq;
                self.prev = prev;
                self.segment_len += buf.len() as u64;
                self.backlog.clear();
                self.backlog_bytes = 0;
                if self.error.take().is_some() {
                    tracing::warn!("the audit trail can be written again");
                }
                self.healthy.store(true, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                // Cut back whatever part of the batch reached the file.
                let _ = self.file.set_len(self.segment_len);
                let err = WriteError::Append(Arc::new(e));
                if self.error.is_none() {
                    tracing::error!(
                        "cannot write the audit trail: {err}; operations are refused until it can be written"
                    );
                }
                self.error = Some(err.clone());
                self.healthy.store(false, Ordering::Release);
                Err(err)
            }
        }
    }

    /// Appends a signed checkpoint over the current head, and starts a new
    /// segment when this one has grown past `segment_size` (so every
    /// segment but the newest ends with a checkpoint).
    fn checkpoint(&mut self, last: bool) -> Result<u64, WriteError> {
        self.flush(false)?;
        let head_seq = self.next_seq - 1;
        let signature = self.key.sign(&checkpoint_message(head_seq, &self.prev));
        let event = format!(
            r#"{{"event":"checkpoint","key":"{}","signed_seq":{head_seq},"signature":"{signature}"{}}}"#,
            self.key.id,
            if last { r#","final":true"# } else { "" }
        );
        self.queue(event);
        self.flush(true)?;
        self.since_checkpoint = 0;
        self.unsigned.store(0, Ordering::Release);
        self.last_checkpoint = Instant::now();
        let signed = self.next_seq - 1;
        if !last && self.segment_len >= self.config.segment_size {
            self.rotate()?;
        }
        Ok(signed)
    }

    /// Starts the next segment (the current one ends with a checkpoint).
    fn rotate(&mut self) -> Result<(), WriteError> {
        let next = self.segment + 1;
        let file = open_segment(&self.dir, next).map_err(|e| WriteError::NewSegment {
            segment: next,
            source: Arc::new(e),
        })?;
        fsutil::fsync_dir(&self.dir).map_err(|e| WriteError::SyncDir(Arc::new(e)))?;
        self.file = file;
        self.segment = next;
        self.segment_len = 0;
        Ok(())
    }

    fn after_batch(&mut self) {
        let due = self.since_checkpoint >= self.config.checkpoint_every
            || self.segment_len >= self.config.segment_size;
        if let Some(Err(e)) = due.then(|| self.checkpoint(false)) {
            tracing::error!("audit checkpoint failed: {e}");
        }
    }

    /// Removes segments whose last record is older than `before`, leaving
    /// an anchor for the chain that remains.
    fn prune(&mut self, before: jiff::Timestamp) -> Result<PruneReport, WriteError> {
        let mut report = PruneReport::default();
        let present = segments::list(&self.dir).map_err(|e| WriteError::List(Arc::new(e)))?;
        let mut anchor: Option<Anchor> = None;
        for n in present.into_iter().filter(|n| *n < self.segment) {
            let bytes = std::fs::read(segments::path(&self.dir, n)).map_err(|e| {
                WriteError::ReadSegment {
                    segment: n,
                    source: Arc::new(e),
                }
            })?;
            let (lines, _) = segments::split_lines(&bytes);
            let Some((_, last)) = lines.last() else { break };
            let last = String::from_utf8_lossy(last).into_owned();
            let bad = |problem: String| WriteError::BadSegment {
                segment: n,
                problem,
            };
            let parsed = record::parse(&last).map_err(|e| bad(e.to_string()))?;
            let ts: jiff::Timestamp = parsed
                .ts
                .parse()
                .map_err(|e| bad(format!("bad time: {e}")))?;
            if ts >= before || parsed.event != "checkpoint" {
                break;
            }
            report.segments.push(n);
            report.through_seq = parsed.seq;
            anchor = Some(Anchor {
                segment: n,
                line: last,
            });
        }
        let Some(anchor) = anchor else {
            return Ok(report);
        };
        // The anchor is durable before anything it replaces is removed.
        let tmp = self.dir.join(format!("{}.tmp", segments::ANCHOR));
        serde_json::to_string_pretty(&anchor)
            .map_err(io::Error::other)
            .and_then(|text| std::fs::write(&tmp, text))
            .and_then(|()| File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, self.dir.join(segments::ANCHOR)))
            .and_then(|()| fsutil::fsync_dir(&self.dir))
            .map_err(|e| WriteError::Anchor(Arc::new(e)))?;
        for n in &report.segments {
            std::fs::remove_file(segments::path(&self.dir, *n)).map_err(|e| {
                WriteError::Remove {
                    segment: *n,
                    source: Arc::new(e),
                }
            })?;
        }
        fsutil::fsync_dir(&self.dir).map_err(|e| WriteError::SyncDir(Arc::new(e)))?;
        self.queue(format!(
            r#"{{"event":"audit_pruned","segments":{},"through_seq":{},"anchor_segment":{}}}"#,
            report.segments.len(),
            report.through_seq,
            anchor.segment
        ));
        self.flush(true)?;
        Ok(report)
    }

    pub(super) fn run(mut self, rx: &Receiver<Msg>) {
        loop {
            let wait = if self.error.is_some() {
                Duration::from_secs(1)
            } else if self.since_checkpoint > 0 {
                self.config
                    .checkpoint_interval
                    .saturating_sub(self.last_checkpoint.elapsed())
            } else {
                Duration::from_secs(3600)
            };
            let first = match rx.recv_timeout(wait) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    if self.error.is_some() {
                        let _ = self.flush(true);
                    } else if self.since_checkpoint > 0 {
                        let _ = self.checkpoint(false);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.checkpoint(true);
                    return;
                }
            };
            let mut batch = vec![first];
            while batch.len() < 1024 {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            let mut waiters = Vec::new();
            let mut control = Vec::new();
            for m in batch {
                match m {
                    Msg::Record { event, durable } => {
                        self.queue(event);
                        if let Some(w) = durable {
                            waiters.push((w, self.next_seq + self.backlog.len() as u64 - 1));
                        }
                    }
                    other => control.push(other),
                }
            }
            let result = self.flush(!waiters.is_empty());
            for (w, seq) in waiters {
                let _ = w.send(result.clone().map(|()| seq));
            }
            if result.is_ok() {
                self.after_batch();
            }
            for m in control {
                match m {
                    Msg::Checkpoint(done) => {
                        let r = if self.since_checkpoint == 0 && self.error.is_none() {
                            Ok(self.next_seq - 1)
                        } else {
                            self.checkpoint(false)
                        };
                        let _ = done.send(r);
                    }
                    Msg::Prune { before, done } => {
                        let _ = done.send(self.prune(before));
                    }
                    Msg::Stop(done) => {
                        if let Err(e) = self.checkpoint(true) {
                            tracing::error!("final audit checkpoint failed: {e}");
                        }
                        let _ = done.send(());
                        return;
                    }
                    Msg::Record { .. } => {}
                }
            }
        }
    }
}
