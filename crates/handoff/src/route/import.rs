//! Taking files another program wrote into a directory (the standard
//! system's distribution folder) into a tenant's box.
//!
//! When is a file complete? A writer that is still writing must never be
//! read half-way. The rule, per route:
//!
//! - with `ready_suffix` (e.g. `.end`): a file is taken once `NAME.end`
//!   exists beside it — the convention batch systems already use;
//! - otherwise: once its size and modification time have stayed the same
//!   for `settle` (default 2 s) between two looks, and again right after
//!   it was read.
//!
//! Names starting with `.` and ending in `.tmp`, `.part` or `~` are never
//! taken (writers that write under a temporary name and rename into place
//! are always safe). Symlinks and anything but regular files are refused.
//!
//! Exactly once: the file is committed to the box together with an import
//! mark (name, size, SHA-256) in one journal transaction; then the source
//! file (and its ready file) is removed; then the mark is dropped. A crash
//! between the commit and the removal leaves a source file whose mark
//! matches it: it is removed at the next look, not imported again.

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use renkei_config::{Route, TenantCode};
use renkei_core::namespace::{Namespace, NsError, NsPath, Principal};
use renkei_core::records::JournalError;
use renkei_core::transfer::{Imported, OpenMode, Upload};
use renkei_model::boxes::BoxKind;

use super::spool::sha256_of;

/// Read size when importing.
const CHUNK: usize = 256 << 10;

/// A file seen in a source directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub size: u64,
    pub mtime_ns: i128,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Store(#[from] NsError),
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("{path} is not a regular file; only regular files are taken")]
    NotRegular { path: String },
    #[error(
        "{path} is a symbolic link or not a directory; a source directory is never followed elsewhere: make it a real directory"
    )]
    NotADirectory { path: String },
    #[error("{0}")]
    Conflict(String),
}

/// What one look at a candidate did.
#[derive(Debug)]
pub enum Taken {
    Imported {
        object: String,
    },
    /// A crash came between its commit and the removal; removed now.
    AlreadyImported,
    /// It changed while being read: not complete after all.
    Changed,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Whether a name in a source directory is never taken.
pub fn ignored(name: &str, ready_suffix: Option<&str>) -> bool {
    name.starts_with('.')
        || name.ends_with(".tmp")
        || name.ends_with(".part")
        || name.ends_with('~')
        || ready_suffix.is_some_and(|s| name.ends_with(s))
}

/// Size and time of a regular file, not following symlinks.
pub fn look(path: &Path) -> io::Result<Option<Seen>> {
    let m = fs::symlink_metadata(path)?;
    if !m.file_type().is_file() {
        return Ok(None);
    }
    Ok(Some(Seen {
        size: m.len(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    }))
}

pub(super) fn route_principal(route: &Route, tenant: &TenantCode) -> Principal {
    Principal::route(&route.name, tenant.clone())
}

fn remove_source(dir: &Path, name: &str, ready: Option<&str>) -> Result<(), ImportError> {
    let mut paths = vec![dir.join(name)];
    if let Some(s) = ready {
        paths.push(dir.join(format!("{name}{s}")));
    }
    for p in &paths {
        match fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(p)(e)),
        }
    }
    renkei_core::fsutil::fsync_dir(dir).map_err(io_err(dir))
}

/// A complete file in a tenant's source directory.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub tenant: &'a TenantCode,
    pub dir: &'a Path,
    pub name: &'a str,
    /// The route's ready suffix, if it uses one.
    pub ready: Option<&'a str>,
    /// Size and time when it was judged complete.
    pub seen: &'a Seen,
}

/// A tenant's source directory must be a directory itself, not a symbolic
/// link to one: files inside are never followed, and neither is the
/// directory, or whoever can replace it would choose what is imported (and
/// removed) as that municipality's.
pub fn real_dir(dir: &Path) -> Result<(), ImportError> {
    let m = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    if m.file_type().is_dir() {
        Ok(())
    } else {
        Err(ImportError::NotADirectory {
            path: dir.display().to_string(),
        })
    }
}

/// Takes the candidate into `bx` of its tenant. Blocking.
// Long: the exactly-once import in order (mark, open without following
// links, copy, commit with the mark, remove, drop the mark).
pub fn take(
    ns: &Arc<Namespace>,
    route: &Route,
    bx: BoxKind,
    c: &Candidate<'_>,
) -> Result<Taken, ImportError> {
    let Candidate {
        tenant,
        dir,
        name,
        ready,
        seen,
    } = *c;
    real_dir(dir)?;
    let path: PathBuf = dir.join(name);
    if let Some(mark) = ns.import_mark(&route.name, tenant.as_str(), name)?
        && mark.size == seen.size
        && sha256_of(&path).map_err(io_err(&path))? == mark.sha256
    {
        remove_source(dir, name, ready)?;
        drop_mark(ns, &route.name, tenant.as_str(), name)?;
        return Ok(Taken::AlreadyImported);
    }
    let ns_path = NsPath::in_box(bx, name, ns.limits().max_path_depth)
        .map_err(|e| ImportError::Store(NsError::BadPath(e)))?;
    let who = route_principal(route, tenant);
    let mut file = OpenOptions::new()
        .read(true)
        // NONBLOCK: a FIFO swapped in after the look would otherwise wait
        // for a writer for ever; it is then refused as not a regular file.
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(&path)
        .map_err(io_err(&path))?;
    if !file
        .metadata()
        .map_err(io_err(&path))?
        .file_type()
        .is_file()
    {
        return Err(ImportError::NotRegular {
            path: path.display().to_string(),
        });
    }
    let mut up = match Upload::begin(ns, &who, &ns_path, OpenMode::Exclusive) {
        Ok(up) => up,
        Err(NsError::Exists { .. }) => {
            let existing = ns.stored_sha256(&who, &ns_path)?;
            return same_or_conflict(route, existing, dir, name, ready);
        }
        Err(e) => return Err(e.into()),
    };
    let mut offset = 0u64;
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = file.read(&mut buf).map_err(io_err(&path))?;
        super::steps::tick();
        if n == 0 {
            break;
        }
        buf.truncate(n);
        up.write(offset, Bytes::from(buf))?;
        offset += n as u64;
    }
    if look(&path).map_err(io_err(&path))?.as_ref() != Some(seen) || offset != seen.size {
        up.abandon("the source file changed while it was read");
        return Ok(Taken::Changed);
    }
    let object = up.commit_import(&Imported {
        route: &route.name,
        tenant: tenant.as_str(),
        bx,
        name,
        source: path.display().to_string(),
    })?;
    remove_source(dir, name, ready)?;
    drop_mark(ns, &route.name, tenant.as_str(), name)?;
    Ok(Taken::Imported { object: object.id })
}

/// The box already has a file of that name: the same bytes mean it was
/// imported before; other bytes wait until the tenant has taken the old
/// one (a waiting file is never replaced unseen).
fn same_or_conflict(
    route: &Route,
    existing: Option<String>,
    dir: &Path,
    name: &str,
    ready: Option<&str>,
) -> Result<Taken, ImportError> {
    let path = dir.join(name);
    let found = sha256_of(&path).map_err(io_err(&path))?;
    if existing.as_deref() == Some(found.as_str()) {
        remove_source(dir, name, ready)?;
        return Ok(Taken::AlreadyImported);
    }
    Err(ImportError::Conflict(waiting_conflict(name, &route.name)))
}

/// Why a file is not imported while an older one of its name waits.
pub(super) fn waiting_conflict(name: &str, route: &str) -> String {
    format!(
        "a file {name} with other contents is still waiting in the box; route {route} takes the new one once the old one is received"
    )
}

/// Forgets the import mark of `name` once its source is removed.
pub(super) fn drop_mark(
    ns: &Namespace,
    route: &str,
    tenant: &str,
    name: &str,
) -> Result<(), ImportError> {
    Ok(ns.drop_import_mark(route, tenant, name)?)
}
