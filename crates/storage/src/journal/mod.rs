//! The journal: the durable truth of what exists (redb).
//!
//! A tenant's namespace, every committed file's metadata and where its
//! encrypted bytes are, and every partial upload kept for resumption live
//! here. A file is visible only once its record is committed; a blob on
//! disk that no record names is garbage (start-up removes it). See
//! `docs/decisions/0001-redb-journal.md` for why redb.
//!
//! All writes go through one writer thread that groups whatever operations
//! are waiting into a single durable transaction (group commit): with many
//! sessions closing files at once they share one fsync instead of queueing
//! for one each. Reads take a snapshot and never wait for the writer.

pub mod checks;
pub mod handoff;
pub mod lanes;
mod notes;
mod ops;
pub mod records;
mod store;
mod tables;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

pub use checks::ChecksOp;
pub use handoff::{DeliveryRecord, DeliveryState, HandoffOp, ImportMark};
pub use lanes::{LaneOp, lane_of_owner, lane_owner};
pub use notes::{Note, NoteText};
pub use ops::Op;
pub use records::{
    Approval, BanRecord, BoxKind, CheckRecord, Delivered, EntryRecord, ObjectRecord, ObjectState,
    PartialRecord, Release, SegmentRef, dir_prefix, entry_key, partial_key, tenant_prefix,
};
pub use store::{Committed, Journal, JournalStore};
pub use tables::{OpError, Outcome};
use writer::Job;

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const PARTIALS: TableDefinition<&str, &[u8]> = TableDefinition::new("partials");
const BANS: TableDefinition<&str, &[u8]> = TableDefinition::new("bans");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const DELIVERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("deliveries");
const IMPORTS: TableDefinition<&str, &[u8]> = TableDefinition::new("imports");
/// Delivery records by tenant (`tenant\0route\0object` → nothing), so a
/// municipality's `/receipts` reads its own records, not everyone's.
const BY_TENANT: TableDefinition<&str, &[u8]> = TableDefinition::new("deliveries_by_tenant");

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
        source: redb::Error,
    },
    #[error("journal {path} is already in use by another renkei process")]
    Locked { path: String },
    #[error("journal {path} has schema version {found}; this renkei understands {SCHEMA_VERSION}")]
    Schema { path: String, found: String },
    #[error("journal storage error: {0}")]
    Storage(#[from] redb::Error),
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

/// The journal in a redb file, with one writer thread that folds waiting
/// transactions into one durable commit (group commit).
pub struct RedbJournal {
    db: Arc<Database>,
    writer: mpsc::Sender<Job>,
}

fn to_redb<E: Into<redb::Error>>(e: E) -> redb::Error {
    e.into()
}

impl RedbJournal {
    /// Opens (creating if needed) the journal at `path` and starts its
    /// writer thread.
    pub fn open(path: &Path) -> Result<RedbJournal, JournalError> {
        let shown = path.display().to_string();
        let db = match Database::create(path) {
            Ok(db) => {
                // redb creates the file with the process umask; the journal
                // holds names and digests: owner only, whatever the umask.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                    |source| JournalError::Open {
                        path: shown.clone(),
                        source: source.into(),
                    },
                )?;
                db
            }
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(JournalError::Locked { path: shown });
            }
            Err(e) => {
                return Err(JournalError::Open {
                    path: shown,
                    source: e.into(),
                });
            }
        };
        let open_err = |source: redb::Error| JournalError::Open {
            path: shown.clone(),
            source,
        };
        let txn = db.begin_write().map_err(|e| open_err(e.into()))?;
        {
            for def in [ENTRIES, OBJECTS, PARTIALS, BANS, DELIVERIES, IMPORTS] {
                txn.open_table(def).map_err(|e| open_err(e.into()))?;
            }
            handoff::index_by_tenant(&txn).map_err(open_err)?;
            txn.open_table(notes::NOTES)
                .map_err(|e| open_err(e.into()))?;
            let mut meta = txn.open_table(META).map_err(|e| open_err(e.into()))?;
            let found = meta
                .get("schema")
                .map_err(|e| open_err(e.into()))?
                .map(|v| v.value().to_string());
            match found {
                None => {
                    meta.insert("schema", SCHEMA_VERSION)
                        .map_err(|e| open_err(e.into()))?;
                }
                Some(v) if v == SCHEMA_VERSION => {}
                Some(v) => {
                    return Err(JournalError::Schema {
                        path: shown,
                        found: v,
                    });
                }
            }
        }
        txn.commit().map_err(|e| open_err(e.into()))?;

        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel::<Job>();
        let wdb = Arc::clone(&db);
        thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer::run(&wdb, &rx))
            .map_err(|e| open_err(redb::Error::Io(e)))?;
        Ok(RedbJournal { db, writer: tx })
    }

    fn read<T>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        f: impl FnOnce(&redb::ReadOnlyTable<&str, &[u8]>) -> Result<T, redb::Error>,
    ) -> Result<T, JournalError> {
        let txn = self.db.begin_read().map_err(to_redb)?;
        let table = txn.open_table(def).map_err(to_redb)?;
        Ok(f(&table)?)
    }

    /// A fact kept with [`Op::PutMeta`].
    pub fn meta(&self, key: &str) -> Result<Option<String>, JournalError> {
        let txn = self.db.begin_read().map_err(to_redb)?;
        let table = txn.open_table(META).map_err(to_redb)?;
        Ok(table
            .get(key)
            .map_err(to_redb)?
            .map(|v| v.value().to_string()))
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>, JournalError> {
        self.read(def, |t| match t.get(key)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(|e| {
                redb::Error::Corrupted(format!("journal record {key:?} is unreadable: {e}"))
            }),
        })
    }

    /// Every record whose key starts with `prefix`, in key order.
    fn scan<T: serde::de::DeserializeOwned>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, JournalError> {
        self.read(def, |t| {
            let mut out = Vec::new();
            for item in t.range(prefix..)? {
                let (k, v) = item?;
                let key = k.value();
                if !key.starts_with(prefix) {
                    break;
                }
                let rec = serde_json::from_slice(v.value()).map_err(|e| {
                    redb::Error::Corrupted(format!("journal record {key:?} is unreadable: {e}"))
                })?;
                out.push((key.to_string(), rec));
            }
            Ok(out)
        })
    }

    pub fn entry(&self, key: &str) -> Result<Option<EntryRecord>, JournalError> {
        self.get(ENTRIES, key)
    }

    /// Entries directly inside a directory (by its prefix), name order.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, EntryRecord)>, JournalError> {
        self.scan(ENTRIES, prefix)
    }

    /// Entries directly inside a directory with the objects of its files,
    /// read from one snapshot.
    pub fn list_resolved(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, EntryRecord, Option<ObjectRecord>)>, JournalError> {
        let txn = self.db.begin_read().map_err(to_redb)?;
        let entries = txn.open_table(ENTRIES).map_err(to_redb)?;
        let objects = txn.open_table(OBJECTS).map_err(to_redb)?;
        let unreadable = |key: &str, e: serde_json::Error| {
            JournalError::Storage(redb::Error::Corrupted(format!(
                "journal record {key:?} is unreadable: {e}"
            )))
        };
        let mut out = Vec::new();
        for item in entries.range(prefix..).map_err(to_redb)? {
            let (k, v) = item.map_err(to_redb)?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            let entry: EntryRecord =
                serde_json::from_slice(v.value()).map_err(|e| unreadable(key, e))?;
            let object = match &entry {
                EntryRecord::File { object } => {
                    match objects.get(object.as_str()).map_err(to_redb)? {
                        Some(o) => Some(
                            serde_json::from_slice(o.value()).map_err(|e| unreadable(object, e))?,
                        ),
                        None => None,
                    }
                }
                EntryRecord::Dir { .. } => None,
            };
            out.push((records::name_of_key(key).to_string(), entry, object));
        }
        Ok(out)
    }

    pub fn object(&self, id: &str) -> Result<Option<ObjectRecord>, JournalError> {
        self.get(OBJECTS, id)
    }

    pub fn partial(&self, key: &str) -> Result<Option<PartialRecord>, JournalError> {
        self.get(PARTIALS, key)
    }

    /// Partials whose key starts with `prefix` (`""` for all).
    pub fn partials(&self, prefix: &str) -> Result<Vec<(String, PartialRecord)>, JournalError> {
        self.scan(PARTIALS, prefix)
    }

    /// Every object record (for start-up checks and reports).
    pub fn objects(&self) -> Result<Vec<ObjectRecord>, JournalError> {
        Ok(self
            .scan::<ObjectRecord>(OBJECTS, "")?
            .into_iter()
            .map(|(_, o)| o)
            .collect())
    }

    /// Every ban record (active or expired).
    pub fn bans(&self) -> Result<Vec<BanRecord>, JournalError> {
        Ok(self
            .scan::<BanRecord>(BANS, "")?
            .into_iter()
            .map(|(_, b)| b)
            .collect())
    }

    /// Every entry of a tenant, files and directories, in key order.
    pub fn tenant_entries(&self, tenant: &str) -> Result<Vec<(String, EntryRecord)>, JournalError> {
        self.scan(ENTRIES, &tenant_prefix(tenant))
    }
}

#[cfg(test)]
mod tests;
