//! Opens the engines `[storage]` names (decision 0016): the journal in
//! `<data_dir>/journal.redb` or in PostgreSQL, the vault's blobs in
//! `<data_dir>/vault/` or in an S3-compatible bucket. Only this crate opens
//! storage; the core receives a [`Journal`] and never knows which engine
//! is under it.

use renkei_config::{BlobsAt, Config, JournalAt, PostgresJournal, S3Blobs};
use renkei_storage::journal::{self, Journal, JournalError, PgConfig, PgJournal, StoreError};
use renkei_storage::vault::{S3Config, S3Store, Vault, VaultError};
use std::sync::Arc;

// The configuration's check of `limits.max_queued_requests` counts the
// parts the vault really fills.
const _: () =
    assert!(renkei_config::storage::S3_PART_SIZE == renkei_storage::vault::s3::PART_SIZE as u64);

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
        tls: p.tls.as_ref().map(|t| journal::pg::PgTls {
            ca_file: t.ca_file.clone(),
            client: t.client.clone(),
        }),
        // One writing node per database until the daemon runs its
        // singleton work under leases (decision 0017).
        shared: false,
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

/// The S3 settings with the key read from its file.
pub fn s3_config(b: &S3Blobs) -> Result<S3Config, VaultError> {
    let (access_key_id, secret_access_key) =
        renkei_config::storage::read_s3_credentials(&b.credentials_file).map_err(|message| {
            VaultError::Dir {
                path: format!("s3://{}/{}", b.bucket, b.prefix),
                source: std::io::Error::other(format!("s3_credentials_file: {message}")),
            }
        })?;
    Ok(S3Config {
        bucket: b.bucket.clone(),
        prefix: b.prefix.clone(),
        endpoint: b.endpoint.clone(),
        region: b.region.clone(),
        access_key_id,
        secret_access_key,
        timeout: b.timeout,
    })
}

/// The vault the configuration names: its key always a local file, its
/// blobs in `local_dir` or in the bucket.
pub fn open_vault(config: &Config, local_dir: &std::path::Path) -> Result<Vault, VaultError> {
    match &config.storage.blobs {
        BlobsAt::Local => Vault::open(&config.vault.identity, local_dir),
        BlobsAt::S3(b) => {
            let store = S3Store::open(&s3_config(b)?).map_err(|source| VaultError::Dir {
                path: format!("s3://{}/{}", b.bucket, b.prefix),
                source,
            })?;
            Vault::with_store(&config.vault.identity, Box::new(store))
        }
    }
}

/// Where the audit trail's copies go: beside the blobs in the bucket
/// (`s3://bucket/audit` for `s3://bucket/vault`), when the files are in S3.
pub fn open_trail_copies(
    config: &Config,
) -> Result<Option<Arc<dyn renkei_storage::audit::copies::TrailCopies>>, VaultError> {
    let BlobsAt::S3(b) = &config.storage.blobs else {
        return Ok(None);
    };
    let mut at = s3_config(b)?;
    at.prefix = b.audit_prefix();
    let store = S3Store::open(&at).map_err(|source| VaultError::Dir {
        path: format!("s3://{}/{}", at.bucket, at.prefix),
        source,
    })?;
    Ok(Some(Arc::new(store)))
}
