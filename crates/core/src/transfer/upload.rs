//! One upload: bytes in, encrypted, hashed, and — only at the end —
//! committed under its name.
//!
//! Clients pipeline writes and some send them out of order, so writes ahead
//! of the data received so far wait in a bounded reorder window; a write
//! that overlaps bytes already written, or would need more window than
//! allowed, is refused with a message saying so. Nothing is visible under
//! the file's name before [`Upload::commit`]: the encrypted segments are
//! fsynced, then the journal record is committed, then the caller may say
//! OK.
//!
//! An upload that ends any other way is kept as a *partial* for its
//! uploader (see [`Upload::abandon`]), and long uploads are checkpointed as
//! partials as they go, so a resume after a server crash starts from the
//! last checkpoint.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use jiff::Timestamp;

use crate::events::Event;
use crate::live::Snapshot;
use crate::memory::{Held, Meter, TooMuchHeld};
use crate::namespace::{Namespace, NsError, NsPath, Principal};
use crate::policy::{Operation, Role};
use renkei_storage::journal::{BoxKind, EntryRecord, ObjectState, Op, PartialRecord, SegmentRef};
use renkei_storage::vault::{ObjectReader, SegmentWriter};

use super::Hasher;

mod commit;
mod import;
pub use import::Imported;
mod reorder;
#[cfg(test)]
mod tests;

/// How the client opened the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Start from nothing; replace the name at commit.
    Truncate,
    /// Start from nothing; fail at open or commit if the name exists.
    Exclusive,
    /// Continue the uploader's partial of this name, if there is one; a
    /// complete file of that name cannot be appended to.
    Append,
    /// Like `Append`, but a client that then writes from offset 0 starts
    /// over (SFTP `WRITE` without `TRUNC`/`APPEND`, as lftp resumes).
    Continue,
}

/// An upload in progress.
pub struct Upload {
    ns: Arc<Namespace>,
    who: Principal,
    path: NsPath,
    /// Whose the file will be: a tenant code, or `lane:<name>`.
    owner: String,
    /// The rules the upload was opened under: it finishes under them even
    /// if they are reloaded meanwhile.
    policy: Arc<Snapshot>,
    /// The next `max_size` in the rules at or above the size already
    /// checked: past it, the decision is made again.
    next_bound: Option<u64>,
    shown: String,
    bx: BoxKind,
    rel: String,
    entry_key: String,
    parent_key: Option<String>,
    partial_key: String,
    exclusive: bool,
    /// Opened with APPEND: writes go to the end, whatever their offset.
    append: bool,
    /// Finished segments, in order.
    done: Vec<SegmentRef>,
    current: Option<OpenSegment>,
    /// Where the open segment's store buffer is charged: the session's
    /// upload meter (shared with its account and the daemon), or the
    /// upload's own.
    buffers: Meter,
    /// Contiguous bytes received from offset 0.
    size: u64,
    hasher: Hasher,
    /// Writes that arrived ahead of `size`, by offset.
    pending: BTreeMap<u64, Bytes>,
    pending_bytes: u64,
    /// Where out-of-order data is charged: the session's reorder meter
    /// (shared with its account and the daemon), or the upload's own.
    reorder: Meter,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    /// Whether the journal's partial record matches `done`/`size`.
    recorded: bool,
    started_at: Timestamp,
    resumed_from: Option<u64>,
    /// A `Continue` resume that a first write at offset 0 turns into a
    /// fresh upload.
    restartable: bool,
    mtime: Option<i64>,
    /// What the bytes are a copy of, for a route's import (see
    /// [`Upload::begin_import`]).
    origin: Option<String>,
    /// Set when storage failed mid-segment: the segment is gone, only the
    /// finished segments remain, and the upload cannot be committed.
    poisoned: Option<String>,
    /// Set when a write was refused: the client's file is not what arrived,
    /// so the upload cannot be committed (its prefix is kept as a partial).
    refused: Option<String>,
    open: bool,
    guard: crate::namespace::ActiveGuard,
}

/// The segment being written, and the memory its store may buffer (an
/// object store's part) charged for as long as it is open.
struct OpenSegment {
    writer: SegmentWriter,
    _held: Option<Held>,
}

/// The first bound at or above `size`.
fn bound_after(bounds: &[u64], size: u64) -> Option<u64> {
    bounds.iter().copied().find(|&b| b >= size)
}

/// The next size at or above `size` where the upload must be decided
/// again: a `max_size` of the rules, or the lane's `max_file_size`.
fn next_bound_of(snap: &Snapshot, path: &NsPath, size: u64) -> Option<u64> {
    let rules = bound_after(snap.policy.size_bounds(), size);
    let lane = path
        .lane()
        .and_then(|l| snap.config.lane(l))
        .and_then(|l| l.max_file_size)
        .filter(|m| *m >= size);
    match (rules, lane) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn new_object_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl Upload {
    /// Starts an upload to `path`. Runs on a blocking thread: resuming
    /// re-reads the kept bytes to continue the SHA-256.
    pub fn begin(
        ns: &Arc<Namespace>,
        who: &Principal,
        path: &NsPath,
        mode: OpenMode,
    ) -> Result<Upload, NsError> {
        let policy = ns.allow_sized(who, Operation::Upload, path, Some(0))?;
        let next_bound = next_bound_of(&policy, path, 0);
        let shown = path.to_string();
        let Some(k) = crate::namespace::keys_of(who, path) else {
            return Err(NsError::IsDir { path: shown });
        };
        let existing = ns.journal.entry(&k.entry)?;
        match &existing {
            Some(EntryRecord::Dir { .. }) => return Err(NsError::IsDir { path: shown }),
            Some(EntryRecord::File { .. }) if mode == OpenMode::Exclusive => {
                return Err(NsError::Exists { path: shown });
            }
            Some(EntryRecord::File { object }) if path.lane().is_some() => {
                // On a lane a sender may replace only its own file that is
                // still waiting; nobody replaces another's or a delivered one.
                let mine_waiting = ns.journal.object(object)?.is_some_and(|o| {
                    o.uploaded_by == who.user
                        && matches!(
                            o.state,
                            ObjectState::Checking { .. } | ObjectState::AwaitingApproval { .. }
                        )
                });
                if !mine_waiting {
                    let err = NsError::Conflict {
                        path: shown.clone(),
                        reason: "a file of this name is already on the lane (another sender's, or delivered): send it under another name".into(),
                    };
                    return Err(ns.refuse(who, "upload", &shown, err));
                }
            }
            _ => {}
        }
        // A new name on a lane must still be free when the upload commits.
        let exclusive =
            mode == OpenMode::Exclusive || (path.lane().is_some() && existing.is_none());
        if let Some(pk) = &k.parent {
            match ns.journal.entry(pk)? {
                Some(EntryRecord::Dir { .. }) => {}
                Some(EntryRecord::File { .. }) => {
                    return Err(NsError::NotDir {
                        path: path.parent().to_string(),
                    });
                }
                None => {
                    return Err(NsError::NotFound {
                        path: path.parent().to_string(),
                    });
                }
            }
        }
        let partial_key = k.partial.clone();
        let Some(guard) = ns.claim(&partial_key) else {
            let err = NsError::Conflict {
                path: shown.clone(),
                reason: format!("is being uploaded by another session of {}", who.user),
            };
            return Err(ns.refuse(who, "upload", &shown, err));
        };
        let mut up = Upload {
            ns: Arc::clone(ns),
            who: who.clone(),
            path: path.clone(),
            policy,
            next_bound,
            shown,
            owner: k.owner,
            bx: k.bx,
            rel: k.rel,
            entry_key: k.entry,
            parent_key: k.parent,
            partial_key,
            exclusive,
            append: mode == OpenMode::Append,
            done: Vec::new(),
            current: None,
            buffers: Meter::standalone("limits.max_queued_requests", u64::MAX),
            size: 0,
            hasher: Hasher::default(),
            pending: BTreeMap::new(),
            pending_bytes: 0,
            reorder: Meter::standalone("limits.reorder_window", ns.limits.reorder_window),
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            recorded: false,
            started_at: Timestamp::now(),
            resumed_from: None,
            restartable: false,
            mtime: None,
            origin: None,
            poisoned: None,
            refused: None,
            open: true,
            guard,
        };
        if matches!(mode, OpenMode::Append | OpenMode::Continue) {
            match ns.journal.partial(&up.partial_key)? {
                Some(p) => {
                    up.resume(p)?;
                    up.restartable = mode == OpenMode::Continue;
                }
                None if mode == OpenMode::Append
                    && matches!(existing, Some(EntryRecord::File { .. })) =>
                {
                    up.open = false;
                    let err = NsError::Invalid(format!(
                        "{}: cannot append to a file that is already complete; upload it again (without resume) to replace it",
                        up.shown
                    ));
                    return Err(ns.refuse(who, "append", &up.shown, err));
                }
                None => {}
            }
        }
        Ok(up)
    }

    /// Continues from a kept partial: re-reads its bytes for the SHA-256.
    fn resume(&mut self, p: PartialRecord) -> Result<(), NsError> {
        let mut reader = ObjectReader::open(Arc::clone(&self.ns.vault), &p.segments)?;
        let hasher = &mut self.hasher;
        reader.for_each_chunk(|c| hasher.absorb(c))?;
        self.done = p.segments;
        self.size = p.size;
        self.started_at = p.started_at;
        self.resumed_from = Some(p.size);
        self.recorded = true;
        self.guard.set_size(p.size);
        Ok(())
    }

    /// Records a refusal of something asked of this upload, as every
    /// refusal is recorded (`operation_refused`).
    pub fn record_refusal(&self, op: &str, reason: &str) {
        self.ns.refuse(
            &self.who,
            op,
            &self.shown,
            NsError::Invalid(reason.to_string()),
        );
    }

    /// Bytes received contiguously from the start (what `stat` shows).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The modification time to record at commit.
    pub fn set_mtime(&mut self, mtime: i64) {
        self.mtime = Some(mtime);
    }

    /// Accepts one write. A refused write also refuses the commit at
    /// close: the client's file would not be what was stored.
    pub fn write(&mut self, offset: u64, data: Bytes) -> Result<(), NsError> {
        if let Some(p) = &self.poisoned {
            return Err(NsError::Storage(p.clone()));
        }
        // With APPEND every write goes to the end of the file whatever its
        // offset (SFTP v3 and POSIX O_APPEND): still written once.
        let offset = if self.append { self.size } else { offset };
        let result = self.accept(offset, data);
        match &result {
            // A policy refusal (Denied) was recorded where it was decided.
            Err(NsError::Denied { reason, .. }) => {
                self.refused.get_or_insert_with(|| reason.clone());
            }
            Err(NsError::Invalid(reason)) if self.refused.is_none() => {
                self.record_refusal("write", reason);
                self.refused = Some(reason.clone());
            }
            _ => {}
        }
        result
    }

    /// Re-decides the upload when its size would cross a `max_size` of the
    /// rules it was opened under.
    fn check_size(&mut self, size: u64) -> Result<(), NsError> {
        if self.next_bound.is_none_or(|b| size <= b) {
            return Ok(());
        }
        match self.ns.decide(
            &self.policy,
            &self.who,
            Operation::Upload,
            &self.path,
            Some(size),
        ) {
            Ok(()) => {
                self.next_bound = next_bound_of(&self.policy, &self.path, size);
                Ok(())
            }
            Err(r) => Err(self.ns.refused(&self.who, Operation::Upload, &self.path, r)),
        }
    }

    fn accept(&mut self, offset: u64, data: Bytes) -> Result<(), NsError> {
        let len = data.len() as u64;
        self.check_size(offset.saturating_add(len))?;
        if len == 0 {
            return Ok(());
        }
        if std::mem::take(&mut self.restartable) && offset == 0 && self.size > 0 {
            // The client is rewriting the file, not resuming it. The old
            // partial stays recorded until this upload replaces it.
            self.done.clear();
            self.size = 0;
            self.guard.set_size(0);
            self.hasher = Hasher::default();
            self.resumed_from = None;
            self.recorded = false;
            self.started_at = Timestamp::now();
        }
        if offset < self.size {
            return Err(NsError::Invalid(format!(
                "{}: a write of {len} bytes at offset {offset} would overwrite bytes already written (the file has {} bytes); uploads are written once, front to back",
                self.shown, self.size
            )));
        }
        if offset == self.size {
            self.append(data)?;
            while let Some(entry) = self.pending.first_entry() {
                if *entry.key() != self.size {
                    break;
                }
                let chunk = entry.remove();
                self.pending_bytes -= chunk.len() as u64;
                self.reorder.give(chunk.len() as u64);
                self.append(chunk)?;
            }
        } else {
            self.hold(offset, data)?;
        }
        let interval = self.ns.limits.upload_checkpoint_interval;
        if self.since_checkpoint >= self.ns.limits.upload_checkpoint
            || (self.since_checkpoint > 0 && self.last_checkpoint.elapsed() >= interval)
        {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Creates the segment the first bytes will go to, ahead of them: run
    /// while the client's first write is still on its way, it takes the
    /// key exchange and file creation off that write's path. A failure
    /// here is left for the write to meet and report.
    pub fn prepare(&mut self) {
        if self.current.is_none() && self.open && self.poisoned.is_none() {
            match self.new_segment() {
                Ok(seg) => self.current = Some(seg),
                Err(e) => {
                    tracing::debug!(error = %e, "could not prepare a segment ahead of the first write")
                }
            }
        }
    }

    /// A new segment, its store's buffer charged first: an account cannot
    /// open more buffered segments than its memory allows.
    fn new_segment(&self) -> Result<OpenSegment, NsError> {
        let need = self.ns.vault.segment_memory();
        let held = match need {
            0 => None,
            n => Some(
                self.buffers
                    .hold_buffer(n)
                    .map_err(|full| NsError::Conflict {
                        path: self.shown.clone(),
                        reason: format!(
                            "{} (each file being uploaded holds {} for the object store)",
                            TooMuchHeld(full),
                            renkei_config::units::format_size(n)
                        ),
                    })?,
            ),
        };
        Ok(OpenSegment {
            writer: self.ns.vault.create_segment()?,
            _held: held,
        })
    }

    fn append(&mut self, data: Bytes) -> Result<(), NsError> {
        let written = match self.current.as_mut() {
            Some(seg) => seg.writer.write_all(&data).map_err(NsError::from),
            None => self.new_segment().and_then(|mut seg| {
                let r = seg.writer.write_all(&data).map_err(NsError::from);
                self.current = Some(seg);
                r
            }),
        };
        if let Err(e) = written {
            // A failed write may leave a torn chunk: drop the whole open
            // segment and fall back to what is already sealed.
            drop(self.current.take());
            self.size = self.done.iter().map(|s| s.len).sum();
            self.guard.set_size(self.size);
            self.clear_pending();
            self.poisoned = Some(e.to_string());
            return Err(e);
        }
        let n = data.len() as u64;
        self.hasher.update(data);
        self.size += n;
        self.guard.set_size(self.size);
        self.since_checkpoint += n;
        self.recorded = false;
        Ok(())
    }

    fn seal_current(&mut self) -> Result<(), NsError> {
        if let Some(seg) = self.current.take()
            && !seg.writer.is_empty()
        {
            self.done.push(seg.writer.finish()?);
        }
        Ok(())
    }

    /// Makes everything received so far durable and resumable (the client's
    /// `fsync`, and periodically during long uploads).
    pub fn checkpoint(&mut self) -> Result<(), NsError> {
        self.seal_current()?;
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
        if self.recorded || self.size == 0 {
            return Ok(());
        }
        let record = PartialRecord {
            tenant: self.owner.clone(),
            bx: self.bx,
            path: self.rel.clone(),
            account: self.who.user.clone(),
            size: self.size,
            segments: self.done.clone(),
            started_at: self.started_at,
            updated_at: Timestamp::now(),
            source: self.who.source.map(|s| s.to_string()),
            origin: self.origin.clone(),
        };
        let out = self
            .ns
            .journal
            .apply_one_blocking(Op::PutPartial {
                key: self.partial_key.clone(),
                record,
            })
            .map_err(|e| NsError::from_apply(e, &self.shown))?;
        self.ns.discard(&out.garbage);
        self.recorded = true;
        Ok(())
    }

    /// Ends the upload without committing it and without keeping anything
    /// (a browser cannot resume, so a partial would only wait to expire).
    pub fn discard(&mut self, reason: &str) {
        if !self.open {
            return;
        }
        self.open = false;
        self.clear_pending();
        drop(self.current.take());
        if let Err(e) = self.ns.journal.apply_one_blocking(Op::DropPartial {
            key: self.partial_key.clone(),
            if_updated_at: None,
        }) {
            tracing::error!(error = %e, path = %self.shown, "could not drop a discarded upload's record");
        }
        self.ns.discard(&self.done);
        self.done.clear();
        if self.size > 0 {
            self.ns.events.record(Event::UploadInterrupted {
                actor: self.who.actor(),
                box_name: self.bx.to_string(),
                path: self.rel.clone(),
                kept_bytes: 0,
                reason: reason.to_string(),
            });
        }
    }

    /// Ends the upload without committing it. What was received in order is
    /// kept as a partial for the uploader to resume (an operator's upload
    /// is discarded instead). Errors are logged: there is nobody left to
    /// tell.
    pub fn abandon(&mut self, reason: &str) {
        if self.who.role == Role::Operator {
            self.discard(reason);
            return;
        }
        if !self.open {
            return;
        }
        self.open = false;
        self.clear_pending();
        let kept = match self.checkpoint() {
            Ok(()) => self.size,
            Err(e) => {
                tracing::error!(error = %e, path = %self.shown, "could not keep an interrupted upload");
                0
            }
        };
        if self.size > 0 && self.resumed_from != Some(self.size) {
            self.ns.events.record(Event::UploadInterrupted {
                actor: self.who.actor(),
                box_name: self.bx.to_string(),
                path: self.rel.clone(),
                kept_bytes: kept,
                reason: reason.to_string(),
            });
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.abandon("the upload was not closed");
        self.clear_pending();
    }
}
