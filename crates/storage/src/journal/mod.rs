//! The journal: the durable truth of what exists.
//!
//! A tenant's namespace, every committed file's metadata and where its
//! encrypted bytes are, and every partial upload kept for resumption live
//! here. A file is visible only once its record is committed; a blob that
//! no record names is garbage (start-up removes it).
//!
//! Two engines hold it (decision 0016): one redb file on one machine
//! (`redb_engine`, the default; decision 0001) or PostgreSQL
//! (`pg`). Every operation (`ops`, `handoff`, `checks`, `lanes`)
//! and every read (`reads`) is written once over the engine-neutral
//! `tables::Txn` and `reads::Snapshot`.
//!
//! All writes go through one writer thread that groups whatever operations
//! are waiting into a single durable transaction (group commit): with many
//! sessions closing files at once they share one commit instead of
//! queueing for one each. Reads take a snapshot and never wait for it.

pub mod checks;
#[cfg(feature = "engines")]
mod copy;
pub mod fence;
pub mod handoff;
pub mod lanes;
mod notes;
mod ops;
#[cfg(feature = "engines")]
pub mod pg;
mod reads;
pub mod records;
mod redb_engine;
mod store;
mod tables;
mod writer;

pub use checks::ChecksOp;
#[cfg(feature = "engines")]
pub use copy::{CopyReport, copy_to_postgres};
pub use fence::Fence;
pub use handoff::{DeliveryRecord, DeliveryState, HandoffOp, ImportMark};
pub use lanes::{LaneOp, lane_of_owner, lane_owner};
pub use notes::{BuildNote, Note, NoteText};
pub use ops::Op;
#[cfg(feature = "engines")]
pub use pg::{PgConfig, PgJournal, migrate_schema};
pub use records::{
    Approval, BanRecord, BoxKind, CheckRecord, Delivered, EntryRecord, ObjectRecord, ObjectState,
    PartialRecord, Release, SegmentRef, dir_prefix, entry_key, partial_key, tenant_prefix,
};
pub use redb_engine::RedbJournal;
pub use store::{Committed, Journal, JournalStore};
pub use tables::{OpError, Outcome, StoreError};

/// Version of the record layout; bumped with a migration when it changes.
const SCHEMA_VERSION: &str = "1";
/// Most operations the writer folds into one transaction.
const MAX_GROUP: usize = 256;

/// A failure of the journal itself (not of an operation's preconditions).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: StoreError,
    },
    #[error("journal {path} is already in use by another renkei process")]
    Locked { path: String },
    #[error("journal {path} has schema version {found}; this renkei understands {SCHEMA_VERSION}")]
    Schema { path: String, found: String },
    #[error("journal storage error: {0}")]
    Storage(#[from] StoreError),
    #[error("journal commit failed, nothing was applied: {0}")]
    Commit(String),
    #[error("the journal writer has stopped")]
    WriterGone,
}

/// An operation's result: done, or refused with nothing changed.
pub type OpResult = Result<Outcome, OpError>;

/// Either the operation was refused, or the journal failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

#[cfg(test)]
mod tests;
