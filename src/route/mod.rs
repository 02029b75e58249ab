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
mod expect;
mod folder;
pub mod import;
pub mod ledger;
mod pull;
mod settle;
pub mod spool;
mod worker;

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{Route, Source};
use crate::journal::{DeliveryState, JournalError};
use crate::namespace::Namespace;

/// A route's live state, shared by its worker and `ctl routes`.
pub struct RouteState {
    pub route: Route,
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

/// All routes and their workers.
pub struct Router {
    ns: Arc<Namespace>,
    routes: Vec<Arc<RouteState>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("no route named {0:?} (see `renkei ctl routes`)")]
    NoSuchRoute(String),
    #[error("{0}")]
    Journal(#[from] crate::journal::ApplyError),
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

impl Router {
    /// Starts one worker per route; they stop when `stop` turns true.
    pub fn start(
        ns: Arc<Namespace>,
        routes: Vec<Route>,
        stop: watch::Receiver<bool>,
    ) -> (Arc<Router>, Vec<JoinHandle<()>>) {
        let states: Vec<Arc<RouteState>> = routes
            .into_iter()
            .map(|route| {
                Arc::new(RouteState {
                    route,
                    kick: Notify::new(),
                    status: Mutex::new(RunStatus::default()),
                })
            })
            .collect();
        let mut handles: Vec<JoinHandle<()>> = states
            .iter()
            .map(|st| tokio::spawn(worker::run(Arc::clone(&ns), Arc::clone(st), stop.clone())))
            .collect();
        for st in states.iter().filter(|s| s.route.expect.is_some()) {
            handles.push(tokio::spawn(expect::run(
                Arc::clone(&ns),
                Arc::clone(st),
                stop.clone(),
            )));
        }
        (Arc::new(Router { ns, routes: states }), handles)
    }

    fn find(&self, name: &str) -> Result<&Arc<RouteState>, RouteError> {
        self.routes
            .iter()
            .find(|r| r.route.name == name)
            .ok_or_else(|| RouteError::NoSuchRoute(name.to_string()))
    }

    /// Each route's queue, runs and failures.
    pub fn report(&self) -> Result<Vec<RouteReport>, RouteError> {
        let mut out = Vec::new();
        for st in &self.routes {
            let r = &st.route;
            let status = st.status.lock().map(|s| s.clone()).unwrap_or_default();
            let mut report = RouteReport {
                name: r.name.clone(),
                defined_at: r.at.clone(),
                source: r.source_label("{tenant}"),
                destination: r.destination_label("{tenant}"),
                trigger: r.trigger.to_string(),
                tenants: r.tenants.len(),
                queued: 0,
                delivered: 0,
                failed: 0,
                cancelled: 0,
                imported: status.imported,
                last_run: status.last_run.map(crate::schedule::local_text),
                next_run: status.next_run.map(crate::schedule::local_text),
                last_error: status.last_error.clone(),
                failures: Vec::new(),
            };
            if matches!(r.source, Source::Box { .. }) {
                for d in self.ns.journal.deliveries(&r.name)? {
                    match d.state {
                        DeliveryState::Queued => report.queued += 1,
                        DeliveryState::Delivered => report.delivered += 1,
                        DeliveryState::Cancelled => report.cancelled += 1,
                        DeliveryState::Failed => {
                            report.failed += 1;
                            report.failures.push(FailedItem {
                                tenant: d.tenant,
                                path: d.path,
                                object: d.object,
                                attempts: d.attempts,
                                error: d.last_error.unwrap_or_default(),
                            });
                        }
                    }
                }
            }
            for (name, error) in &status.import_problems {
                report.failed += 1;
                report.failures.push(FailedItem {
                    tenant: String::new(),
                    path: name.clone(),
                    object: String::new(),
                    attempts: 0,
                    error: error.clone(),
                });
            }
            out.push(report);
        }
        Ok(out)
    }

    /// Puts failed items of `route` (all, or `item` by object id or path)
    /// back in its queue and wakes its worker; a directory route looks at
    /// its source again. Returns how many items were requeued.
    pub async fn retry(&self, route: &str, item: Option<&str>) -> Result<usize, RouteError> {
        let st = self.find(route)?;
        let n = ledger::requeue(&self.ns, route, item).await?;
        st.kick.notify_one();
        Ok(n)
    }
}
