//! The writer thread: every change to the journal goes through it.
//!
//! It folds whatever operations are waiting (up to `MAX_GROUP`) into one
//! durable transaction — group commit — so many sessions closing files at
//! once share one fsync. Each operation checks its preconditions before
//! writing (see `ops`), so one refused operation never spoils its group.
//! Notes are stored in the same transaction and delivered after it is
//! durable, before anyone in the group hears back.

use std::sync::mpsc;

use redb::Database;
use tokio::sync::oneshot;

use super::notes::{NOTES, Note};
use super::{
    BANS, BY_TENANT, DELIVERIES, ENTRIES, IMPORTS, JournalError, MAX_GROUP, META, OBJECTS, Op,
    OpResult, PARTIALS, tables,
};

pub(super) struct Job {
    pub ops: Vec<Op>,
    pub reply: oneshot::Sender<Result<Vec<OpResult>, JournalError>>,
    pub note: Option<Note>,
}

/// A stored note's text and where it goes once durable.
type Delivery = (String, Box<dyn FnOnce(String) + Send>);

pub(super) fn run(db: &Database, rx: &mpsc::Receiver<Job>) {
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
        match commit_group(db, &mut jobs) {
            Ok((results, deliveries)) => {
                for (text, deliver) in deliveries {
                    deliver(text);
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

fn commit_group(
    db: &Database,
    jobs: &mut [Job],
) -> Result<(Vec<Vec<OpResult>>, Vec<Delivery>), redb::Error> {
    let txn = db.begin_write()?;
    let mut results = Vec::with_capacity(jobs.len());
    let mut deliveries = Vec::new();
    {
        let mut tables = tables::Tables {
            entries: txn.open_table(ENTRIES)?,
            objects: txn.open_table(OBJECTS)?,
            partials: txn.open_table(PARTIALS)?,
            bans: txn.open_table(BANS)?,
            deliveries: txn.open_table(DELIVERIES)?,
            by_tenant: txn.open_table(BY_TENANT)?,
            imports: txn.open_table(IMPORTS)?,
            notes: txn.open_table(NOTES)?,
            meta: txn.open_table(META)?,
        };
        let mut next = None;
        for job in jobs.iter_mut() {
            let mut r = Vec::with_capacity(job.ops.len());
            for op in &job.ops {
                r.push(tables.apply(op)?);
            }
            if let Some(note) = job.note.take() {
                let seq = match next {
                    Some(n) => n,
                    None => tables.next_note()?,
                };
                if let Some(text) = (note.text)(seq, &r) {
                    tables.notes.insert(seq, text.as_str())?;
                    next = Some(seq + 1);
                    deliveries.push((text, note.deliver));
                }
            }
            results.push(r);
        }
    }
    txn.commit()?;
    Ok((results, deliveries))
}
