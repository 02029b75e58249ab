//! The journal's statements, prepared once per connection, and the
//! PostgreSQL write transaction and snapshot the operations and reads run
//! on (`tables::Txn`, `reads::Snapshot`).

use postgres::{Client, GenericClient, Statement, Transaction};

use super::super::reads::Snapshot;
use super::super::tables::{StoreError, Table, Txn};
use super::pg_error;

/// One table's statements.
struct Of {
    get: Statement,
    get_many: Statement,
    put: Statement,
    remove: Statement,
    scan: Statement,
    any: Statement,
}

/// Every statement the journal runs, prepared on one connection.
pub struct Statements {
    tables: Vec<Of>,
    last_note: Statement,
    put_note: Statement,
    drop_notes: Statement,
    any_note: Statement,
    notes: Statement,
}

impl Statements {
    pub fn prepare(client: &mut Client) -> Result<Statements, StoreError> {
        let mut tables = Vec::with_capacity(Table::ALL.len());
        for t in Table::ALL {
            let n = format!("journal_{}", t.name());
            let mut p = |sql: String| client.prepare(&sql).map_err(pg_error);
            tables.push(Of {
                get: p(format!("SELECT value FROM {n} WHERE key = $1"))?,
                get_many: p(format!("SELECT key, value FROM {n} WHERE key = ANY($1)"))?,
                put: p(format!(
                    "INSERT INTO {n} (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ))?,
                remove: p(format!("DELETE FROM {n} WHERE key = $1"))?,
                scan: p(format!(
                    "SELECT key, value FROM {n} WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) ORDER BY key"
                ))?,
                any: p(format!(
                    "SELECT 1 FROM {n} WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) LIMIT 1"
                ))?,
            });
        }
        let mut p = |sql: &str| client.prepare(sql).map_err(pg_error);
        Ok(Statements {
            tables,
            last_note: p("SELECT max(seq) FROM journal_notes")?,
            put_note: p("INSERT INTO journal_notes (seq, text) VALUES ($1, $2)")?,
            drop_notes: p("DELETE FROM journal_notes WHERE seq <= $1")?,
            any_note: p("SELECT 1 FROM journal_notes LIMIT 1")?,
            notes: p("SELECT seq, text FROM journal_notes ORDER BY seq")?,
        })
    }

    fn of(&self, table: Table) -> &Of {
        let i = Table::ALL.iter().position(|t| *t == table).unwrap_or(0);
        &self.tables[i]
    }
}

/// The first key past every key that starts with `prefix` (`None`: no
/// upper bound, for an empty prefix or one of only 0xff bytes).
fn past(prefix: &str) -> Option<Vec<u8>> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn text(value: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(value)
        .map_err(|e| StoreError::Corrupt(format!("a journal record is not UTF-8: {e}")))
}

fn key_text(key: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(key)
        .map_err(|e| StoreError::Corrupt(format!("a journal key is not UTF-8: {e}")))
}

fn seq_of(v: Option<i64>) -> Result<Option<u64>, StoreError> {
    v.map(|s| {
        u64::try_from(s).map_err(|_| StoreError::Corrupt(format!("note sequence {s} is negative")))
    })
    .transpose()
}

fn seq_param(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("note sequence {seq} is too large")))
}

/// Reads shared by a write transaction and a snapshot.
fn get(
    c: &mut impl GenericClient,
    s: &Statements,
    t: Table,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row = c
        .query_opt(&s.of(t).get, &[&key.as_bytes()])
        .map_err(pg_error)?;
    Ok(row.map(|r| r.get::<_, String>(0).into_bytes()))
}

fn last_note(c: &mut impl GenericClient, s: &Statements) -> Result<Option<u64>, StoreError> {
    let row = c.query_one(&s.last_note, &[]).map_err(pg_error)?;
    seq_of(row.get(0))
}

/// A PostgreSQL write transaction as the operations see it.
pub struct PgTxn<'a, 't> {
    pub tx: &'a mut Transaction<'t>,
    pub statements: &'a Statements,
}

impl Txn for PgTxn<'_, '_> {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get(self.tx, self.statements, table, key)
    }

    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let st = &self.statements.of(table).put;
        self.tx
            .execute(st, &[&key.as_bytes(), &text(value)?])
            .map_err(pg_error)?;
        Ok(())
    }

    fn remove(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        let st = &self.statements.of(table).remove;
        Ok(self.tx.execute(st, &[&key.as_bytes()]).map_err(pg_error)? > 0)
    }

    fn any_with_prefix(&mut self, table: Table, prefix: &str) -> Result<bool, StoreError> {
        let st = &self.statements.of(table).any;
        let end = past(prefix);
        let row = self
            .tx
            .query_opt(st, &[&prefix.as_bytes(), &end])
            .map_err(pg_error)?;
        Ok(row.is_some())
    }

    fn last_note(&mut self) -> Result<Option<u64>, StoreError> {
        last_note(self.tx, self.statements)
    }

    fn put_note(&mut self, seq: u64, text: &str) -> Result<(), StoreError> {
        self.tx
            .execute(&self.statements.put_note, &[&seq_param(seq)?, &text])
            .map_err(pg_error)?;
        Ok(())
    }

    fn drop_notes(&mut self, through: u64) -> Result<bool, StoreError> {
        self.tx
            .execute(&self.statements.drop_notes, &[&seq_param(through)?])
            .map_err(pg_error)?;
        let any = self
            .tx
            .query_opt(&self.statements.any_note, &[])
            .map_err(pg_error)?;
        Ok(any.is_some())
    }

    fn holds(&mut self, fence: &super::super::fence::Fence) -> Result<bool, StoreError> {
        // FOR SHARE: a takeover's UPDATE of the row waits for this
        // transaction to end, so the work commits before the new holder
        // can start, or not at all.
        let row = self
            .tx
            .query_opt(
                "SELECT 1 FROM cluster_leases WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp() FOR SHARE",
                &[&fence.name, &fence.holder, &fence.epoch],
            )
            .map_err(pg_error)?;
        Ok(row.is_some())
    }
}

/// A read-only repeatable-read transaction: one consistent snapshot.
pub struct PgSnapshot<'a, 't> {
    pub tx: &'a mut Transaction<'t>,
    pub statements: &'a Statements,
}

impl Snapshot for PgSnapshot<'_, '_> {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        get(self.tx, self.statements, table, key)
    }

    fn scan(&mut self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let st = &self.statements.of(table).scan;
        let end = past(prefix);
        let rows = self
            .tx
            .query(st, &[&prefix.as_bytes(), &end])
            .map_err(pg_error)?;
        rows.into_iter()
            .map(|r| Ok((key_text(r.get(0))?, r.get::<_, String>(1).into_bytes())))
            .collect()
    }

    fn get_many(
        &mut self,
        table: Table,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let st = &self.statements.of(table).get_many;
        let wanted: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let rows = self.tx.query(st, &[&wanted]).map_err(pg_error)?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for r in rows {
            found.insert(r.get::<_, Vec<u8>>(0), r.get::<_, String>(1).into_bytes());
        }
        Ok(keys
            .iter()
            .map(|k| found.get(k.as_bytes()).cloned())
            .collect())
    }

    fn notes(&mut self) -> Result<Vec<(u64, String)>, StoreError> {
        let rows = self
            .tx
            .query(&self.statements.notes, &[])
            .map_err(pg_error)?;
        rows.into_iter()
            .map(|r| {
                let seq = seq_of(Some(r.get::<_, i64>(0)))?.unwrap_or(0);
                Ok((seq, r.get::<_, String>(1)))
            })
            .collect()
    }

    fn last_note(&mut self) -> Result<Option<u64>, StoreError> {
        last_note(self.tx, self.statements)
    }
}

#[cfg(test)]
mod tests {
    use super::past;

    #[test]
    fn past_is_the_first_key_after_the_prefix() {
        assert_eq!(past(""), None);
        assert_eq!(past("a\0"), Some(b"a\x01".to_vec()));
        assert_eq!(past("ab"), Some(b"ac".to_vec()));
    }
}
