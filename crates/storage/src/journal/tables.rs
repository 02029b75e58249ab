//! The journal's tables inside one write transaction, the typed get and put
//! over them, and what an operation reports: the ground floor that the
//! namespace operations (`ops`), the hand-off operations (`handoff`), the
//! checks' and the lanes' operations are all written on.
//!
//! Every operation is written once, against [`Txn`]: a write transaction
//! of whichever engine holds the journal (redb on one machine, PostgreSQL
//! for several; decision 0016). An engine provides key-value tables with
//! byte-ordered keys and a table of notes; the preconditions, the records
//! and what each operation means are the same on both.

use super::records::{ObjectRecord, PartialRecord, SegmentRef};

/// What an operation did.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Blobs nothing refers to any more; the caller deletes them after the
    /// commit (a crash before that leaves orphans, which start-up removes).
    pub garbage: Vec<SegmentRef>,
    /// The object the operation acted on, as it is now.
    pub object: Option<ObjectRecord>,
    /// An object that was superseded by this operation.
    pub replaced: Option<ObjectRecord>,
    /// A partial that was dropped.
    pub partial: Option<PartialRecord>,
}

/// Why an operation's preconditions did not hold. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("no such file or directory")]
    NotFound,
    #[error("already exists")]
    Exists,
    #[error("is a directory")]
    IsDir,
    #[error("is not a directory")]
    NotDir,
    #[error("directory is not empty")]
    NotEmpty,
    #[error("the directory it would go into does not exist")]
    ParentMissing,
    #[error("changed meanwhile")]
    Stale,
    #[error(
        "this node no longer holds the lease the work was started under; another node has taken it over"
    )]
    Fenced,
    #[error("already handed on")]
    HandedOn,
}

/// The journal's key-value tables. Keys are UTF-8 with `\0` separators
/// and sort bytewise on every engine; values are JSON records (`meta`
/// holds plain text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Entries,
    Objects,
    Partials,
    Bans,
    Deliveries,
    /// Delivery records by tenant (`tenant\0route\0object` → nothing).
    ByTenant,
    Imports,
    Meta,
}

impl Table {
    /// Every table, in the order an engine creates them.
    pub const ALL: [Table; 8] = [
        Table::Entries,
        Table::Objects,
        Table::Partials,
        Table::Bans,
        Table::Deliveries,
        Table::ByTenant,
        Table::Imports,
        Table::Meta,
    ];

    /// The table's name in every engine (a redb table, a PostgreSQL table
    /// with a `journal_` prefix).
    pub fn name(self) -> &'static str {
        match self {
            Table::Entries => "entries",
            Table::Objects => "objects",
            Table::Partials => "partials",
            Table::Bans => "bans",
            Table::Deliveries => "deliveries",
            Table::ByTenant => "deliveries_by_tenant",
            Table::Imports => "imports",
            Table::Meta => "meta",
        }
    }
}

/// A failure of the engine under the journal, or a record it cannot read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Redb(#[from] redb::Error),
    #[error("journal database: {0}")]
    Postgres(String),
    /// PostgreSQL refused a transaction for a conflict with another
    /// node's (serialization failure, deadlock): nothing of it happened,
    /// and running it again decides it anew.
    #[error("journal database: {0} (a conflicting change by another node; tried again)")]
    Conflict(String),
    #[error("{0}")]
    Corrupt(String),
}

/// One write transaction of an engine. Nothing is durable until the
/// engine commits it; dropped uncommitted, nothing happened.
pub trait Txn {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Whether there was something to remove.
    fn remove(&mut self, table: Table, key: &str) -> Result<bool, StoreError>;
    /// Whether any key starts with `prefix`.
    fn any_with_prefix(&mut self, table: Table, prefix: &str) -> Result<bool, StoreError>;
    /// The newest note's sequence number.
    fn last_note(&mut self) -> Result<Option<u64>, StoreError>;
    fn put_note(&mut self, seq: u64, text: &str) -> Result<(), StoreError>;
    /// Drops the notes up to and including `through`; whether any remain.
    fn drop_notes(&mut self, through: u64) -> Result<bool, StoreError>;
    /// Whether this node still holds the lease of `fence`, at its epoch and
    /// unexpired, kept so until the transaction ends (`journal::fence`).
    fn holds(&mut self, fence: &super::fence::Fence) -> Result<bool, StoreError>;
}

/// The operations' view of a transaction.
pub(super) struct Tables<'t> {
    pub txn: &'t mut dyn Txn,
}

fn corrupt(what: &str, key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("journal {what} {key:?} is unreadable: {e}"))
}

/// What a record in `table` is called in an error message.
fn what(table: Table) -> &'static str {
    match table {
        Table::Entries => "entry",
        Table::Objects => "object",
        Table::Partials => "partial",
        Table::Bans => "ban",
        Table::Deliveries | Table::ByTenant => "delivery",
        Table::Imports => "import mark",
        Table::Meta => "meta",
    }
}

/// A JSON record read back from its bytes.
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    table: Table,
    key: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(what(table), key, e))
}

impl Tables<'_> {
    pub(super) fn get<T: serde::de::DeserializeOwned>(
        &mut self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.txn.get(table, key)? {
            None => Ok(None),
            Some(v) => decode(table, key, &v).map(Some),
        }
    }

    pub(super) fn put<T: serde::Serialize>(
        &mut self,
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| corrupt("record", key, e))?;
        self.txn.put(table, key, &bytes)
    }

    pub(super) fn exists(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        Ok(self.txn.get(table, key)?.is_some())
    }

    pub(super) fn remove(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        self.txn.remove(table, key)
    }

    /// A fact in `meta`.
    pub(super) fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        match self.txn.get(Table::Meta, key)? {
            None => Ok(None),
            Some(v) => String::from_utf8(v)
                .map(Some)
                .map_err(|e| corrupt("meta", key, e)),
        }
    }

    pub(super) fn put_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.txn.put(Table::Meta, key, value.as_bytes())
    }
}
