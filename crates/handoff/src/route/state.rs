//! What the routes share: each route's live state (its worker and `ctl
//! routes` read it), and what `ctl routes` reports.

use std::sync::Mutex;

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::Notify;

use renkei_config::Route;
use renkei_core::records::JournalError;

/// A route's live state, shared by its worker and `ctl routes`.
pub struct RouteState {
    pub route: Route,
    /// Directories with a file step still running past `fs_timeout`.
    pub(super) stuck: std::sync::Arc<super::steps::Stuck>,
    pub(super) kick: Notify,
    pub(super) status: Mutex<RunStatus>,
}

#[derive(Debug, Default, Clone)]
pub(super) struct RunStatus {
    pub(super) last_run: Option<Timestamp>,
    pub(super) next_run: Option<Timestamp>,
    pub(super) last_error: Option<String>,
    pub(super) imported: u64,
    /// Files a directory route could not take, with why.
    pub(super) import_problems: Vec<(String, String)>,
    /// Expected files that did not arrive by their last deadline, per
    /// tenant (cleared when the next window's file arrives).
    pub(super) missing: Vec<(String, String)>,
}

impl RouteState {
    pub(super) fn update(&self, f: impl FnOnce(&mut RunStatus)) {
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
    /// When the oldest item still queued was queued (seconds since the
    /// epoch), for the queue-age metric; `None` with nothing queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_queued: Option<i64>,
    pub delivered: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub imported: u64,
    pub last_run: Option<String>,
    pub next_run: Option<String>,
    pub last_error: Option<String>,
    pub failures: Vec<FailedItem>,
    /// Expected files missing at their last deadline (`expect`).
    #[serde(default)]
    pub missing: Vec<String>,
}
