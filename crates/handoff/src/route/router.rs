//! The set of running routes: starts a worker per `[[route]]`, replaces
//! the workers of routes a reload changed, and stops them all at shutdown.
//!
//! A changed route's old worker is stopped and awaited before its new one
//! starts, so two workers never hand on the same route's items at once
//! (the journal's state checks would keep the records right, but both
//! would write the same working files). A worker stops at its next safe
//! point: a transfer in progress finishes first.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::state::{FailedItem, RouteError, RouteReport, RouteState, RunStatus};
use super::{expect, ledger, worker};
use renkei_config::{Route, Source};
use renkei_core::live::RouteChanges;
use renkei_core::namespace::Namespace;
use renkei_core::records::DeliveryState;

/// One running route.
struct Slot {
    state: Arc<RouteState>,
    /// The route as configured ([`fingerprint`]): a reload replaces the
    /// worker only when this changed.
    /// What the route does (see [`fingerprint`]).
    what: Route,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Slot {
    fn start(ns: &Arc<Namespace>, route: Route, parent: &CancellationToken) -> Slot {
        let what = fingerprint(&route);
        let state = Arc::new(RouteState {
            route,
            stuck: Arc::default(),
            kick: Notify::new(),
            status: Mutex::new(RunStatus::default()),
        });
        let stop = parent.child_token();
        let mut tasks = vec![tokio::spawn(worker::run(
            Arc::clone(ns),
            Arc::clone(&state),
            stop.clone(),
        ))];
        if state.route.expect.is_some() {
            tasks.push(tokio::spawn(expect::run(
                Arc::clone(ns),
                Arc::clone(&state),
                stop.clone(),
            )));
        }
        Slot {
            state,
            what,
            stop,
            tasks,
        }
    }

    fn name(&self) -> &str {
        &self.state.route.name
    }
}

/// Tells every slot's workers to stop, then waits until all have (each
/// finishes the transfer it is in, side by side).
async fn stop_all(slots: Vec<Slot>) {
    for s in &slots {
        s.stop.cancel();
    }
    for s in slots {
        for t in s.tasks {
            let _ = t.await;
        }
    }
}

/// What a route does, for telling whether a reload changed it: everything
/// but where it is written (moving a table in the file changes nothing).
fn fingerprint(route: &Route) -> Route {
    let mut r = route.clone();
    r.at.clear();
    r
}

/// All routes and their workers.
pub struct Router {
    ns: Arc<Namespace>,
    slots: Mutex<Vec<Slot>>,
    /// Cancelled when the daemon stops: every route's token is a child.
    stopping: CancellationToken,
    /// Held while routes are replaced or stopped: one change at a time.
    one_change: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.states().len())
            .finish()
    }
}

impl Router {
    /// Starts one worker per route (on the current tokio runtime). The
    /// routes stop when `stopping` is cancelled; [`Router::shutdown`]
    /// waits for them.
    pub fn start(
        ns: Arc<Namespace>,
        routes: Vec<Route>,
        stopping: CancellationToken,
    ) -> Arc<Router> {
        let slots = routes
            .into_iter()
            .map(|r| Slot::start(&ns, r, &stopping))
            .collect();
        Arc::new(Router {
            ns,
            slots: Mutex::new(slots),
            stopping,
            one_change: tokio::sync::Mutex::new(()),
        })
    }

    /// The running routes, in configuration order.
    fn states(&self) -> Vec<Arc<RouteState>> {
        self.slots
            .lock()
            .map(|s| s.iter().map(|x| Arc::clone(&x.state)).collect())
            .unwrap_or_default()
    }

    fn find(&self, name: &str) -> Result<Arc<RouteState>, RouteError> {
        self.states()
            .into_iter()
            .find(|r| r.route.name == name)
            .ok_or_else(|| RouteError::NoSuchRoute(name.to_string()))
    }

    /// What [`Router::apply`] would do with `routes`.
    pub fn plan(&self, routes: &[Route]) -> RouteChanges {
        let running: Vec<(String, Route)> = self
            .slots
            .lock()
            .map(|s| {
                s.iter()
                    .map(|x| (x.name().to_string(), x.what.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut changes = RouteChanges::default();
        for r in routes {
            match running.iter().find(|(n, _)| *n == r.name) {
                None => changes.started.push(r.name.clone()),
                Some((_, what)) if *what != fingerprint(r) => {
                    changes.changed.push(r.name.clone());
                }
                Some(_) => {}
            }
        }
        for (name, _) in &running {
            if !routes.iter().any(|r| r.name == *name) {
                changes.stopped.push(name.clone());
            }
        }
        changes
    }

    /// Makes the running routes those of `routes`: unchanged ones keep
    /// running undisturbed; changed and removed ones are stopped (after
    /// the transfer in progress) and changed and new ones started.
    pub async fn apply(&self, routes: Vec<Route>) -> RouteChanges {
        let one_change = self.one_change.lock().await;
        if self.stopping.is_cancelled() {
            return RouteChanges::default();
        }
        let changes = self.plan(&routes);
        let leaving: Vec<Slot> = match self.slots.lock() {
            Ok(mut slots) => {
                let (keep, leave) = std::mem::take(&mut *slots).into_iter().partition(|s| {
                    routes
                        .iter()
                        .any(|r| r.name == s.name() && fingerprint(r) == s.what)
                });
                *slots = keep;
                leave
            }
            Err(_) => Vec::new(),
        };
        stop_all(leaving).await;
        if let Ok(mut slots) = self.slots.lock() {
            let mut kept = std::mem::take(&mut *slots);
            for r in routes {
                match kept.iter().position(|s| s.name() == r.name) {
                    Some(i) => slots.push(kept.swap_remove(i)),
                    None => slots.push(Slot::start(&self.ns, r, &self.stopping)),
                }
            }
        }
        drop(one_change);
        changes
    }

    /// Stops every route and waits until all have (each finishes the
    /// transfer it is in); later reloads start nothing.
    pub async fn shutdown(&self) {
        self.stopping.cancel();
        let _one_change = self.one_change.lock().await;
        let all = self
            .slots
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        stop_all(all).await;
    }

    /// Each route's queue, runs and failures.
    pub fn report(&self) -> Result<Vec<RouteReport>, RouteError> {
        let mut out = Vec::new();
        // Where each route is written now (a reload may have moved it).
        let config = self.ns.live().get().config.clone();
        for st in self.states() {
            let r = &st.route;
            let status = st.status.lock().map(|s| s.clone()).unwrap_or_default();
            let mut report = RouteReport {
                name: r.name.clone(),
                defined_at: config
                    .routes
                    .iter()
                    .find(|c| c.name == r.name)
                    .map_or_else(|| r.at.clone(), |c| c.at.clone()),
                source: r.source_label("{tenant}"),
                destination: r.destination_label("{tenant}"),
                trigger: if r.skip_closed_days {
                    format!("{}, not on closed days", r.trigger)
                } else {
                    r.trigger.to_string()
                },
                tenants: r.tenants.len(),
                queued: 0,
                oldest_queued: None,
                delivered: 0,
                failed: 0,
                cancelled: 0,
                imported: status.imported,
                last_run: status.last_run.map(renkei_model::schedule::local_text),
                next_run: status.next_run.map(renkei_model::schedule::local_text),
                last_error: status.last_error.clone(),
                failures: Vec::new(),
                missing: status.missing.iter().map(|(_, m)| m.clone()).collect(),
            };
            if matches!(r.source, Source::Box { .. }) {
                for d in self.ns.deliveries(&r.name)? {
                    match d.state {
                        DeliveryState::Queued => {
                            report.queued += 1;
                            let at = d.queued_at.as_second();
                            report.oldest_queued =
                                Some(report.oldest_queued.map_or(at, |o| o.min(at)));
                        }
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
