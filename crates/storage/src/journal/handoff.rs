//! What the journal keeps about hand-offs: one delivery record per (file,
//! route), and one import mark per file a route took from a directory.
//!
//! The delivery record is the exactly-once ledger: a file is handed to a
//! route's destination until its record says `delivered`, and never after.
//! The import mark is committed in the same transaction as the file it
//! imported, so a crash between that commit and removing the source file
//! is recognised at restart and does not import the file twice.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::records::BoxKind;
use super::tables::{Outcome, StoreError, Table, Tables};
use super::{OpError, OpResult};

/// Where a (file, route) pair is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Queued,
    /// At the destination, checked.
    Delivered,
    /// Gave up after the route's retries, or the bytes did not match
    /// their SHA-256; waits for `renkei ctl retry`.
    Failed,
    /// The file left its box (deleted by its tenant) before it was handed on.
    Cancelled,
}

impl DeliveryState {
    pub fn label(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Cancelled => "cancelled",
        }
    }
}

/// One file's hand-off by one route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub route: String,
    pub object: String,
    pub tenant: String,
    #[serde(rename = "box")]
    pub bx: BoxKind,
    /// The file's path in its box when it was queued.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    pub queued_at: Timestamp,
    /// Not before this time (backoff after a failure).
    pub next_attempt: Timestamp,
    pub last_error: Option<String>,
    /// When it was delivered (or given up, or cancelled).
    pub finished_at: Option<Timestamp>,
    /// Where it goes, as shown to people.
    pub destination: String,
}

/// A file a route took from a source directory into a box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportMark {
    pub route: String,
    pub tenant: String,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub object: String,
    pub at: Timestamp,
}

/// Key of the delivery record of `object` by `route`.
pub fn delivery_key(route: &str, object: &str) -> String {
    format!("{route}\0{object}")
}

/// Prefix of every delivery record of a route.
pub fn route_prefix(route: &str) -> String {
    format!("{route}\0")
}

/// Key in the by-tenant index of `route`'s record of `object`.
pub(super) fn tenant_key(tenant: &str, route: &str, object: &str) -> String {
    format!("{tenant}\0{route}\0{object}")
}

/// Key of the import mark of `name` taken by `route` for `tenant`.
pub fn import_key(route: &str, tenant: &str, name: &str) -> String {
    format!("{route}\0{tenant}\0{name}")
}

/// Hand-off changes (variants of [`super::Op`]).
#[derive(Debug, Clone)]
pub enum HandoffOp {
    /// Store a delivery record; with `only_new`, only if the pair has none
    /// yet (queueing), else replace it only while its state is still
    /// `expect` (so two writers cannot both move it on).
    PutDelivery {
        record: DeliveryRecord,
        only_new: bool,
        expect: Option<DeliveryState>,
    },
    PutImport {
        key: String,
        mark: ImportMark,
    },
    DropImport {
        key: String,
    },
}

impl Tables<'_> {
    pub(super) fn apply_handoff(&mut self, op: &HandoffOp) -> Result<OpResult, StoreError> {
        match op {
            HandoffOp::PutDelivery {
                record,
                only_new,
                expect,
            } => {
                let key = delivery_key(&record.route, &record.object);
                let old = self.get::<DeliveryRecord>(Table::Deliveries, &key)?;
                match (&old, only_new, expect) {
                    (Some(_), true, _) => return Ok(Err(OpError::Exists)),
                    (Some(o), false, Some(s)) if o.state != *s => return Ok(Err(OpError::Stale)),
                    (None, false, Some(_)) => return Ok(Err(OpError::NotFound)),
                    _ => {}
                }
                self.put(Table::Deliveries, &key, record)?;
                if old.is_none() {
                    let index = tenant_key(&record.tenant, &record.route, &record.object);
                    self.txn.put(Table::ByTenant, &index, &[])?;
                }
                Ok(Ok(Outcome::default()))
            }
            HandoffOp::PutImport { key, mark } => {
                self.put(Table::Imports, key, mark)?;
                Ok(Ok(Outcome::default()))
            }
            HandoffOp::DropImport { key } => {
                if !self.remove(Table::Imports, key)? {
                    return Ok(Err(OpError::NotFound));
                }
                Ok(Ok(Outcome::default()))
            }
        }
    }
}
