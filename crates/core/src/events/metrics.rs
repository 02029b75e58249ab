//! Counters for monitoring, fed by every event as it is logged: how many
//! of each event (logins by result, refusals by kind, uploads, hand-offs)
//! and the bytes moved each way. The labels are the product's own event
//! names, a fixed set, so the table cannot grow with what clients send.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

#[derive(Debug, Default)]
pub struct Metrics {
    events: Mutex<BTreeMap<String, u64>>,
    upload_bytes: AtomicU64,
    download_bytes: AtomicU64,
}

impl Metrics {
    /// Counts one record (as logged).
    pub(super) fn observe(&self, name: &str, record: &Value) {
        if let Ok(mut m) = self.events.lock() {
            *m.entry(name.to_string()).or_insert(0) += 1;
        }
        let n = |k: &str| record.get(k).and_then(Value::as_u64).unwrap_or(0);
        match name {
            "upload_committed" => {
                self.upload_bytes.fetch_add(n("size"), Ordering::Relaxed);
            }
            "downloaded" | "lane_received" => {
                self.download_bytes
                    .fetch_add(n("bytes_served"), Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// Each event name seen so far and how many times.
    pub fn events(&self) -> Vec<(String, u64)> {
        self.events
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// Bytes of committed uploads, and bytes served by downloads.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.upload_bytes.load(Ordering::Relaxed),
            self.download_bytes.load(Ordering::Relaxed),
        )
    }
}
