//! The journal in one redb file: the single-machine engine, and the
//! default. One writer thread folds waiting transactions into one durable
//! commit (group commit); reads take a snapshot and never wait for it.
//! See `docs/decisions/0001-redb-journal.md` for why redb.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};

use super::handoff::DeliveryRecord;
use super::reads::Snapshot;
use super::tables::{StoreError, Table, Txn};
use super::writer::{self, Commit, Group, Job};
use super::{JournalError, SCHEMA_VERSION};

const NOTES: TableDefinition<u64, &str> = TableDefinition::new("notes");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

fn def(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(table.name())
}

/// The journal in a redb file.
pub struct RedbJournal {
    db: Arc<Database>,
    writer: mpsc::Sender<Job>,
}

fn to_store<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Redb(e.into())
}

impl RedbJournal {
    /// Opens (creating if needed) the journal at `path` and starts its
    /// writer thread.
    pub fn open(path: &Path) -> Result<RedbJournal, JournalError> {
        let shown = path.display().to_string();
        let open_err = |source: StoreError| JournalError::Open {
            path: shown.clone(),
            source,
        };
        let db = match Database::create(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(JournalError::Locked { path: shown });
            }
            Err(e) => return Err(open_err(to_store(e))),
        };
        // redb creates the file with the process umask; the journal holds
        // names and digests: owner only, whatever the umask.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| open_err(to_store(e)))?;
        let txn = db.begin_write().map_err(|e| open_err(to_store(e)))?;
        prepare(&txn, &shown)?;
        txn.commit().map_err(|e| open_err(to_store(e)))?;

        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel::<Job>();
        let mut engine = RedbWriter {
            db: Arc::clone(&db),
        };
        thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer::run(&mut engine, &rx))
            .map_err(|e| open_err(to_store(e)))?;
        Ok(RedbJournal { db, writer: tx })
    }

    pub(super) fn writer(&self) -> &mpsc::Sender<Job> {
        &self.writer
    }

    pub(in crate::journal) fn snapshot(&self) -> Result<RedbSnapshot, StoreError> {
        Ok(RedbSnapshot {
            txn: self.db.begin_read().map_err(to_store)?,
        })
    }
}

/// Creates the tables, checks the schema version, and fills the by-tenant
/// index of a journal written before it existed.
fn prepare(txn: &WriteTransaction, shown: &str) -> Result<(), JournalError> {
    let open_err = |source: StoreError| JournalError::Open {
        path: shown.to_string(),
        source,
    };
    for t in Table::ALL {
        if t != Table::Meta {
            txn.open_table(def(t)).map_err(|e| open_err(to_store(e)))?;
        }
    }
    index_by_tenant(txn).map_err(open_err)?;
    txn.open_table(NOTES).map_err(|e| open_err(to_store(e)))?;
    let mut meta = txn.open_table(META).map_err(|e| open_err(to_store(e)))?;
    let found = meta
        .get("schema")
        .map_err(|e| open_err(to_store(e)))?
        .map(|v| v.value().to_string());
    match found {
        None => {
            meta.insert("schema", SCHEMA_VERSION)
                .map_err(|e| open_err(to_store(e)))?;
        }
        Some(v) if v == SCHEMA_VERSION => {}
        Some(v) => {
            return Err(JournalError::Schema {
                path: shown.to_string(),
                found: v,
            });
        }
    }
    Ok(())
}

/// Fills the by-tenant index from the delivery records when it is empty
/// and they are not (a journal written before the index existed).
fn index_by_tenant(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut index = txn.open_table(def(Table::ByTenant)).map_err(to_store)?;
    if index.first().map_err(to_store)?.is_some() {
        return Ok(());
    }
    let deliveries = txn.open_table(def(Table::Deliveries)).map_err(to_store)?;
    for item in deliveries.iter().map_err(to_store)? {
        let (k, v) = item.map_err(to_store)?;
        let r: DeliveryRecord = super::tables::decode(Table::Deliveries, k.value(), v.value())?;
        let key = super::handoff::tenant_key(&r.tenant, &r.route, &r.object);
        index.insert(key.as_str(), &[][..]).map_err(to_store)?;
    }
    Ok(())
}

struct RedbWriter {
    db: Arc<Database>,
}

impl Commit for RedbWriter {
    fn commit_group(&mut self, jobs: &[Job]) -> Result<Group, StoreError> {
        let txn = self.db.begin_write().map_err(to_store)?;
        let group = {
            let mut t = RedbTxn::open(&txn)?;
            writer::apply_group(&mut t, jobs)?
        };
        txn.commit().map_err(to_store)?;
        Ok(group)
    }
}

type KvTable<'a> = redb::Table<'a, &'static str, &'static [u8]>;

/// A redb write transaction as the operations see it, its tables opened
/// once per group.
struct RedbTxn<'a> {
    /// The key-value tables in [`Table::ALL`] order, `meta` left out.
    kv: Vec<KvTable<'a>>,
    meta: redb::Table<'a, &'static str, &'static str>,
    notes: redb::Table<'a, u64, &'static str>,
}

impl<'a> RedbTxn<'a> {
    fn open(txn: &'a WriteTransaction) -> Result<RedbTxn<'a>, StoreError> {
        let mut kv = Vec::with_capacity(Table::ALL.len());
        for t in Table::ALL {
            if t != Table::Meta {
                kv.push(txn.open_table(def(t)).map_err(to_store)?);
            }
        }
        Ok(RedbTxn {
            kv,
            meta: txn.open_table(META).map_err(to_store)?,
            notes: txn.open_table(NOTES).map_err(to_store)?,
        })
    }

    fn kv(&mut self, table: Table) -> Result<&mut KvTable<'a>, StoreError> {
        let i = Table::ALL
            .iter()
            .filter(|t| **t != Table::Meta)
            .position(|t| *t == table);
        i.and_then(|i| self.kv.get_mut(i))
            .ok_or_else(|| StoreError::Corrupt(format!("no table {}", table.name())))
    }
}

fn meta_text<'v>(key: &str, value: &'v [u8]) -> Result<&'v str, StoreError> {
    std::str::from_utf8(value)
        .map_err(|e| StoreError::Corrupt(format!("meta {key:?} is not text: {e}")))
}

impl Txn for RedbTxn<'_> {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if table == Table::Meta {
            return Ok(self
                .meta
                .get(key)
                .map_err(to_store)?
                .map(|v| v.value().as_bytes().to_vec()));
        }
        Ok(self
            .kv(table)?
            .get(key)
            .map_err(to_store)?
            .map(|v| v.value().to_vec()))
    }

    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if table == Table::Meta {
            self.meta
                .insert(key, meta_text(key, value)?)
                .map_err(to_store)?;
        } else {
            self.kv(table)?.insert(key, value).map_err(to_store)?;
        }
        Ok(())
    }

    fn remove(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        if table == Table::Meta {
            return Ok(self.meta.remove(key).map_err(to_store)?.is_some());
        }
        Ok(self.kv(table)?.remove(key).map_err(to_store)?.is_some())
    }

    fn any_with_prefix(&mut self, table: Table, prefix: &str) -> Result<bool, StoreError> {
        let t = self.kv(table)?;
        let mut range = t.range(prefix..).map_err(to_store)?;
        Ok(match range.next() {
            Some(item) => item.map_err(to_store)?.0.value().starts_with(prefix),
            None => false,
        })
    }

    fn last_note(&mut self) -> Result<Option<u64>, StoreError> {
        Ok(self.notes.last().map_err(to_store)?.map(|(k, _)| k.value()))
    }

    fn put_note(&mut self, seq: u64, text: &str) -> Result<(), StoreError> {
        self.notes.insert(seq, text).map_err(to_store)?;
        Ok(())
    }

    fn drop_notes(&mut self, through: u64) -> Result<bool, StoreError> {
        self.notes
            .retain_in(..=through, |_, _| false)
            .map_err(to_store)?;
        Ok(self.notes.first().map_err(to_store)?.is_some())
    }

    fn holds(&mut self, _fence: &super::fence::Fence) -> Result<bool, StoreError> {
        // One machine: nobody to be fenced from (a cluster needs
        // PostgreSQL, decision 0017).
        Ok(true)
    }
}

/// A redb read transaction: a consistent snapshot.
pub(super) struct RedbSnapshot {
    txn: ReadTransaction,
}

impl RedbSnapshot {
    fn table(
        &self,
        table: Table,
    ) -> Result<ReadOnlyTable<&'static str, &'static [u8]>, StoreError> {
        self.txn.open_table(def(table)).map_err(to_store)
    }
}

impl Snapshot for RedbSnapshot {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if table == Table::Meta {
            let t = self.txn.open_table(META).map_err(to_store)?;
            return Ok(t
                .get(key)
                .map_err(to_store)?
                .map(|v| v.value().as_bytes().to_vec()));
        }
        Ok(self
            .table(table)?
            .get(key)
            .map_err(to_store)?
            .map(|v| v.value().to_vec()))
    }

    fn scan(&mut self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        if table == Table::Meta {
            let t = self.txn.open_table(META).map_err(to_store)?;
            for item in t.range(prefix..).map_err(to_store)? {
                let (k, v) = item.map_err(to_store)?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                out.push((k.value().to_string(), v.value().as_bytes().to_vec()));
            }
            return Ok(out);
        }
        let t = self.table(table)?;
        for item in t.range(prefix..).map_err(to_store)? {
            let (k, v) = item.map_err(to_store)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn notes(&mut self) -> Result<Vec<(u64, String)>, StoreError> {
        let t = self.txn.open_table(NOTES).map_err(to_store)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(to_store)? {
            let (k, v) = item.map_err(to_store)?;
            out.push((k.value(), v.value().to_string()));
        }
        Ok(out)
    }

    fn last_note(&mut self) -> Result<Option<u64>, StoreError> {
        let t = self.txn.open_table(NOTES).map_err(to_store)?;
        Ok(t.last().map_err(to_store)?.map(|(k, _)| k.value()))
    }
}
