//! Early writeback of segments being written.
//!
//! A segment must be fsynced before its upload is acknowledged. Left to the
//! end, that fsync of a large file stalls the upload for as long as the disk
//! needs to absorb everything at once. Instead, every [`FLUSH_EVERY`] bytes
//! the writer asks one background thread to `fdatasync` a duplicate of the
//! segment's descriptor, so writeback overlaps the transfer and the final
//! fsync finds little left. It is only an optimisation: a request dropped
//! because the thread is busy costs time, never durability.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

/// Plaintext bytes between early flushes of one segment.
pub const FLUSH_EVERY: u64 = 8 << 20;

struct Job {
    file: Arc<File>,
    pending: Arc<AtomicBool>,
}

pub(super) struct Flusher {
    tx: Option<SyncSender<Job>>,
}

impl Flusher {
    pub(super) fn start() -> Flusher {
        let (tx, rx) = sync_channel::<Job>(64);
        let spawned = std::thread::Builder::new()
            .name("vault-flusher".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let _ = job.file.sync_data();
                    job.pending.store(false, Ordering::Release);
                }
            });
        Flusher {
            tx: spawned.ok().map(|_| tx),
        }
    }

    /// An early-flush handle for a new segment file (none if the file
    /// cannot be duplicated: the final fsync then does all the work).
    pub(super) fn handle(&self, file: &File) -> Option<EarlyFlush> {
        Some(EarlyFlush {
            tx: self.tx.clone()?,
            file: Arc::new(file.try_clone().ok()?),
            pending: Arc::new(AtomicBool::new(false)),
            since: 0,
        })
    }
}

pub(super) struct EarlyFlush {
    tx: SyncSender<Job>,
    file: Arc<File>,
    pending: Arc<AtomicBool>,
    since: u64,
}

impl EarlyFlush {
    pub(super) fn wrote(&mut self, n: u64) {
        self.since += n;
        if self.since < FLUSH_EVERY || self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        self.since = 0;
        let job = Job {
            file: Arc::clone(&self.file),
            pending: Arc::clone(&self.pending),
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(job) {
            self.pending.store(false, Ordering::Release);
        }
    }
}
