//! [`Events`]: the one sink every event goes through, to the log and to
//! the audit trail.

use std::sync::Arc;

use renkei_storage::audit::{AuditError, AuditLog};
use renkei_storage::journal::{Note, OpResult};

use super::Event;

/// The sink every event goes through.
#[derive(Debug, Default)]
pub struct Events {
    audit: Option<AuditLog>,
    /// Connection numbers, shared by every front door so that `conn`
    /// names one connection in the whole trail.
    conns: std::sync::atomic::AtomicU64,
    metrics: super::metrics::Metrics,
    /// Where records the notifier wants are handed over (`[[notify]]`).
    tap: std::sync::OnceLock<Tap>,
}

/// Records waiting for the notifier, at most; past it a record is not
/// notified (it is still logged and in the trail) and the loss is logged.
pub const NOTIFY_BACKLOG: usize = 256;

/// The notifier's side of the events: which names it wants, and where.
#[derive(Debug)]
pub struct Tap {
    pub wanted: std::collections::HashSet<String>,
    pub tx: tokio::sync::mpsc::Sender<serde_json::Value>,
}

/// The field a noted record carries: the sequence number of the journal
/// note it was committed with. It ties the record to the transaction of
/// its change, and lets start-up tell which notes the trail already has.
pub const JOURNAL_SEQ: &str = "journal_seq";

impl Events {
    /// Events to the log only (library tests; no audit trail).
    pub fn new() -> Self {
        Events {
            audit: None,
            conns: Default::default(),
            metrics: Default::default(),
            tap: Default::default(),
        }
    }

    /// Events to the log and to the audit trail.
    pub fn with_audit(audit: AuditLog) -> Self {
        Events {
            audit: Some(audit),
            conns: Default::default(),
            metrics: Default::default(),
            tap: Default::default(),
        }
    }

    /// Hands every later record the tap wants to the notifier (once).
    pub fn set_tap(&self, tap: Tap) {
        let _ = self.tap.set(tap);
    }

    /// What has been counted so far (`/metrics`).
    pub fn metrics(&self) -> &super::metrics::Metrics {
        &self.metrics
    }

    /// A new connection number (from 1).
    pub fn next_conn(&self) -> u64 {
        self.conns
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .saturating_add(1)
    }

    pub fn audit(&self) -> Option<&AuditLog> {
        self.audit.as_ref()
    }

    /// Whether records can be written (always, without an audit trail).
    pub fn writable(&self) -> bool {
        self.audit.as_ref().is_none_or(AuditLog::healthy)
    }

    /// Records an event; it reaches the disk with the next sync (at most
    /// the next checkpoint).
    pub fn record(&self, event: Event) {
        let json = to_json(&event);
        self.emit(&json);
        if let Some(a) = &self.audit {
            a.append(json);
        }
    }

    /// Records an event and waits until its audit record is on disk.
    pub async fn record_durable(&self, event: Event) -> Result<(), AuditError> {
        let json = to_json(&event);
        self.emit(&json);
        match &self.audit {
            Some(a) => a.append_durable(json).await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// The audit record of a change, as a journal note committed with the
    /// change (see `journal::notes`). `build` makes the event from the
    /// results of the change's operations, or `None` when nothing was
    /// changed that needs a record. The record carries the note's sequence
    /// number ([`JOURNAL_SEQ`]) and reaches the log and the trail once the
    /// change is durable.
    pub fn note<F>(self: &Arc<Self>, build: F) -> Note
    where
        F: FnOnce(&[OpResult]) -> Option<Event> + Clone + Send + 'static,
    {
        let events = Arc::clone(self);
        Note {
            text: Box::new(move |seq: u64, results: &[OpResult]| {
                build(results).map(|e| with_field(&to_json(&e), JOURNAL_SEQ, seq))
            }),
            deliver: Box::new(move |text| events.deliver(text)),
        }
    }

    /// Hands a noted record to the log and the trail.
    pub fn deliver(&self, text: String) {
        self.emit(&text);
        if let Some(a) = &self.audit {
            a.append(text);
        }
    }

    /// Writes the log line of an event given as JSON, at the level its
    /// class calls for: failures at ERROR, refusals at WARN, the rest at
    /// INFO. The class is read from the record itself, so a record
    /// committed as a journal note is logged as one recorded directly.
    fn emit(&self, json: &str) {
        let record: serde_json::Value =
            serde_json::from_str(json).unwrap_or(serde_json::Value::Null);
        // Absent fields are left out of the log line rather than shown empty.
        let field = |k: &str| {
            record.get(k).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let name = field("event");
        self.metrics.observe(name.as_deref().unwrap_or(""), &record);
        if let (Some(tap), Some(n)) = (self.tap.get(), name.as_deref())
            && tap.wanted.contains(n)
            && !n.starts_with("notification_")
            && tap.tx.try_send(record.clone()).is_err()
        {
            tracing::warn!(
                event = n,
                "the notifier is {NOTIFY_BACKLOG} records behind; this one is not notified (it is logged and in the trail)"
            );
        }
        let tenant = field("tenant");
        let user = field("user");
        let peer = field("peer").or_else(|| field("source"));
        let box_name = field("box");
        let path = field("path");
        let reason = field("reason");
        match super::names::level(name.as_deref().unwrap_or(""), &record) {
            super::names::Level::Failure => {
                tracing::error!(target: "renkei::event", event = name, tenant, user, peer, r#box = box_name, path, reason, %record);
            }
            super::names::Level::Refusal => {
                tracing::warn!(target: "renkei::event", event = name, tenant, user, peer, r#box = box_name, path, reason, %record);
            }
            super::names::Level::Normal => {
                tracing::info!(target: "renkei::event", event = name, tenant, user, peer, r#box = box_name, path, reason, %record);
            }
        }
    }
}

fn to_json(event: &Event) -> String {
    serde_json::to_string(event)
        .unwrap_or_else(|e| format!(r#"{{"event":"unserialisable","error":"{e}"}}"#))
}

/// `json` (an object) with one more field at its end.
pub fn with_field(json: &str, key: &str, value: impl std::fmt::Display) -> String {
    match json.strip_suffix('}') {
        Some(body) if body.len() > 1 => format!("{body},\"{key}\":{value}}}"),
        Some(_) => format!("{{\"{key}\":{value}}}"),
        None => json.to_string(),
    }
}
