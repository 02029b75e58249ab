//! What the journal keeps about hand-offs: one delivery record per (file,
//! route), and one import mark per file a route took from a directory.
//!
//! The delivery record is the exactly-once ledger: a file is handed to a
//! route's destination until its record says `delivered`, and never after.
//! The import mark is committed in the same transaction as the file it
//! imported, so a crash between that commit and removing the source file
//! is recognised at restart and does not import the file twice.

use jiff::Timestamp;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::records::BoxKind;
use super::tables::{Outcome, Tables, get, put};
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
fn tenant_key(tenant: &str, route: &str, object: &str) -> String {
    format!("{tenant}\0{route}\0{object}")
}

/// Fills the by-tenant index from the delivery records when it is empty
/// and they are not (a journal written before the index existed). Runs at
/// open, inside the opening transaction.
pub(super) fn index_by_tenant(txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
    let mut index = txn.open_table(super::BY_TENANT)?;
    if index.first()?.is_some() {
        return Ok(());
    }
    let deliveries = txn.open_table(super::DELIVERIES)?;
    for item in deliveries.iter()? {
        let (k, v) = item?;
        let r: DeliveryRecord = serde_json::from_slice(v.value()).map_err(|e| {
            redb::Error::Corrupted(format!(
                "delivery record {:?} is unreadable: {e}",
                k.value()
            ))
        })?;
        index.insert(tenant_key(&r.tenant, &r.route, &r.object).as_str(), &[][..])?;
    }
    Ok(())
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
    pub(super) fn apply_handoff(&mut self, op: &HandoffOp) -> Result<OpResult, redb::Error> {
        match op {
            HandoffOp::PutDelivery {
                record,
                only_new,
                expect,
            } => {
                let key = delivery_key(&record.route, &record.object);
                let old = get::<DeliveryRecord>(&self.deliveries, "delivery", &key)?;
                match (&old, only_new, expect) {
                    (Some(_), true, _) => return Ok(Err(OpError::Exists)),
                    (Some(o), false, Some(s)) if o.state != *s => return Ok(Err(OpError::Stale)),
                    (None, false, Some(_)) => return Ok(Err(OpError::NotFound)),
                    _ => {}
                }
                put(&mut self.deliveries, &key, record)?;
                if old.is_none() {
                    let index = tenant_key(&record.tenant, &record.route, &record.object);
                    self.by_tenant.insert(index.as_str(), &[][..])?;
                }
                Ok(Ok(Outcome::default()))
            }
            HandoffOp::PutImport { key, mark } => {
                put(&mut self.imports, key, mark)?;
                Ok(Ok(Outcome::default()))
            }
            HandoffOp::DropImport { key } => {
                if self.imports.remove(key.as_str())?.is_none() {
                    return Ok(Err(OpError::NotFound));
                }
                Ok(Ok(Outcome::default()))
            }
        }
    }
}

/// Reads of hand-off state.
impl super::RedbJournal {
    pub fn delivery(
        &self,
        route: &str,
        object: &str,
    ) -> Result<Option<DeliveryRecord>, super::JournalError> {
        self.get(super::DELIVERIES, &delivery_key(route, object))
    }

    /// Every delivery record of a route (`""` for all routes).
    pub fn deliveries(&self, route: &str) -> Result<Vec<DeliveryRecord>, super::JournalError> {
        let prefix = if route.is_empty() {
            String::new()
        } else {
            route_prefix(route)
        };
        Ok(self
            .scan::<DeliveryRecord>(super::DELIVERIES, &prefix)?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    /// Every delivery record of `tenant`'s files (all routes).
    pub fn deliveries_of(&self, tenant: &str) -> Result<Vec<DeliveryRecord>, super::JournalError> {
        let prefix = format!("{tenant}\0");
        let keys: Vec<String> = self.read(super::BY_TENANT, |t| {
            let mut out = Vec::new();
            for item in t.range(prefix.as_str()..)? {
                let (k, _) = item?;
                let key = k.value();
                if !key.starts_with(&prefix) {
                    break;
                }
                out.push(key.to_string());
            }
            Ok(out)
        })?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let mut parts = k.splitn(3, '\0').skip(1);
            if let (Some(route), Some(object)) = (parts.next(), parts.next())
                && let Some(r) = self.delivery(route, object)?
            {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub fn import_mark(&self, key: &str) -> Result<Option<ImportMark>, super::JournalError> {
        self.get(super::IMPORTS, key)
    }

    /// Whether any delivery record names `object` (it has been queued for
    /// a hand-off at least once).
    pub fn has_deliveries(
        &self,
        routes: &[String],
        object: &str,
    ) -> Result<bool, super::JournalError> {
        for r in routes {
            if self.delivery(r, object)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
