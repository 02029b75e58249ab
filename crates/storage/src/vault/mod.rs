//! The vault: encrypted blob storage. Plaintext never touches disk.
//!
//! Every byte a client uploads is encrypted with age (X25519 recipient,
//! ChaCha20-Poly1305 STREAM) before the first write; the vault identity
//! never leaves `vault.key`. A blob is one complete age file and is named by
//! a random server-generated id, so no client string ever reaches a path.
//! Anyone holding the vault key can decrypt a blob with the stock `age`
//! tool, which keeps the storage format auditable and independent of
//! renkei.
//!
//! The vault knows nothing of tenants or names: it stores and returns
//! bytes. What a blob means is the journal's business.

mod flusher;
mod pins;
mod reader;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use crate::fsutil;
use crate::journal::SegmentRef;

pub use reader::ObjectReader;

/// A vault failure. Messages name the blob or file involved.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("vault key {path}: {message}")]
    Key { path: String, message: String },
    #[error("blob {blob}: {source}")]
    Io {
        blob: String,
        #[source]
        source: io::Error,
    },
    #[error("blob {blob} cannot be decrypted with this vault key: {message}")]
    Decrypt { blob: String, message: String },
    #[error("blob id {0:?} is not a vault id (journal damaged?)")]
    BadId(String),
    #[error("vault directory {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Write buffer of a segment: holds the age header (a few hundred bytes).
const HEADER_BUFFER: usize = 4096;

/// Encrypted storage for blobs.
pub struct Vault {
    dir: PathBuf,
    identity: age::x25519::Identity,
    recipient: age::x25519::Recipient,
    flusher: flusher::Flusher,
    pins: pins::Pins,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn new_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Loads the age identity at `path`, generating it (0600) on first start.
/// The vault key at `path`, checked (owner-only mode, an age X25519
/// identity); `None` when there is none yet. Writes nothing.
pub fn load_identity(path: &Path) -> Result<Option<age::x25519::Identity>, VaultError> {
    let key_err = |message: String| VaultError::Key {
        path: path.display().to_string(),
        message,
    };
    match fs::read_to_string(path) {
        Ok(text) => {
            fsutil::check_private(path).map_err(|e| key_err(e.to_string()))?;
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .ok_or_else(|| key_err("contains no AGE-SECRET-KEY line".into()))?;
            age::x25519::Identity::from_str(line)
                .map(Some)
                .map_err(|e| key_err(format!("is not an age X25519 identity: {e}")))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(key_err(format!("cannot read: {e}"))),
    }
}

fn load_or_create_identity(path: &Path) -> Result<age::x25519::Identity, VaultError> {
    let key_err = |message: String| VaultError::Key {
        path: path.display().to_string(),
        message,
    };
    match load_identity(path)? {
        Some(identity) => Ok(identity),
        None => {
            let identity = age::x25519::Identity::generate();
            let contents = format!(
                "# renkei vault key: decrypts every stored file. Keep it secret, back it up.\n# created: {}\n# public key: {}\n{}\n",
                jiff::Timestamp::now(),
                identity.to_public(),
                identity.to_string().expose_secret()
            );
            fsutil::write_secret(path, contents.as_bytes())
                .map_err(|e| key_err(format!("cannot create: {e}")))?;
            tracing::info!(path = %path.display(), "generated a new vault key");
            Ok(identity)
        }
    }
}

impl Vault {
    /// Opens the vault: blobs under `dir`, identity at `identity_path`
    /// (created on first start).
    pub fn open(identity_path: &Path, dir: &Path) -> Result<Vault, VaultError> {
        let identity = load_or_create_identity(identity_path)?;
        fsutil::create_private_dir(dir).map_err(|source| VaultError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Vault {
            dir: dir.to_path_buf(),
            recipient: identity.to_public(),
            identity,
            flusher: flusher::Flusher::start(),
            pins: pins::Pins::default(),
        })
    }

    /// The public half of the vault key (`age1...`).
    pub fn recipient(&self) -> String {
        self.recipient.to_string()
    }

    fn path_of(&self, blob: &str) -> Result<PathBuf, VaultError> {
        if !valid_id(blob) {
            return Err(VaultError::BadId(blob.to_string()));
        }
        Ok(self.dir.join(&blob[..2]).join(format!("{blob}.age")))
    }

    /// Starts a new encrypted segment.
    pub fn create_segment(&self) -> Result<SegmentWriter, VaultError> {
        let blob = new_id();
        let path = self.path_of(&blob)?;
        let io_err = |source| VaultError::Io {
            blob: blob.clone(),
            source,
        };
        let shard = path.parent().unwrap_or(&self.dir).to_path_buf();
        if !shard.exists() {
            fsutil::create_private_dir(&shard).map_err(io_err)?;
            fsutil::fsync_dir(&self.dir).map_err(io_err)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err)?;
        // The name is made durable now, while the client is still sending,
        // so that sealing the segment needs only the file's own fsync.
        fsutil::fsync_dir(&shard).map_err(io_err)?;
        let early = self.flusher.handle(&file);
        // The age header goes out in many small writes; buffer them.
        // Stream chunks are larger than the buffer and pass straight through.
        let file = io::BufWriter::with_capacity(HEADER_BUFFER, file);
        let encryptor = age::Encryptor::with_recipients(std::iter::once(
            &self.recipient as &dyn age::Recipient,
        ))
        .map_err(|e| io_err(io::Error::other(e.to_string())))?;
        let stream = encryptor.wrap_output(file).map_err(io_err)?;
        Ok(SegmentWriter {
            blob,
            path,
            stream: Some(stream),
            len: 0,
            early,
        })
    }

    /// Opens a segment for decryption (random access).
    pub(crate) fn open_segment(
        &self,
        seg: &SegmentRef,
    ) -> Result<age::stream::StreamReader<File>, VaultError> {
        let path = self.path_of(&seg.blob)?;
        let file = File::open(&path).map_err(|source| VaultError::Io {
            blob: seg.blob.clone(),
            source,
        })?;
        let dec_err = |message: String| VaultError::Decrypt {
            blob: seg.blob.clone(),
            message,
        };
        let decryptor = age::Decryptor::new(file).map_err(|e| dec_err(e.to_string()))?;
        decryptor
            .decrypt(std::iter::once(&self.identity as &dyn age::Identity))
            .map_err(|e| dec_err(e.to_string()))
    }

    /// Deletes a blob. A blob already gone is not an error.
    pub fn remove(&self, blob: &str) -> Result<(), VaultError> {
        if self.pins.defer(blob) {
            return Ok(());
        }
        self.unlink(blob)
    }

    fn unlink(&self, blob: &str) -> Result<(), VaultError> {
        let path = self.path_of(blob)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(VaultError::Io {
                blob: blob.to_string(),
                source,
            }),
        }
    }

    /// Marks `segments` as being read (see `pins`).
    fn pin(&self, segments: &[SegmentRef]) {
        self.pins.pin(segments.iter().map(|s| s.blob.as_str()));
    }

    /// Lets go of `segments`; garbage kept for this reader goes now.
    fn unpin(&self, segments: &[SegmentRef]) {
        for blob in self.pins.unpin(segments.iter().map(|s| s.blob.as_str())) {
            if let Err(e) = self.unlink(&blob) {
                tracing::warn!(error = %e, "could not delete a garbage blob after its last reader; start-up will retry");
            }
        }
    }

    /// Deletes blobs, logging (not failing on) errors: used after a commit
    /// made them garbage; whatever survives is swept at the next start.
    pub fn remove_all(&self, segments: &[SegmentRef]) {
        for s in segments {
            if let Err(e) = self.remove(&s.blob) {
                tracing::warn!(error = %e, "could not delete a garbage blob; start-up will retry");
            }
        }
    }

    /// Every blob id present on disk, and stray files that are not blobs.
    pub fn scan(&self) -> Result<(Vec<String>, Vec<PathBuf>), VaultError> {
        let dir_err = |source| VaultError::Dir {
            path: self.dir.display().to_string(),
            source,
        };
        let mut blobs = Vec::new();
        let mut strays = Vec::new();
        for shard in fs::read_dir(&self.dir).map_err(dir_err)? {
            let shard = shard.map_err(dir_err)?;
            if !shard.file_type().map_err(dir_err)?.is_dir() {
                strays.push(shard.path());
                continue;
            }
            for f in fs::read_dir(shard.path()).map_err(dir_err)? {
                let f = f.map_err(dir_err)?;
                let name = f.file_name().to_string_lossy().to_string();
                match name.strip_suffix(".age") {
                    Some(id) if valid_id(id) => blobs.push(id.to_string()),
                    _ => strays.push(f.path()),
                }
            }
        }
        Ok((blobs, strays))
    }
}

/// An encrypted segment being written. Dropped without [`finish`], its file
/// is removed.
///
/// [`finish`]: SegmentWriter::finish
pub struct SegmentWriter {
    blob: String,
    path: PathBuf,
    stream: Option<age::stream::StreamWriter<io::BufWriter<File>>>,
    len: u64,
    /// Starts writeback early so that sealing the segment finds little
    /// left to flush.
    early: Option<flusher::EarlyFlush>,
}

impl SegmentWriter {
    /// Encrypts and writes plaintext.
    pub fn write_all(&mut self, data: &[u8]) -> Result<(), VaultError> {
        let stream = self.stream.as_mut().ok_or_else(|| VaultError::Io {
            blob: self.blob.clone(),
            source: io::Error::other("segment already finished"),
        })?;
        stream.write_all(data).map_err(|source| VaultError::Io {
            blob: self.blob.clone(),
            source,
        })?;
        self.len += data.len() as u64;
        if let Some(early) = self.early.as_mut() {
            early.wrote(data.len() as u64);
        }
        Ok(())
    }

    /// Plaintext bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Completes the age stream and makes the segment durable.
    pub fn finish(mut self) -> Result<SegmentRef, VaultError> {
        let io_err = |blob: &str, source| VaultError::Io {
            blob: blob.to_string(),
            source,
        };
        let Some(stream) = self.stream.take() else {
            return Err(io_err(
                &self.blob,
                io::Error::other("segment already finished"),
            ));
        };
        let file = stream
            .finish()
            .and_then(|b| b.into_inner().map_err(io::IntoInnerError::into_error))
            .map_err(|e| io_err(&self.blob, e))?;
        // The directory entry was made durable at creation.
        file.sync_data().map_err(|e| io_err(&self.blob, e))?;
        let seg = SegmentRef {
            blob: std::mem::take(&mut self.blob),
            len: self.len,
        };
        self.path = PathBuf::new();
        Ok(seg)
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            drop(self.stream.take());
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests;
