//! The journal's schema in PostgreSQL and its versioned migrations.
//!
//! Each migration is a list of statements applied in one transaction
//! under an advisory lock, so two nodes starting at once (or `renkei
//! migrate-schema` beside a running node) cannot both apply it; the
//! version reached is kept in `renkei_schema`. A database whose version
//! is newer than this renkei knows is refused, never written.
//!
//! One table per journal table, `key bytea` (keys hold `\0` separators
//! and must sort bytewise, whatever the database's collation) and
//! `value text` (the JSON record, readable with `value::jsonb`).

use postgres::Client;

use super::super::tables::{StoreError, Table};
use super::pg_error;

/// Arbitrary, fixed: the advisory lock every renkei takes to migrate.
const MIGRATION_LOCK: i64 = 0x7265_6e6b_6569_0001;

/// The newest schema this renkei understands.
pub const SCHEMA: i32 = 2;

fn migration(version: i32) -> Vec<String> {
    match version {
        1 => {
            let mut out: Vec<String> = Table::ALL
                .iter()
                .map(|t| {
                    format!(
                        "CREATE TABLE journal_{} (key bytea PRIMARY KEY, value text NOT NULL)",
                        t.name()
                    )
                })
                .collect();
            out.push(
                "CREATE TABLE journal_notes (seq bigint PRIMARY KEY, text text NOT NULL)".into(),
            );
            out
        }
        // Several nodes (decision 0017): who is alive, and who holds what.
        2 => vec![
            "CREATE TABLE cluster_nodes (node text PRIMARY KEY, address text NOT NULL, version text NOT NULL, started_at timestamptz NOT NULL, heartbeat_at timestamptz NOT NULL)".into(),
            "CREATE TABLE cluster_leases (name text PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL)".into(),
        ],
        _ => Vec::new(),
    }
}

/// Brings the schema to [`SCHEMA`]; returns the version it was at.
pub fn migrate(client: &mut Client) -> Result<i32, StoreError> {
    let mut tx = client.transaction().map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg_error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS renkei_schema (version integer NOT NULL)")
        .map_err(pg_error)?;
    let found: Option<i32> = tx
        .query_opt("SELECT max(version) FROM renkei_schema", &[])
        .map_err(pg_error)?
        .and_then(|row| row.get(0));
    let found = found.unwrap_or(0);
    if found > SCHEMA {
        return Err(StoreError::Postgres(format!(
            "the database has journal schema version {found}; this renkei understands up to {SCHEMA}: upgrade renkei first"
        )));
    }
    for version in found + 1..=SCHEMA {
        for statement in migration(version) {
            tx.batch_execute(&statement).map_err(pg_error)?;
        }
        tx.execute(
            "INSERT INTO renkei_schema (version) VALUES ($1)",
            &[&version],
        )
        .map_err(pg_error)?;
    }
    tx.commit().map_err(pg_error)?;
    Ok(found)
}
