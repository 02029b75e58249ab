//! Where the vault's ciphertext lives: a [`BlobStore`] keeps sealed blobs
//! under ids and knows nothing of encryption, files' meaning or tenants.
//! The vault encrypts on the way in and decrypts on the way out, so a
//! store only ever sees age ciphertext.
//!
//! [`LocalDir`] is today's store: one file per blob in a sharded
//! directory on the appliance's disk. Another store (an S3-compatible
//! object store for a clustered deployment) implements the same trait;
//! nothing above the vault can tell them apart.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::flusher::{EarlyFlush, Flusher};
use crate::fsutil;

/// A blob being written. Dropped without [`BlobWrite::seal`], it is
/// removed: nothing half-written is ever found as a blob.
pub trait BlobWrite: Write + Send {
    /// Makes everything written durable; the blob exists from now on.
    fn seal(self: Box<Self>) -> io::Result<()>;
}

/// A sealed blob being read, with random access (age seeks to a chunk).
pub trait BlobRead: Read + Seek + Send {}

impl<T: Read + Seek + Send> BlobRead for T {}

/// Storage of sealed blobs under ids the vault chooses.
pub trait BlobStore: Send + Sync {
    /// Starts a new blob named `id` (never used before).
    fn create(&self, id: &str) -> io::Result<Box<dyn BlobWrite>>;
    /// Opens a sealed blob for reading.
    fn open(&self, id: &str) -> io::Result<Box<dyn BlobRead>>;
    /// Whether a sealed blob `id` is present (an error says it is not, and
    /// why).
    fn check(&self, id: &str) -> io::Result<()>;
    /// Deletes a blob; one already gone is not an error.
    fn remove(&self, id: &str) -> io::Result<()>;
    /// Every blob present (for start-up's garbage collection), and
    /// anything in the store that is not a blob (named for the operator).
    fn scan(&self, is_id: &dyn Fn(&str) -> bool) -> io::Result<(Vec<String>, Vec<String>)>;
    /// Bytes one blob being written may hold in memory before they leave
    /// for the store: the caller charges them to whoever opened it.
    fn write_memory(&self) -> u64 {
        0
    }
    /// Bytes one open blob being read may hold in memory ahead of its
    /// reader.
    fn read_memory(&self) -> u64 {
        0
    }
}

/// Blobs as files `<dir>/<first two characters>/<id>.age`.
pub struct LocalDir {
    dir: PathBuf,
    flusher: Flusher,
}

impl LocalDir {
    /// The store in `dir` (created owner-only if missing).
    pub fn open(dir: &Path) -> io::Result<LocalDir> {
        fsutil::create_private_dir(dir)?;
        Ok(LocalDir {
            dir: dir.to_path_buf(),
            flusher: Flusher::start(),
        })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, id: &str) -> PathBuf {
        let shard = id.get(..2).unwrap_or("__");
        self.dir.join(shard).join(format!("{id}.age"))
    }
}

impl BlobStore for LocalDir {
    fn create(&self, id: &str) -> io::Result<Box<dyn BlobWrite>> {
        let path = self.path_of(id);
        let shard = path.parent().unwrap_or(&self.dir).to_path_buf();
        if !shard.exists() {
            fsutil::create_private_dir(&shard)?;
            fsutil::fsync_dir(&self.dir)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        // The name is made durable now, while the client is still sending,
        // so that sealing needs only the file's own fsync.
        fsutil::fsync_dir(&shard)?;
        let early = self.flusher.handle(&file);
        Ok(Box::new(LocalBlob {
            file: Some(file),
            path,
            early,
        }))
    }

    fn open(&self, id: &str) -> io::Result<Box<dyn BlobRead>> {
        Ok(Box::new(File::open(self.path_of(id))?))
    }

    fn check(&self, id: &str) -> io::Result<()> {
        fs::symlink_metadata(self.path_of(id)).map(|_| ())
    }

    fn remove(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.path_of(id)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn scan(&self, is_id: &dyn Fn(&str) -> bool) -> io::Result<(Vec<String>, Vec<String>)> {
        let mut blobs = Vec::new();
        let mut strays = Vec::new();
        for shard in fs::read_dir(&self.dir)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                strays.push(shard.path().display().to_string());
                continue;
            }
            for f in fs::read_dir(shard.path())? {
                let f = f?;
                let name = f.file_name().to_string_lossy().to_string();
                match name.strip_suffix(".age") {
                    Some(id) if is_id(id) => blobs.push(id.to_string()),
                    _ => strays.push(f.path().display().to_string()),
                }
            }
        }
        Ok((blobs, strays))
    }
}

/// A blob file being written.
struct LocalBlob {
    /// `None` once sealed.
    file: Option<File>,
    path: PathBuf,
    /// Starts writeback early so that sealing finds little left to flush.
    early: Option<EarlyFlush>,
}

impl Write for LocalBlob {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob already sealed"))?;
        let n = file.write(buf)?;
        if let Some(early) = self.early.as_mut() {
            early.wrote(n as u64);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWrite for LocalBlob {
    fn seal(mut self: Box<Self>) -> io::Result<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("blob already sealed"))?;
        // The directory entry was made durable at creation.
        let synced = file.sync_data();
        if synced.is_err() {
            // Not sealed: Drop removes it.
            self.file = Some(file);
        }
        synced
    }
}

impl Drop for LocalBlob {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}
