//! Small file-system helpers for durability and secrets.
//!
//! Durability on Linux needs two fsyncs for a new file: the file's data and
//! the directory entry that names it. Secrets (host key, vault key) must be
//! created 0600 from the first byte, not chmod-ed after the fact.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// fsyncs a directory so that entries created or removed in it survive a
/// crash.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a directory (and parents) with mode 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes a new secret file with mode 0600, durably. Fails if it exists.
pub fn write_secret(path: &Path, contents: &[u8]) -> io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        create_private_dir(parent)?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)?;
    f.sync_all()?;
    if let Some(parent) = parent {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// Writes a new public (non-secret) file with mode 0644, durably.
pub fn write_public(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

/// Refuses a private key file that other users can read or write, the way
/// OpenSSH does: a key that leaked is not a key.
pub fn check_private(path: &Path) -> io::Result<()> {
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is accessible by other users (mode {mode:04o}); run: chmod 600 {}",
                path.display(),
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Takes the data directory for this process: an exclusive lock on
/// `<dir>/renkei.lock`, held while the returned file is open. A second
/// daemon on the same directory is refused whichever engine holds the
/// journal (redb locks its file itself; PostgreSQL cannot know).
pub fn lock_dir(dir: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join("renkei.lock"))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |e| {
            if e == rustix::io::Errno::WOULDBLOCK {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "already in use by another renkei process",
                )
            } else {
                e.into()
            }
        },
    )?;
    Ok(file)
}
