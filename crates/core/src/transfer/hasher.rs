//! The SHA-256 of an upload, computed beside its encryption.
//!
//! Hashing and age encryption each cost about as much CPU as the other; on
//! one thread they take turns. Small files are hashed inline (a thread
//! would cost more than it saves); past [`THREAD_AFTER`] bytes the hash
//! state moves to its own thread and is fed the same reference-counted
//! buffers the encryptor reads.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Bytes hashed inline before the hash moves to its own thread.
pub const THREAD_AFTER: u64 = 1 << 20;
/// Buffers in flight to the hashing thread before the writer waits.
const QUEUE: usize = 256;

enum State {
    Inline(Sha256, u64),
    Thread(SyncSender<Bytes>, JoinHandle<Sha256>),
}

pub struct Hasher(State);

impl Default for Hasher {
    fn default() -> Self {
        Hasher(State::Inline(Sha256::new(), 0))
    }
}

impl Hasher {
    /// Adds bytes the caller only borrows (resuming: re-reading what is kept).
    pub fn absorb(&mut self, data: &[u8]) {
        match &mut self.0 {
            State::Inline(h, n) => {
                h.update(data);
                *n += data.len() as u64;
            }
            State::Thread(..) => self.update(Bytes::copy_from_slice(data)),
        }
    }

    pub fn update(&mut self, data: Bytes) {
        match &mut self.0 {
            State::Inline(h, n) => {
                h.update(&data);
                *n += data.len() as u64;
                if *n >= THREAD_AFTER {
                    self.go_parallel();
                }
            }
            State::Thread(tx, _) => {
                if let Err(e) = tx.send(data) {
                    // The thread is gone (it cannot fail, but if it did):
                    // the digest will be missing and the commit refused.
                    tracing::error!(bytes = e.0.len(), "the hashing thread stopped");
                }
            }
        }
    }

    fn go_parallel(&mut self) {
        let State::Inline(h, n) = &mut self.0 else {
            return;
        };
        // A copy goes to the thread, so a failed spawn loses nothing.
        let state = h.clone();
        let (tx, rx) = sync_channel::<Bytes>(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("upload-sha256".into())
            .spawn(move || {
                let mut h = state;
                while let Ok(b) = rx.recv() {
                    h.update(&b);
                }
                h
            });
        match spawned {
            Ok(handle) => self.0 = State::Thread(tx, handle),
            Err(e) => {
                tracing::warn!(error = %e, bytes = *n, "could not start a hashing thread; hashing inline")
            }
        }
    }

    /// The hex digest; `None` only if the hashing thread was lost.
    pub fn finish(self) -> Option<String> {
        match self.0 {
            State::Inline(h, _) => Some(hex::encode(h.finalize())),
            State::Thread(tx, handle) => {
                drop(tx);
                handle.join().ok().map(|h| hex::encode(h.finalize()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_and_inline_agree() {
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let want = hex::encode(Sha256::digest(&data));
        let mut h = Hasher::default();
        for chunk in data.chunks(100_000) {
            h.update(Bytes::copy_from_slice(chunk));
        }
        assert_eq!(h.finish().unwrap(), want);
        let mut h = Hasher::default();
        h.absorb(&data[..10]);
        h.absorb(&data[10..]);
        assert_eq!(h.finish().unwrap(), want);
    }
}
