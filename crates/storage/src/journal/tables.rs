//! The journal's tables inside one write transaction, the typed get and put
//! over them, and what an operation reports: the ground floor that the
//! namespace operations (`ops`) and the hand-off operations (`handoff`)
//! are both written on.

use redb::{ReadableTable, Table};

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
    #[error("already handed on")]
    HandedOn,
}

pub(super) struct Tables<'t> {
    pub entries: Table<'t, &'static str, &'static [u8]>,
    pub objects: Table<'t, &'static str, &'static [u8]>,
    pub partials: Table<'t, &'static str, &'static [u8]>,
    pub bans: Table<'t, &'static str, &'static [u8]>,
    pub deliveries: Table<'t, &'static str, &'static [u8]>,
    pub by_tenant: Table<'t, &'static str, &'static [u8]>,
    pub imports: Table<'t, &'static str, &'static [u8]>,
    pub notes: Table<'t, u64, &'static str>,
    pub meta: Table<'t, &'static str, &'static str>,
}

fn corrupt(what: &str, key: &str, e: serde_json::Error) -> redb::Error {
    redb::Error::Corrupted(format!("journal {what} {key:?} is unreadable: {e}"))
}

pub(super) fn get<T: serde::de::DeserializeOwned>(
    table: &Table<'_, &'static str, &'static [u8]>,
    what: &str,
    key: &str,
) -> Result<Option<T>, redb::Error> {
    match table.get(key)? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| corrupt(what, key, e)),
    }
}

pub(super) fn put<T: serde::Serialize>(
    table: &mut Table<'_, &'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> Result<(), redb::Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| corrupt("record", key, e))?;
    table.insert(key, bytes.as_slice())?;
    Ok(())
}
