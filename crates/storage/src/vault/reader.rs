//! Random-access decryption of a file stored as one or more segments.
//!
//! Reads decrypt in the stream: only the 64 KiB age chunk being served is
//! ever in plaintext, in memory. Sequential reads (the common case) never
//! seek; a read elsewhere seeks to the right chunk, which age's STREAM
//! construction makes cheap. One segment is open at a time, so a file with
//! many checkpoint segments costs one descriptor, not one per segment.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use age::stream::StreamReader;

use super::{BlobRead, Vault, VaultError};
use crate::journal::SegmentRef;

/// A segment being decrypted.
type Decrypting = StreamReader<Box<dyn BlobRead>>;

/// A readable stored file.
pub struct ObjectReader {
    vault: Arc<Vault>,
    segments: Vec<SegmentRef>,
    /// Plaintext offset at which each segment starts.
    starts: Vec<u64>,
    size: u64,
    /// The open segment: index, reader, and its plaintext position.
    current: Option<(usize, Decrypting, u64)>,
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        self.current = None;
        self.vault.unpin(&self.segments);
    }
}

fn read_error(blob: &str, e: io::Error) -> VaultError {
    if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
        VaultError::Decrypt {
            blob: blob.to_string(),
            message: format!("{e}: the blob was modified, truncated or damaged"),
        }
    } else {
        VaultError::Io {
            blob: blob.to_string(),
            source: e,
        }
    }
}

impl ObjectReader {
    /// Opens a file made of `segments`.
    pub fn open(vault: Arc<Vault>, segments: &[SegmentRef]) -> Result<ObjectReader, VaultError> {
        let mut starts = Vec::with_capacity(segments.len());
        let mut size = 0u64;
        for s in segments {
            starts.push(size);
            size += s.len;
        }
        // Pinned first: from here on no blob of this version is removed
        // until the reader is dropped.
        vault.pin(segments);
        let mut reader = ObjectReader {
            vault,
            segments: segments.to_vec(),
            starts,
            size,
            current: None,
        };
        // A blob removed between the caller's lookup and the pin is found
        // missing now, at open, not halfway through the file.
        for s in &reader.segments {
            reader.vault.check(&s.blob)?;
        }
        if !reader.segments.is_empty() {
            // Open the first segment now so a foreign blob is reported at
            // open, not at the first read.
            reader.switch_to(0)?;
        }
        Ok(reader)
    }

    /// Plaintext size.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn switch_to(&mut self, idx: usize) -> Result<(), VaultError> {
        if self.current.as_ref().is_some_and(|(i, _, _)| *i == idx) {
            return Ok(());
        }
        let reader = self.vault.open_segment(&self.segments[idx])?;
        self.current = Some((idx, reader, 0));
        Ok(())
    }

    /// Reads up to `buf.len()` bytes at `offset`. Returns how many were
    /// read: fewer only at the end of the file, 0 past it.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, VaultError> {
        let mut done = 0usize;
        let mut pos = offset;
        while done < buf.len() && pos < self.size {
            let idx = match self.starts.binary_search(&pos) {
                Ok(i) => i,
                Err(i) => i - 1,
            };
            // Zero-length segments are skipped by the search landing past them.
            let seg_len = self.segments[idx].len;
            let local = pos - self.starts[idx];
            if local >= seg_len {
                pos = self.starts[idx] + seg_len;
                continue;
            }
            self.switch_to(idx)?;
            let blob = self.segments[idx].blob.clone();
            let Some((_, reader, rpos)) = self.current.as_mut() else {
                break;
            };
            if *rpos != local {
                reader
                    .seek(SeekFrom::Start(local))
                    .map_err(|e| read_error(&blob, e))?;
                *rpos = local;
            }
            let want = ((seg_len - local) as usize).min(buf.len() - done);
            let mut got = 0;
            while got < want {
                let n = reader
                    .read(&mut buf[done + got..done + want])
                    .map_err(|e| read_error(&blob, e))?;
                if n == 0 {
                    return Err(VaultError::Decrypt {
                        blob,
                        message: format!(
                            "holds fewer bytes than the journal records ({} < {seg_len})",
                            local + got as u64
                        ),
                    });
                }
                got += n;
            }
            *rpos += got as u64;
            done += got;
            pos += got as u64;
        }
        Ok(done)
    }

    /// Feeds the whole plaintext, in order, to `f` (used to re-hash a
    /// partial upload that is being resumed).
    pub fn for_each_chunk(&mut self, mut f: impl FnMut(&[u8])) -> Result<(), VaultError> {
        let mut buf = vec![0u8; 256 << 10];
        let mut off = 0u64;
        loop {
            let n = self.read_at(off, &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            f(&buf[..n]);
            off += n as u64;
        }
    }
}
