//! Handing a file to a spool directory so that it appears there exactly
//! once, whole, whatever instant the daemon dies at.
//!
//! The protocol, for file `NAME` of hand-off `TAG` (route and object):
//!
//! 1. decrypt into `.renkei-TAG.part`, hashing; a SHA-256 that differs
//!    from the one recorded at upload stops here and delivers nothing;
//!    fsync;
//! 2. hard-link it as `.renkei-TAG.sent` (the receipt);
//! 3. rename `.part` to `NAME`, refusing to replace anything (atomic: the
//!    `.part` name disappears exactly when `NAME` appears);
//! 4. create the trigger file `NAME<suffix>` if the route wants one;
//!    fsync the directory;
//! 5. the caller commits `delivered` to the journal, then removes the
//!    receipt ([`forget`]).
//!
//! At a restart before step 5, the two hidden names tell where it stopped:
//! receipt and `.part` both present = linked but not renamed (rename now);
//! receipt alone = placed (the ingest may even have consumed it already:
//! do not write it again); `.part` alone = unfinished (start over). A
//! `NAME` already present with the same SHA-256 counts as delivered; with
//! other bytes it is a conflict that waits for the ingest to take the old
//! file. Names starting with `.renkei-` in a spool directory belong to
//! renkei; ingests must ignore dot-files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use crate::place::Placed;
use crate::place::{PlaceError, Placement};
use renkei_core::namespace::Namespace;
use renkei_core::records::ObjectRecord;
use renkei_core::records::VaultError;

/// Why a hand-off to a directory did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Place(#[from] PlaceError),
}

impl From<VaultError> for SpoolError {
    fn from(e: VaultError) -> Self {
        SpoolError::Place(PlaceError::Read(e))
    }
}

impl SpoolError {
    /// Whether trying again cannot help (the stored bytes are bad).
    pub fn is_permanent(&self) -> bool {
        matches!(self, SpoolError::Place(e) if e.is_permanent())
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn exists(path: &Path) -> Result<bool, SpoolError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn remove_if_present(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// SHA-256 of a regular file's contents. Anything else under that name —
/// a symlink, a FIFO, a device, a directory — is refused without being
/// read: opening a FIFO for reading would wait for a writer forever.
pub fn sha256_of(path: &Path) -> io::Result<String> {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    let kind = f.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({}); it is left alone", describe(kind)),
        ));
    }
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = f.read(&mut buf)?;
        super::steps::tick();
        if n == 0 {
            return Ok(hex::encode(h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

fn describe(kind: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Whether a receipt (and the working file beside it) proves that this
/// object was written there: regular files with the object's SHA-256. A
/// receipt renkei did not make, or one left from other bytes, proves
/// nothing.
fn receipt_proves(target: &Placement, object: &ObjectRecord, have_part: bool) -> bool {
    let same = |p: String| sha256_of(Path::new(&p)).is_ok_and(|h| h == object.sha256);
    same(target.receipt()) && (!have_part || same(target.part()))
}

/// Hands `object` to `target` (steps 1–4 above). Blocking.
pub fn deliver(
    ns: &Namespace,
    object: &ObjectRecord,
    target: &Placement,
) -> Result<Placed, SpoolError> {
    let dir = Path::new(&target.dir);
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let (part, receipt) = (
        PathBuf::from(target.part()),
        PathBuf::from(target.receipt()),
    );
    let mut linked = exists(&receipt)?;
    let have_part = exists(&part)?;
    if linked && !receipt_proves(target, object, have_part) {
        // Not ours, or not these bytes: start over.
        remove_if_present(&receipt)?;
        remove_if_present(&part)?;
        linked = false;
    }
    if linked && !have_part {
        // Placed by an earlier attempt; the ingest may have taken it since.
        finish_placing(target)?;
        return Ok(Placed::AlreadyThere);
    }
    if !linked {
        remove_if_present(&part)?;
        write_part(ns, object, &part)?;
        fs::hard_link(&part, &receipt).map_err(io_err(&receipt))?;
    }
    let file = PathBuf::from(target.file());
    let placed = match rustix::fs::renameat_with(
        rustix::fs::CWD,
        &part,
        rustix::fs::CWD,
        &file,
        rustix::fs::RenameFlags::NOREPLACE,
    ) {
        Ok(()) => Placed::Written,
        Err(rustix::io::Errno::EXIST) => {
            let found = sha256_of(&file).map_err(io_err(&file))?;
            remove_if_present(&part)?;
            if found != object.sha256 {
                remove_if_present(&receipt)?;
                return Err(PlaceError::Conflict {
                    place: format!("{} (SHA-256 {found})", file.display()),
                }
                .into());
            }
            Placed::AlreadyThere
        }
        Err(e) => return Err(io_err(&file)(e.into())),
    };
    finish_placing(target)?;
    Ok(placed)
}

/// Step 4: the trigger file (only while the data file is there: if the
/// ingest already took both, nothing is recreated) and the directory sync.
fn finish_placing(target: &Placement) -> Result<(), SpoolError> {
    if let Some(trigger) = target.trigger().map(PathBuf::from)
        && exists(Path::new(&target.file()))?
    {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&trigger)
        {
            Ok(f) => f.sync_all().map_err(io_err(&trigger))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(&trigger)(e)),
        }
    }
    let dir = Path::new(&target.dir);
    renkei_core::fsutil::fsync_dir(dir).map_err(io_err(dir))
}

/// Step 5, after the journal says `delivered`: the receipt goes. A failure
/// only leaves a hidden file behind, reported in the log.
pub fn forget(target: &Placement) {
    if let Err(e) = remove_if_present(Path::new(&target.receipt())) {
        tracing::warn!(error = %e, "could not remove a hand-off receipt");
    }
}

/// Step 1: decrypt, hash, check, fsync.
fn write_part(ns: &Namespace, object: &ObjectRecord, part: &Path) -> Result<(), SpoolError> {
    let mut reader = ns.open_object(object)?;
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(part)
        .map_err(io_err(part))?;
    let mut hasher = Sha256::new();
    let mut write_error = None;
    let read = reader.for_each_chunk(|chunk| {
        if write_error.is_none() {
            hasher.update(chunk);
            if let Err(e) = out.write_all(chunk) {
                write_error = Some(e);
            }
            super::steps::tick();
        }
    });
    if let Err(e) = read {
        // Bytes that could not be read back whole never stay in a spool.
        drop(out);
        let _ = fs::remove_file(part);
        return Err(e.into());
    }
    if let Some(e) = write_error {
        drop(out);
        let _ = fs::remove_file(part);
        return Err(io_err(part)(e));
    }
    let found = hex::encode(hasher.finalize());
    if found != object.sha256 {
        drop(out);
        let _ = fs::remove_file(part);
        return Err(PlaceError::Corrupt {
            expected: object.sha256.clone(),
            found,
        }
        .into());
    }
    out.sync_all().map_err(io_err(part))?;
    drop::<File>(out);
    Ok(())
}
