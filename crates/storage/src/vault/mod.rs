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
#[cfg(feature = "engines")]
pub mod s3;
pub mod store;

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use crate::fsutil;
use crate::journal::SegmentRef;

pub use reader::ObjectReader;
#[cfg(feature = "engines")]
pub use s3::{S3Config, S3Store};
pub use store::{BlobRead, BlobStore, BlobWrite, LocalDir};

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
    store: Box<dyn BlobStore>,
    identity: age::x25519::Identity,
    recipient: age::x25519::Recipient,
    pins: pins::Pins,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("recipient", &self.recipient.to_string())
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
    /// Opens the vault: blobs in the local directory `dir`, identity at
    /// `identity_path` (created on first start).
    pub fn open(identity_path: &Path, dir: &Path) -> Result<Vault, VaultError> {
        let store = LocalDir::open(dir).map_err(|source| VaultError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        Vault::with_store(identity_path, Box::new(store))
    }

    /// Opens the vault over any blob store.
    pub fn with_store(
        identity_path: &Path,
        store: Box<dyn BlobStore>,
    ) -> Result<Vault, VaultError> {
        let identity = load_or_create_identity(identity_path)?;
        Ok(Vault {
            store,
            recipient: identity.to_public(),
            identity,
            pins: pins::Pins::default(),
        })
    }

    /// The public half of the vault key (`age1...`).
    pub fn recipient(&self) -> String {
        self.recipient.to_string()
    }

    /// Bytes one segment being written may hold in memory (the store's
    /// part buffer), for the writer's owner to charge to its limits.
    pub fn segment_memory(&self) -> u64 {
        self.store.write_memory()
    }

    /// Bytes one open segment being read may hold ahead of its reader.
    pub fn reader_memory(&self) -> u64 {
        self.store.read_memory()
    }

    /// `blob`, if it is a vault id: ids come from the journal, and one that
    /// is not ours never reaches the store.
    fn checked(blob: &str) -> Result<&str, VaultError> {
        if valid_id(blob) {
            Ok(blob)
        } else {
            Err(VaultError::BadId(blob.to_string()))
        }
    }

    fn io_err(blob: &str) -> impl Fn(io::Error) -> VaultError + '_ {
        move |source| VaultError::Io {
            blob: blob.to_string(),
            source,
        }
    }

    /// Starts a new encrypted segment.
    pub fn create_segment(&self) -> Result<SegmentWriter, VaultError> {
        let blob = new_id();
        let out = self.store.create(&blob).map_err(Self::io_err(&blob))?;
        // The age header goes out in many small writes; buffer them.
        // Stream chunks are larger than the buffer and pass straight through.
        let out = io::BufWriter::with_capacity(HEADER_BUFFER, out);
        let encryptor = age::Encryptor::with_recipients(std::iter::once(
            &self.recipient as &dyn age::Recipient,
        ))
        .map_err(|e| Self::io_err(&blob)(io::Error::other(e.to_string())))?;
        let stream = encryptor.wrap_output(out).map_err(Self::io_err(&blob))?;
        Ok(SegmentWriter {
            blob,
            stream: Some(stream),
            len: 0,
        })
    }

    /// Opens a segment for decryption (random access).
    pub(crate) fn open_segment(
        &self,
        seg: &SegmentRef,
    ) -> Result<age::stream::StreamReader<Box<dyn BlobRead>>, VaultError> {
        let blob = Self::checked(&seg.blob)?;
        let input = self.store.open(blob).map_err(Self::io_err(blob))?;
        let dec_err = |message: String| VaultError::Decrypt {
            blob: seg.blob.clone(),
            message,
        };
        let decryptor = age::Decryptor::new(input).map_err(|e| dec_err(e.to_string()))?;
        decryptor
            .decrypt(std::iter::once(&self.identity as &dyn age::Identity))
            .map_err(|e| dec_err(e.to_string()))
    }

    /// Whether the blob is present (an error says why not).
    pub(crate) fn check(&self, blob: &str) -> Result<(), VaultError> {
        let blob = Self::checked(blob)?;
        self.store.check(blob).map_err(Self::io_err(blob))
    }

    /// Deletes a blob. A blob already gone is not an error.
    pub fn remove(&self, blob: &str) -> Result<(), VaultError> {
        if self.pins.defer(blob) {
            return Ok(());
        }
        self.unlink(blob)
    }

    fn unlink(&self, blob: &str) -> Result<(), VaultError> {
        let blob = Self::checked(blob)?;
        self.store.remove(blob).map_err(Self::io_err(blob))
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

    /// Every blob id in the store, and things in it that are not blobs.
    pub fn scan(&self) -> Result<(Vec<String>, Vec<String>), VaultError> {
        self.store
            .scan(&valid_id)
            .map_err(|source| VaultError::Dir {
                path: "the vault's blob store".to_string(),
                source,
            })
    }
}

/// An encrypted segment being written. Dropped without [`finish`], it is
/// removed from the store.
///
/// [`finish`]: SegmentWriter::finish
pub struct SegmentWriter {
    blob: String,
    stream: Option<age::stream::StreamWriter<io::BufWriter<Box<dyn BlobWrite>>>>,
    len: u64,
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
        let err = Vault::io_err(&self.blob);
        let Some(stream) = self.stream.take() else {
            return Err(err(io::Error::other("segment already finished")));
        };
        stream
            .finish()
            .and_then(|b| b.into_inner().map_err(io::IntoInnerError::into_error))
            .and_then(|blob| blob.seal())
            .map_err(&err)?;
        Ok(SegmentRef {
            blob: self.blob.clone(),
            len: self.len,
        })
    }
}

#[cfg(test)]
mod tests;
