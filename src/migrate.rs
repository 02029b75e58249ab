//! `renkei storage migrate --from <data_dir> --to <config>`: a single-node
//! installation moves its journal into PostgreSQL and its stored files into
//! an S3 bucket (decision 0016, docs/storage.md), offline, and proves it:
//!
//! 1. every blob the journal needs (stored, held and waiting files, and
//!    every partial upload's sealed segments) is copied to the target's
//!    store as the same ciphertext under the same id; one already there is
//!    kept, so a run cut short can be run again;
//! 2. every journal record (entries, objects, partials, deliveries, import
//!    marks, bans, lanes' and checks' states, schedules, notes) is copied
//!    into PostgreSQL in one transaction and counted on both sides;
//! 3. every file is read back from the target through the vault key and
//!    its SHA-256 compared with its record;
//! 4. `journal.redb` is renamed `journal.redb.migrated`, so the old
//!    configuration can no longer start on a journal that is not the
//!    truth any more.
//!
//! 5. with the files in S3, the audit trail is copied into the bucket up
//!    to its last checkpoint (`audit::copies`; the daemon keeps the copies
//!    current from then on).
//!
//! The node's own files stay where they are: the keys, the host keys and
//! the audit trail itself (the target configuration must use the same data
//! directory; moving to another machine is copying that directory).
//! Nothing is delivered again: the delivery records move with the files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use renkei_config::{BlobsAt, Config, JournalAt};
use renkei_storage::journal::{self, JournalError, JournalStore, RedbJournal};
use renkei_storage::vault::{BlobStore, LocalDir, ObjectReader, S3Store, Vault, VaultError};
use sha2::{Digest, Sha256};

/// Why a migration stopped. Nothing at the source was changed unless the
/// error says so.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("blob {blob}: {source}")]
    Blob {
        blob: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "file {path} ({id}) read back from the target does not match its SHA-256: the journal was copied, journal.redb was kept; run the migration again after fixing the store"
    )]
    Mismatch { path: String, id: String },
}

/// What a migration did, for the operator.
#[derive(Debug, Default)]
pub struct Migrated {
    pub rows: std::collections::BTreeMap<String, u64>,
    pub blobs_copied: u64,
    pub blobs_present: u64,
    pub bytes_copied: u64,
    pub files_verified: u64,
    pub moved_aside: Option<PathBuf>,
    /// The trail's copies: where, and the files copied.
    pub trail_copied: Option<(String, usize)>,
}

impl std::fmt::Display for Migrated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "journal records copied:")?;
        for (t, n) in &self.rows {
            writeln!(f, "  {t:22} {n}")?;
        }
        writeln!(
            f,
            "blobs: {} copied ({} bytes of ciphertext), {} already in the target",
            self.blobs_copied, self.bytes_copied, self.blobs_present
        )?;
        writeln!(
            f,
            "files read back from the target, SHA-256 matching: {}",
            self.files_verified
        )?;
        if let Some((at, n)) = &self.trail_copied {
            writeln!(
                f,
                "audit trail copied to {at} up to its last checkpoint ({n} files)"
            )?;
        }
        if let Some(p) = &self.moved_aside {
            writeln!(
                f,
                "the old journal is now {} (keep it until you no longer need to go back)",
                p.display()
            )?;
        }
        Ok(())
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Moves the single-node data directory `from` onto the engines `to`
/// names.
pub fn migrate(from: &Path, to: &Config) -> Result<Migrated, MigrateError> {
    let JournalAt::Postgres(pg) = &to.storage.journal else {
        return Err(MigrateError::Refused(
            "the target configuration keeps the journal local: set [storage] journal = \"postgresql://…\"".into(),
        ));
    };
    if !same_dir(from, &to.server.data_dir) {
        return Err(MigrateError::Refused(format!(
            "the target configuration's data_dir is {}, not {}: the keys and the audit trail stay in the data directory (copy it first to move machines)",
            to.server.data_dir.display(),
            from.display()
        )));
    }
    if crate::preflight::daemon_running(from) {
        return Err(MigrateError::Refused(format!(
            "a daemon is serving {}: stop it first",
            from.display()
        )));
    }
    let redb_path = from.join("journal.redb");
    if !redb_path.exists() {
        return Err(MigrateError::Refused(format!(
            "{} does not exist: nothing to migrate",
            redb_path.display()
        )));
    }
    let _lock = renkei_storage::fsutil::lock_dir(from)
        .map_err(|e| MigrateError::Refused(format!("data directory {}: {e}", from.display())))?;
    let source = Arc::new(RedbJournal::open(&redb_path)?);
    let local = LocalDir::open(&from.join("vault")).map_err(|source| VaultError::Dir {
        path: from.join("vault").display().to_string(),
        source,
    })?;
    let target_store: Option<Box<dyn BlobStore>> = match &to.storage.blobs {
        BlobsAt::Local => None,
        BlobsAt::S3(b) => {
            let s3 = S3Store::open(&crate::engines::s3_config(b)?).map_err(|source| {
                VaultError::Dir {
                    path: format!("s3://{}/{}", b.bucket, b.prefix),
                    source,
                }
            })?;
            Some(Box::new(s3))
        }
    };
    let mut done = Migrated::default();
    if let Some(target) = &target_store {
        copy_blobs(source.as_ref(), &local, target.as_ref(), &mut done)?;
    }
    let report = journal::copy_to_postgres(&source, &crate::engines::pg_config(pg)?)?;
    done.rows = report.rows;
    let vault = match target_store {
        Some(store) => Vault::with_store(&to.vault.identity, store)?,
        None => Vault::open(&to.vault.identity, &from.join("vault"))?,
    };
    verify(source.as_ref(), Arc::new(vault), &mut done)?;
    if let Some(to) = crate::engines::open_trail_copies(to)? {
        let report = renkei_storage::audit::copies::copy_signed(&from.join("audit"), to.as_ref())
            .map_err(|e| MigrateError::Refused(format!("{e}; the journal and the files were copied, journal.redb was kept: run the migration again")))?;
        done.trail_copied = Some((to.shown(), report.copied.len() + report.current));
    }
    drop(source);
    let aside = from.join("journal.redb.migrated");
    std::fs::rename(&redb_path, &aside).map_err(|source| MigrateError::Blob {
        blob: redb_path.display().to_string(),
        source,
    })?;
    done.moved_aside = Some(aside);
    Ok(done)
}

/// The blob ids the journal needs, and whether each must exist.
fn needed(source: &dyn JournalStore) -> Result<Vec<(String, bool)>, MigrateError> {
    let mut ids = Vec::new();
    for o in source.objects()? {
        let must = o.state.keeps_blobs();
        ids.extend(o.segments.iter().map(|s| (s.blob.clone(), must)));
    }
    for (_, p) in source.partials("")? {
        ids.extend(p.segments.iter().map(|s| (s.blob.clone(), true)));
    }
    ids.sort();
    ids.dedup_by(|a, b| {
        a.0 == b.0 && {
            b.1 |= a.1;
            true
        }
    });
    Ok(ids)
}

fn copy_blobs(
    source: &dyn JournalStore,
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    done: &mut Migrated,
) -> Result<(), MigrateError> {
    for (id, must) in needed(source)? {
        let blob_err = |source| MigrateError::Blob {
            blob: id.clone(),
            source,
        };
        if to.check(&id).is_ok() {
            done.blobs_present += 1;
            continue;
        }
        let mut input = match from.open(&id) {
            Ok(r) => r,
            // A superseded or deleted file's blobs may be gone already.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must => continue,
            Err(e) => return Err(blob_err(e)),
        };
        let mut output = to.create(&id).map_err(blob_err)?;
        let n = std::io::copy(&mut input, &mut output).map_err(blob_err)?;
        output.seal().map_err(blob_err)?;
        done.blobs_copied += 1;
        done.bytes_copied += n;
    }
    Ok(())
}

/// Reads every file that keeps its bytes back from the target and checks
/// its SHA-256 against its record.
fn verify(
    source: &dyn JournalStore,
    vault: Arc<Vault>,
    done: &mut Migrated,
) -> Result<(), MigrateError> {
    for o in source.objects()? {
        if !o.state.keeps_blobs() {
            continue;
        }
        let mut reader = ObjectReader::open(Arc::clone(&vault), &o.segments)?;
        let mut hash = Sha256::new();
        reader.for_each_chunk(|chunk| hash.update(chunk))?;
        if hex::encode(hash.finalize()) != o.sha256 {
            return Err(MigrateError::Mismatch {
                path: o.path.clone(),
                id: o.id.clone(),
            });
        }
        done.files_verified += 1;
    }
    Ok(())
}
