//! Opens the engines `[storage]` names (decision 0016): the journal in
//! `<data_dir>/journal.redb` or in PostgreSQL. Only this crate opens
//! storage; the core receives a [`Journal`] and never knows which engine
//! is under it.

use renkei_config::{Config, JournalAt, PostgresJournal};
use renkei_storage::journal::{self, Journal, JournalError, PgConfig, PgJournal, StoreError};
use std::sync::Arc;

/// The PostgreSQL settings with the password read from its file.
pub fn pg_config(p: &PostgresJournal) -> Result<PgConfig, JournalError> {
    let password = match &p.password_file {
        None => None,
        Some(path) => Some(
            renkei_config::storage::read_password(path).map_err(|message| JournalError::Open {
                path: p.url.clone(),
                source: StoreError::Postgres(format!("journal_password_file: {message}")),
            })?,
        ),
    };
    Ok(PgConfig {
        url: p.url.clone(),
        password,
        timeout: p.timeout,
        readers: p.connections,
    })
}

/// The journal the configuration names, opened (and on PostgreSQL, its
/// schema brought up to date).
pub fn open_journal(config: &Config) -> Result<Journal, JournalError> {
    match &config.storage.journal {
        JournalAt::Local => Journal::open(&config.server.data_dir.join("journal.redb")),
        JournalAt::Postgres(p) => Ok(Journal::with_store(Arc::new(PgJournal::open(pg_config(
            p,
        )?)?))),
    }
}

/// `renkei migrate-schema`: brings a PostgreSQL journal's schema up to
/// date. Returns what it did, for the operator.
pub fn migrate_schema(config: &Config) -> Result<String, JournalError> {
    match &config.storage.journal {
        JournalAt::Local => Ok(
            "storage.journal is local (redb): its layout is checked when the daemon opens it; nothing to migrate"
                .to_string(),
        ),
        JournalAt::Postgres(p) => {
            let before = journal::migrate_schema(&pg_config(p)?)?;
            Ok(if before == journal::pg::SCHEMA {
                format!("journal schema at {}: already version {before}", p.url)
            } else {
                format!(
                    "journal schema at {}: migrated from version {before} to {}",
                    p.url,
                    journal::pg::SCHEMA
                )
            })
        }
    }
}
