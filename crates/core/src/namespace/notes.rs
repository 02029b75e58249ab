//! Getting the audit records committed with changes into the trail.
//!
//! The audit record of every change to stored files is committed with the
//! change, as a journal note, and handed to the trail once the change is
//! durable (`Events::note`, `journal::notes`). A note stays in the journal
//! until the trail has its record on disk:
//!
//! - [`clear`] runs every `audit.checkpoint_interval` ([`keep`]): it waits
//!   until every committed note has been handed over, makes the trail
//!   durable (a checkpoint), then drops the notes.
//! - [`settle`] runs at start-up ([`settle_all`]), and instead of a plain
//!   clear when the trail had to drop records: it appends the records the
//!   trail lacks — found by their `journal_seq` — marked
//!   `recovered: true`, makes them durable, then drops the notes. A
//!   commit whose outcome the journal's engine could not tell (its
//!   database connection lost during COMMIT) counts as such a case: its
//!   note may be in the journal without having been delivered.
//!
//! So a change and its record never exist one without the other: a crash
//! between the commit and the trail's write loses nothing, and a record
//! never appears for a change that was not made.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Namespace;
use crate::events::{JOURNAL_SEQ, with_field};
use renkei_storage::audit::read::{self, ReadError};
use renkei_storage::audit::{AuditError, AuditLog, segments};
use renkei_storage::journal::{ApplyError, JournalError, Op};

/// Why notes could not be brought into the trail (they stay in the
/// journal and are tried again).
#[derive(Debug, thiserror::Error)]
pub enum NotesError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("reading the audit trail: {0}")]
    Read(#[from] ReadError),
    #[error("writing the audit trail: {0}")]
    Audit(#[from] AuditError),
    #[error("restoring lost audit records: {0}")]
    Settle(tokio::task::JoinError),
}

impl From<ApplyError> for NotesError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Journal(j) => NotesError::Journal(j),
            ApplyError::Op(o) => NotesError::Journal(JournalError::Commit(o.to_string())),
        }
    }
}

/// Appends to the trail every noted record up to note `through` that it
/// lacks, then drops those notes. Returns how many records were appended.
/// Every note up to `through` must have been delivered and written first
/// (at start-up nothing is in flight; later, [`clear`] waits for it).
/// Blocking.
pub fn settle(ns: &Namespace, audit: &AuditLog, through: u64) -> Result<u64, NotesError> {
    let mut missing: BTreeMap<u64, String> = ns
        .journal
        .notes()?
        .into_iter()
        .filter(|(seq, _)| *seq <= through)
        .collect();
    let Some(&first) = missing.keys().next() else {
        return Ok(0);
    };
    for seq in recorded_since(&audit.dir, first)? {
        missing.remove(&seq);
    }
    let appended = missing.len() as u64;
    let mut sent = None;
    for (_, text) in missing {
        sent = Some(audit.append_pending(with_field(&text, "recovered", true))?);
    }
    // The writer appends in order: the last one on disk means all are.
    if let Some(ticket) = sent {
        ticket.wait_blocking()?;
    }
    ns.journal.apply_one_blocking(Op::DropNotes { through })?;
    Ok(appended)
}

/// At start-up, before any session: [`settle`] every note.
pub fn settle_all(ns: &Namespace, audit: &AuditLog) -> Result<u64, NotesError> {
    match ns.journal.last_note()? {
        Some(last) => settle(ns, audit, last),
        None => Ok(0),
    }
}

/// What [`clear`] carries from one run to the next.
#[derive(Debug, Default)]
pub struct Keeper {
    /// `AuditLog::dropped` when last looked at.
    pub dropped_seen: u64,
    /// The last settle failed: the next clear must settle, not just drop.
    pub must_settle: bool,
    /// `JournalStore::commits_in_doubt` when last looked at.
    pub doubt_seen: u64,
}

/// Drops the notes whose records the trail has on disk (see the module
/// documentation), or settles them when the trail dropped records or the
/// last settle failed.
pub async fn clear(
    ns: &Arc<Namespace>,
    audit: &AuditLog,
    keeper: &mut Keeper,
) -> Result<(), NotesError> {
    let Some(last) = ns.journal.last_note()? else {
        return Ok(());
    };
    ns.journal.notes_delivered().await?;
    audit.checkpoint().await?;
    let dropped = audit.dropped();
    let doubt = ns.journal.commits_in_doubt();
    if keeper.must_settle || dropped != keeper.dropped_seen || doubt != keeper.doubt_seen {
        keeper.must_settle = true;
        let (sns, saudit) = (Arc::clone(ns), audit.clone());
        let settled = tokio::task::spawn_blocking(move || settle(&sns, &saudit, last))
            .await
            .map_err(NotesError::Settle)??;
        if settled > 0 {
            tracing::warn!(
                records = settled,
                "audit records the trail had lost were restored from the journal"
            );
        }
        keeper.must_settle = false;
        keeper.dropped_seen = dropped;
        keeper.doubt_seen = doubt;
        return Ok(());
    }
    ns.journal
        .apply_one(Op::DropNotes { through: last })
        .await?;
    Ok(())
}

/// Runs [`clear`] every `every` until the task is stopped.
pub async fn keep(
    ns: Arc<Namespace>,
    audit: AuditLog,
    every: Duration,
    mut keeper: Keeper,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = clear(&ns, &audit, &mut keeper).await {
            tracing::warn!(error = %e, "audit notes stay in the journal until the trail can take them");
        }
    }
}

/// The `journal_seq` of every record in the trail from the one that
/// carries `from` (or the first after it) to the end. Noted records are
/// appended in `journal_seq` order, so reading segments newest first can
/// stop at the first segment that starts below `from`.
fn recorded_since(dir: &Path, from: u64) -> Result<Vec<u64>, NotesError> {
    let mut found = Vec::new();
    let present = segments::list(dir).map_err(ReadError::Io)?;
    for &n in present.iter().rev() {
        let mut below = false;
        read::each(dir, n, |f| {
            if f.segment != n {
                return ControlFlow::Break(());
            }
            if let Some(seq) = f.record.fields.get(JOURNAL_SEQ).and_then(|v| v.as_u64()) {
                if seq >= from {
                    found.push(seq);
                } else {
                    below = true;
                }
            }
            ControlFlow::Continue(())
        })?;
        if below {
            break;
        }
    }
    Ok(found)
}
