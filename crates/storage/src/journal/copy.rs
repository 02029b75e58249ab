//! Copying a journal from redb into PostgreSQL (`renkei storage migrate`,
//! decision 0016): every table's records byte for byte, the notes not yet
//! in the trail included, in one PostgreSQL transaction, then counted on
//! both sides. The records are the same JSON on both engines, so nothing
//! is translated and nothing can be lost in translation.
//!
//! An offline tool: the source is read from one redb snapshot (the daemon
//! is stopped; redb refuses a second process). A table is held in memory
//! while it is copied (about its size on disk).

use std::collections::BTreeMap;
use std::thread;

use super::pg::{self, PgConfig, pg_error};
use super::reads::Snapshot;
use super::tables::{StoreError, Table};
use super::{JournalError, RedbJournal};

/// What was copied: rows per table (and `notes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub rows: BTreeMap<String, u64>,
    /// The target already held exactly these records (a migration run
    /// again after it had committed): nothing was written.
    pub already_there: bool,
}

/// Copies every record of `source` into the PostgreSQL journal at
/// `target`, which must be empty (or hold exactly the same counts, from an
/// earlier run of the same copy).
pub fn copy_to_postgres(
    source: &RedbJournal,
    target: &PgConfig,
) -> Result<CopyReport, JournalError> {
    let mut snapshot = source.snapshot()?;
    let mut tables = Vec::new();
    for t in Table::ALL {
        tables.push((t, snapshot.scan(t, "")?));
    }
    let notes = snapshot.notes()?;
    let mut rows: BTreeMap<String, u64> = tables
        .iter()
        .map(|(t, r)| (t.name().to_string(), r.len() as u64))
        .collect();
    rows.insert("notes".into(), notes.len() as u64);
    let config = target.clone();
    let shown = target.shown();
    let expected = rows.clone();
    let open_err = |source: StoreError| JournalError::Open {
        path: shown.clone(),
        source,
    };
    thread::Builder::new()
        .name("journal-copy".into())
        .spawn(move || load(&config, &tables, &notes, &expected))
        .map_err(|e| open_err(StoreError::Postgres(e.to_string())))?
        .join()
        .map_err(|_| open_err(StoreError::Postgres("the copying thread failed".into())))?
        .map(|already_there| CopyReport {
            rows,
            already_there,
        })
        .map_err(open_err)
}

fn table_name(t: &str) -> String {
    format!("journal_{t}")
}

/// Rows in each journal table of the target.
fn counts(client: &mut postgres::Client) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut out = BTreeMap::new();
    for t in Table::ALL {
        let row = client
            .query_one(
                &format!("SELECT count(*) FROM {}", table_name(t.name())),
                &[],
            )
            .map_err(pg_error)?;
        out.insert(t.name().to_string(), row.get::<_, i64>(0).unsigned_abs());
    }
    let row = client
        .query_one("SELECT count(*) FROM journal_notes", &[])
        .map_err(pg_error)?;
    out.insert("notes".into(), row.get::<_, i64>(0).unsigned_abs());
    Ok(out)
}

type Rows = Vec<(Table, Vec<(String, Vec<u8>)>)>;

/// Loads the rows; `Ok(true)` when the target already held them.
fn load(
    config: &PgConfig,
    tables: &Rows,
    notes: &[(u64, String)],
    expected: &BTreeMap<String, u64>,
) -> Result<bool, StoreError> {
    let mut client = pg::connect_for_copy(config)?;
    let before = counts(&mut client)?;
    if before == *expected {
        return Ok(true);
    }
    if before.values().any(|n| *n > 0) {
        let held: Vec<String> = before
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        return Err(StoreError::Postgres(format!(
            "the target journal is not empty ({}): a migration goes into an empty database",
            held.join(", ")
        )));
    }
    let mut tx = client.transaction().map_err(pg_error)?;
    for (t, rows) in tables {
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {} (key, value) VALUES ($1, $2)",
                table_name(t.name())
            ))
            .map_err(pg_error)?;
        for (key, value) in rows {
            let text = std::str::from_utf8(value).map_err(|e| {
                StoreError::Corrupt(format!("journal {} {key:?} is not UTF-8: {e}", t.name()))
            })?;
            tx.execute(&insert, &[&key.as_bytes(), &text])
                .map_err(pg_error)?;
        }
    }
    let insert = tx
        .prepare("INSERT INTO journal_notes (seq, text) VALUES ($1, $2)")
        .map_err(pg_error)?;
    for (seq, text) in notes {
        let seq = i64::try_from(*seq)
            .map_err(|_| StoreError::Corrupt(format!("note {seq} is out of range")))?;
        tx.execute(&insert, &[&seq, text]).map_err(pg_error)?;
    }
    tx.commit().map_err(pg_error)?;
    let after = counts(&mut client)?;
    if after != *expected {
        return Err(StoreError::Postgres(format!(
            "after the copy the target holds {after:?}, the source {expected:?}"
        )));
    }
    Ok(false)
}
