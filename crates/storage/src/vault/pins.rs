//! Blobs being read: a blob that becomes garbage (its file was replaced or
//! deleted) while a reader has it open is removed when the last reader
//! lets go, as POSIX unlink does, so a download keeps reading the version
//! it opened. A crash in between leaves an unreferenced blob, which the
//! start-up recovery removes.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub(super) struct Pins {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    readers: HashMap<String, usize>,
    /// Garbage kept for its readers.
    deferred: HashSet<String>,
}

impl Pins {
    pub(super) fn pin<'a>(&self, blobs: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut i) = self.inner.lock() {
            for b in blobs {
                *i.readers.entry(b.to_string()).or_default() += 1;
            }
        }
    }

    /// Lets go of `blobs`; returns those that are now to be removed.
    pub(super) fn unpin<'a>(&self, blobs: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut due = Vec::new();
        let Ok(mut i) = self.inner.lock() else {
            return due;
        };
        for b in blobs {
            let Some(n) = i.readers.get_mut(b) else {
                continue;
            };
            *n -= 1;
            if *n == 0 {
                i.readers.remove(b);
                if i.deferred.remove(b) {
                    due.push(b.to_string());
                }
            }
        }
        due
    }

    /// `true` when `blob` is being read: its removal is deferred to the last
    /// reader. A poisoned lock defers too (a blob left behind is swept at
    /// start; one removed under a reader is not recoverable).
    pub(super) fn defer(&self, blob: &str) -> bool {
        let Ok(mut i) = self.inner.lock() else {
            return true;
        };
        if i.readers.contains_key(blob) {
            i.deferred.insert(blob.to_string());
            true
        } else {
            false
        }
    }
}
