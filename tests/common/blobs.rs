//! The daemon's stored blobs as a test sees them, on whichever engine
//! holds them: files under `<data_dir>/vault` or objects in the test's
//! Garage bucket (`RENKEI_TEST_BLOBS=s3`). A test counts, reads, damages
//! or removes blobs through these methods and runs unchanged on both.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::{Daemon, eventually};

/// Whether this run keeps every default daemon's blobs in S3.
pub fn blobs_in_s3() -> bool {
    std::env::var("RENKEI_TEST_BLOBS").is_ok_and(|v| v == "s3")
}

/// One stored blob: an encrypted segment of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blob {
    File(PathBuf),
    Object { key: String, size: u64 },
}

impl Blob {
    /// Its size in bytes (ciphertext).
    pub fn len(&self) -> u64 {
        match self {
            Blob::File(p) => fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Blob::Object { size, .. } => *size,
        }
    }
}

impl Daemon {
    /// Every blob the daemon has stored, on disk or in its bucket.
    pub fn vault_files(&self) -> Vec<Blob> {
        match &self.s3 {
            Some(s3) => s3
                .objects_sized("vault")
                .into_iter()
                .map(|(key, size)| Blob::Object { key, size })
                .collect(),
            None => self
                .local_blob_files()
                .into_iter()
                .map(Blob::File)
                .collect(),
        }
    }

    /// Blob files in the local vault directory, whatever the engine.
    pub fn local_blob_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(shards) = fs::read_dir(self.data.join("vault")) else {
            return out;
        };
        for shard in shards.flatten() {
            if let Ok(files) = fs::read_dir(shard.path()) {
                out.extend(files.flatten().map(|f| f.path()));
            }
        }
        out
    }

    /// A blob's bytes (ciphertext).
    pub fn blob_bytes(&self, blob: &Blob) -> Vec<u8> {
        match (blob, &self.s3) {
            (Blob::File(p), _) => fs::read(p).unwrap(),
            (Blob::Object { key, .. }, Some(s3)) => s3.object(key),
            (Blob::Object { .. }, None) => panic!("an object without a bucket"),
        }
    }

    /// Replaces a blob's bytes, as damage outside renkei would.
    pub fn overwrite_blob(&self, blob: &Blob, bytes: &[u8]) {
        match (blob, &self.s3) {
            (Blob::File(p), _) => fs::write(p, bytes).unwrap(),
            (Blob::Object { key, .. }, Some(s3)) => s3.put_object(key, bytes),
            (Blob::Object { .. }, None) => panic!("an object without a bucket"),
        }
    }

    /// Deletes a blob, as a loss outside renkei would.
    pub fn remove_blob(&self, blob: &Blob) {
        match (blob, &self.s3) {
            (Blob::File(p), _) => fs::remove_file(p).unwrap(),
            (Blob::Object { key, .. }, Some(s3)) => s3.delete_object(key),
            (Blob::Object { .. }, None) => panic!("an object without a bucket"),
        }
    }

    /// Waits until an upload is under way with more than `bytes` of it
    /// received: on a local vault, its encrypted blob on disk has grown
    /// past `bytes`; in a bucket, where a segment appears only once
    /// sealed, the daemon has read that much from its clients.
    pub fn wait_for_blob_over(&self, bytes: u64) {
        match &self.s3 {
            Some(_) => self.wait_for_received_over(bytes),
            None => eventually(
                "an upload under way on disk",
                Duration::from_secs(30),
                || {
                    self.vault_files()
                        .iter()
                        .any(|b| b.len() > bytes)
                        .then_some(())
                },
            ),
        }
    }

    /// Waits until the daemon has read more than `bytes` from the
    /// connections open to it now (the kernel's count per socket, less
    /// what is still queued unread).
    pub fn wait_for_received_over(&self, bytes: u64) {
        eventually("bytes read from a client", Duration::from_secs(30), || {
            (self.bytes_read_from_clients() > bytes).then_some(())
        });
    }

    fn bytes_read_from_clients(&self) -> u64 {
        let out = std::process::Command::new("ss")
            .args(["-tinH", "state", "established"])
            .arg(format!("( sport = :{} )", self.port))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut total = 0u64;
        let mut queued = 0u64;
        for line in text.lines() {
            if !line.starts_with(char::is_whitespace) {
                // The socket's line: Recv-Q first.
                queued = line
                    .split_whitespace()
                    .next()
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(0);
            } else if let Some(n) = line
                .split_whitespace()
                .find_map(|f| f.strip_prefix("bytes_received:"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                total += n.saturating_sub(queued);
            }
        }
        total
    }

    /// Waits until the stored blobs add up to more than `bytes`: a long
    /// upload that checkpoints (one sealed segment per checkpoint) is
    /// under way.
    pub fn wait_for_vault_over(&self, bytes: u64) {
        eventually("blobs stored", Duration::from_secs(60), || {
            let total: u64 = self.vault_files().iter().map(Blob::len).sum();
            (total > bytes).then_some(())
        });
    }
}
