//! The writer: every change to the journal goes through one thread per
//! engine.
//!
//! It folds whatever operations are waiting (up to `MAX_GROUP`) into one
//! durable transaction — group commit — so many sessions closing files at
//! once share one fsync (redb) or one commit round trip (PostgreSQL).
//! Each operation checks its preconditions before writing (see `ops`), so
//! one refused operation never spoils its group. Notes are stored in the
//! same transaction and delivered after it is durable, before anyone in
//! the group hears back.

use std::sync::mpsc;

use tokio::sync::oneshot;

use super::notes::Note;
use super::tables::{StoreError, Tables, Txn};
use super::{JournalError, MAX_GROUP, Op, OpResult};

pub(super) struct Job {
    pub ops: Vec<Op>,
    pub reply: oneshot::Sender<Result<Vec<OpResult>, JournalError>>,
    pub note: Option<Note>,
}

/// A stored note's text, and the job whose note it is.
pub(super) type Delivery = (usize, String);

/// What a committed group produced: each job's results, and the notes to
/// deliver.
pub(super) type Group = (Vec<Vec<OpResult>>, Vec<Delivery>);

/// An engine's side of the writer: one transaction around
/// [`apply_group`], committed durably. It may run [`apply_group`] more
/// than once (a transaction refused for a conflict, run again): nothing
/// of a job is consumed until the group has committed.
pub(super) trait Commit {
    fn commit_group(&mut self, jobs: &[Job]) -> Result<Group, StoreError>;
}

/// Hands a transaction to an engine's writer thread.
pub(super) fn submit(
    writer: &mpsc::Sender<Job>,
    ops: Vec<Op>,
    note: Option<Note>,
) -> Result<super::Committed, JournalError> {
    let (reply, rx) = oneshot::channel();
    writer
        .send(Job { ops, reply, note })
        .map_err(|_| JournalError::WriterGone)?;
    Ok(rx)
}

pub(super) fn run(engine: &mut dyn Commit, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let mut count = jobs[0].ops.len();
        while count < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => {
                    count += job.ops.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        if jobs.iter().all(|j| j.ops.is_empty() && j.note.is_none()) {
            // Nothing to write: callers waiting for earlier deliveries.
            for job in jobs {
                let _ = job.reply.send(Ok(Vec::new()));
            }
            continue;
        }
        match engine.commit_group(&jobs) {
            Ok((results, deliveries)) => {
                for (i, text) in deliveries {
                    if let Some(note) = jobs.get_mut(i).and_then(|j| j.note.take()) {
                        (note.deliver)(text);
                    }
                }
                for (job, res) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(Ok(res));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "journal commit failed; the operations were not applied");
                let msg = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(JournalError::Commit(msg.clone())));
                }
            }
        }
    }
}

/// Applies every job's operations and stores its note, inside `txn`.
pub(super) fn apply_group(txn: &mut dyn Txn, jobs: &[Job]) -> Result<Group, StoreError> {
    let mut tables = Tables { txn };
    let mut results = Vec::with_capacity(jobs.len());
    let mut deliveries = Vec::new();
    let mut next = None;
    for (i, job) in jobs.iter().enumerate() {
        let mut r = Vec::with_capacity(job.ops.len());
        for op in &job.ops {
            let fenced = matches!(r.first(), Some(Err(super::OpError::Fenced)));
            r.push(if fenced {
                // The lease is gone: nothing after the fence is applied.
                Err(super::OpError::Fenced)
            } else {
                tables.apply(op)?
            });
        }
        if let Some(note) = &job.note {
            let seq = match next {
                Some(n) => n,
                None => tables.next_note()?,
            };
            if let Some(text) = note.text.build(seq, &r) {
                tables.txn.put_note(seq, &text)?;
                next = Some(seq + 1);
                deliveries.push((i, text));
            }
        }
        results.push(r);
    }
    Ok((results, deliveries))
}
