//! Routes: automatic hand-off (自動データ連携) between tenant boxes and the
//! standard system.
//!
//! Each `[[route]]` gets one worker task. A route from a box hands each
//! matching committed file to its destination exactly once, keeping a
//! delivery record per (file, route) in the journal ([`ledger`]); a route
//! from a directory takes complete files into a tenant's box ([`import`]).
//! The journal is the truth: a restart picks up every queued item where it
//! stood, and the destination protocols ([`spool`]) make a repeated attempt
//! harmless.
//!
//! Routes sit in the core beside the namespace: they use the journal, the
//! vault and the event sink, and nothing of SSH.

mod clock;
mod destination;
mod driver;
mod expect;
mod folder;
pub mod import;
pub mod ledger;
mod pull;
mod router;
mod settle;
pub mod spool;
pub mod steps;
mod wake;
mod worker;

use std::sync::Mutex;

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::Notify;

use renkei_config::Route;
use renkei_storage::journal::JournalError;

pub use renkei_core::live::RouteChanges;
pub use router::Router;

/// A route's live state, shared by its worker and `ctl routes`.
pub struct RouteState {
    pub route: Route,
    /// Directories with a file step still running past `fs_timeout`.
    stuck: std::sync::Arc<steps::Stuck>,
    kick: Notify,
    status: Mutex<RunStatus>,
}

#[derive(Debug, Default, Clone)]
struct RunStatus {
    last_run: Option<Timestamp>,
    next_run: Option<Timestamp>,
    last_error: Option<String>,
    imported: u64,
    /// Files a directory route could not take, with why.
    import_problems: Vec<(String, String)>,
}

impl RouteState {
    fn update(&self, f: impl FnOnce(&mut RunStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("no route named {0:?} (see `renkei ctl routes`)")]
    NoSuchRoute(String),
    #[error("{0}")]
    Journal(#[from] renkei_storage::journal::ApplyError),
    #[error("{0}")]
    Read(#[from] JournalError),
}

/// One failed item, as `ctl routes` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FailedItem {
    pub tenant: String,
    pub path: String,
    pub object: String,
    pub attempts: u32,
    pub error: String,
}

/// What `ctl routes` shows of one route.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RouteReport {
    pub name: String,
    pub defined_at: String,
    pub source: String,
    pub destination: String,
    pub trigger: String,
    pub tenants: usize,
    pub queued: u64,
    pub delivered: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub imported: u64,
    pub last_run: Option<String>,
    pub next_run: Option<String>,
    pub last_error: Option<String>,
    pub failures: Vec<FailedItem>,
}
