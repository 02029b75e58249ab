//! A route's worker: waits for its trigger, queues, hands on, retries.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use jiff::Timestamp;

use super::driver::{Pass, Signal, drive};
use super::spool::{self, Placed, Target};
use super::steps::StepError;
use super::wake::{later, until};
use super::{RouteState, ledger};
use crate::remote;
use renkei_config::{Destination, Route, Source};
use renkei_core::namespace::{Arrival, Namespace};
use renkei_storage::journal::{DeliveryRecord, DeliveryState, ObjectState};
use tokio::sync::broadcast;

/// After a journal failure the item is tried again this much later.
const JOURNAL_RETRY: Duration = Duration::from_secs(10);

pub(super) async fn run(ns: Arc<Namespace>, st: Arc<RouteState>, stop: CancellationToken) {
    match &st.route.source {
        Source::Box { .. } => {
            let Some(source) = BoxSource::start(Arc::clone(&ns), Arc::clone(&st)) else {
                return;
            };
            drive(ns, st, stop, source).await
        }
        Source::Dir { .. } => {
            let Some(source) = super::folder::FolderSource::start(Arc::clone(&ns), Arc::clone(&st))
            else {
                return;
            };
            drive(ns, st, stop, source).await
        }
        Source::Sftp { .. } => {
            let Some(source) = super::pull::PullSource::start(Arc::clone(&ns), Arc::clone(&st))
            else {
                return;
            };
            drive(ns, st, stop, source).await
        }
    }
}

/// A route from a box: queues matching committed files (all of them when
/// it looks, the ones it was told of otherwise) and hands each queued
/// item on when it is due.
struct BoxSource {
    ns: Arc<Namespace>,
    st: Arc<RouteState>,
    /// Objects that have a delivery record on this route.
    known: HashSet<String>,
    queue: Vec<DeliveryRecord>,
    arrivals: broadcast::Receiver<Arrival>,
    /// Arrivals received since the last pass.
    arrived: Vec<Arrival>,
    remote_swept: bool,
}

impl BoxSource {
    fn start(ns: Arc<Namespace>, st: Arc<RouteState>) -> Option<BoxSource> {
        let route = &st.route;
        let mut known = HashSet::new();
        let mut queue: Vec<DeliveryRecord> = Vec::new();
        match ns.deliveries(&route.name) {
            Ok(all) => {
                for r in all {
                    known.insert(r.object.clone());
                    if r.state == DeliveryState::Queued {
                        queue.push(r);
                    }
                }
            }
            Err(e) => {
                tracing::error!(route = %route.name, error = %e, "cannot read the route's queue; it does not run");
                st.update(|s| s.last_error = Some(e.to_string()));
                return None;
            }
        }
        sweep_local(&ns, route);
        let arrivals = ns.arrivals();
        Some(BoxSource {
            ns,
            st,
            known,
            queue,
            arrivals,
            arrived: Vec::new(),
            remote_swept: false,
        })
    }

    /// Queues new files: all of them when `look`, else those it was told of.
    async fn enqueue(&mut self, look: bool) {
        let route = &self.st.route;
        let arrived = std::mem::take(&mut self.arrived);
        let new = if look {
            ledger::enqueue_new(&self.ns, route, &mut self.known).await
        } else if arrived.is_empty() {
            return;
        } else {
            ledger::enqueue_arrived(&self.ns, route, arrived, &mut self.known).await
        };
        match new {
            Ok(new) => self.queue.extend(new),
            Err(e) => {
                tracing::error!(route = %route.name, error = %e, "queueing files failed");
                self.st.update(|s| s.last_error = Some(e.to_string()));
            }
        }
    }
}

impl Pass for BoxSource {
    async fn pass(&mut self, look: bool, stop: &CancellationToken) -> Option<bool> {
        self.enqueue(look).await;
        self.queue.sort_by_key(|r| (r.next_attempt, r.queued_at));
        let now = Timestamp::now();
        let split = self.queue.partition_point(|r| r.next_attempt <= now);
        let due: Vec<DeliveryRecord> = self.queue.drain(..split).collect();
        // A connection lives for one pass, not while the route idles.
        let mut conn: Option<remote::Conn> = None;
        for r in due {
            if stop.is_cancelled() {
                return None;
            }
            if let Some(again) = attempt(&self.ns, &self.st, r, &mut conn).await {
                self.queue.push(again);
            }
            if !self.remote_swept
                && let Some(c) = conn.as_ref()
            {
                sweep_remote(&self.ns, &self.st.route, c).await;
                self.remote_swept = true;
            }
        }
        Some(false)
    }

    fn wake_in(&mut self) -> Option<Duration> {
        self.queue.iter().map(|r| r.next_attempt).min().map(until)
    }

    async fn signal(&mut self) -> Signal {
        match self.arrivals.recv().await {
            Ok(a) => {
                self.arrived.push(a);
                Signal::Noted
            }
            // Fell behind the ring: what it missed is found by looking.
            Err(broadcast::error::RecvError::Lagged(_)) => Signal::Look,
            Err(broadcast::error::RecvError::Closed) => Signal::Gone,
        }
    }

    fn kicked(&mut self) -> bool {
        reload_requeued(&self.ns, &self.st.route.name, &mut self.queue);
        false
    }
}

/// Removes working files a crash left in the route's spool directories.
fn sweep_local(ns: &Namespace, route: &Route) {
    let Destination::Dir { path, .. } = &route.destination else {
        return;
    };
    for t in &route.tenants {
        let dir = Route::dir_for(path, t.as_str());
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            if let Ok(name) = e.file_name().into_string()
                && ledger::stale_working_file(ns, &route.name, &name)
                && let Err(err) = std::fs::remove_file(dir.join(&name))
            {
                tracing::warn!(route = %route.name, file = %name, error = %err, "cannot remove a stale working file");
            }
        }
    }
}

/// The same on the remote server, at the first connection after start.
async fn sweep_remote(ns: &Namespace, route: &Route, conn: &remote::Conn) {
    let Destination::Sftp { remote: end, .. } = &route.destination else {
        return;
    };
    for t in &route.tenants {
        let dir = end.dir_for(t.as_str());
        let Ok(entries) = conn.sftp.read_dir(dir.clone()).await else {
            continue;
        };
        for e in entries {
            let name = e.file_name();
            if ledger::stale_working_file(ns, &route.name, &name)
                && let Err(err) = conn.sftp.remove_file(format!("{dir}/{name}")).await
            {
                tracing::warn!(route = %route.name, file = %name, error = %err, "cannot remove a stale working file on the server");
            }
        }
    }
}

/// Items `ctl retry` put back in the journal's queue join the worker's.
fn reload_requeued(ns: &Namespace, route: &str, queue: &mut Vec<DeliveryRecord>) {
    let Ok(all) = ns.deliveries(route) else {
        return;
    };
    let have: HashSet<String> = queue.iter().map(|r| r.object.clone()).collect();
    queue.extend(
        all.into_iter()
            .filter(|r| r.state == DeliveryState::Queued && !have.contains(&r.object)),
    );
}

/// One hand-off attempt. Returns the record if it stays queued.
async fn attempt(
    ns: &Arc<Namespace>,
    st: &RouteState,
    r: DeliveryRecord,
    conn: &mut Option<remote::Conn>,
) -> Option<DeliveryRecord> {
    let route = &st.route;
    let object = match ns.object(&r.object) {
        Ok(o) => o,
        Err(e) => return journal_trouble(st, r, &e.to_string()),
    };
    let object = match object {
        Some(o) if o.state == ObjectState::Stored => o,
        other => {
            let why = match other.map(|o| o.state) {
                Some(ObjectState::Deleted { by, .. }) => {
                    format!("deleted by {by} before it was handed on")
                }
                Some(ObjectState::Superseded { .. }) => {
                    "replaced by a newer upload of the same name before it was handed on"
                        .to_string()
                }
                Some(ObjectState::Acknowledged { by, .. }) => {
                    format!("received by {by} before it was handed on")
                }
                _ => "no longer stored".to_string(),
            };
            return match ledger::cancelled(ns, r.clone(), &why).await {
                Ok(_) => None,
                Err(e) => journal_trouble(st, r, &e.to_string()),
            };
        }
    };
    let name = object
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&object.path)
        .to_string();
    let tag = renkei_model::placement::tag(&route.name, &object.id);
    let result = match &route.destination {
        Destination::Dir {
            path,
            trigger_suffix,
        } => {
            let target = Target {
                dir: Route::dir_for(path, &r.tenant),
                name,
                trigger_suffix: trigger_suffix.clone(),
                tag,
            };
            let ns2 = Arc::clone(ns);
            let dir = target.dir.clone();
            let limit = ns.limits().fs_timeout;
            let step = st.stuck.run(&dir, limit, move || {
                let res = spool::deliver(&ns2, &object, &target);
                (res, target)
            });
            match step.await {
                Ok((Ok(placed), target)) => {
                    Ok((placed == Placed::AlreadyThere, Done::Spool(target)))
                }
                Ok((Err(e), _)) => Err((e.to_string(), e.is_permanent())),
                Err(e @ StepError::Busy { .. }) => {
                    // Not an attempt: wait for the stuck one to return.
                    st.update(|s| s.last_error = Some(e.to_string()));
                    let mut r = r;
                    r.next_attempt = later(limit.min(Duration::from_secs(5)));
                    return Some(r);
                }
                Err(e @ StepError::TimedOut { .. }) => Err((e.to_string(), false)),
                Err(e) => return journal_trouble(st, r, &format!("the hand-off task failed: {e}")),
            }
        }
        Destination::Sftp {
            remote,
            trigger_suffix,
        } => {
            let target = remote::PushTarget {
                dir: remote.dir_for(&r.tenant),
                name,
                trigger_suffix: trigger_suffix.clone(),
                tag,
            };
            match push_remote(ns, remote, conn, &object, &target).await {
                Ok(placed) => Ok((placed == remote::Placed::AlreadyThere, Done::Remote(target))),
                Err(e) => {
                    *conn = None;
                    Err((e.to_string(), e.is_permanent()))
                }
            }
        }
        Destination::Box { .. } => {
            return journal_trouble(st, r, "a box route cannot hand on to a box");
        }
    };
    match result {
        Ok((already_there, done)) => match ledger::delivered(ns, r.clone(), already_there).await {
            Ok(_) => {
                match done {
                    Done::Spool(t) => spool::forget(&t),
                    Done::Remote(t) => {
                        if let Some(c) = conn.as_ref() {
                            remote::forget(c, &t).await;
                        }
                    }
                }
                st.update(|s| s.last_error = None);
                None
            }
            Err(e) => journal_trouble(st, r, &e.to_string()),
        },
        Err((text, permanent)) => {
            st.update(|s| s.last_error = Some(text.clone()));
            match ledger::failed(ns, route, r.clone(), text, permanent).await {
                Ok(r) if r.state == DeliveryState::Queued => Some(r),
                Ok(_) => None,
                Err(e) => journal_trouble(st, r, &e.to_string()),
            }
        }
    }
}

/// What to clean up once `delivered` is committed.
enum Done {
    Spool(Target),
    Remote(remote::PushTarget),
}

/// Pushes over the pass's connection, opening it first if needed.
async fn push_remote(
    ns: &Arc<Namespace>,
    end: &renkei_config::routes::RemoteEnd,
    conn: &mut Option<remote::Conn>,
    object: &renkei_storage::journal::ObjectRecord,
    target: &remote::PushTarget,
) -> Result<remote::Placed, remote::RemoteError> {
    if conn.is_none() {
        *conn = Some(remote::connect(end).await?);
    }
    let Some(c) = conn.as_ref() else {
        return Err(remote::RemoteError::Connect {
            addr: end.addr.clone(),
            message: "no connection".into(),
        });
    };
    remote::push(c, ns, object, target).await
}

/// The journal could not record a step: the item stays queued (in the
/// journal too) and is tried again a little later.
fn journal_trouble(st: &RouteState, mut r: DeliveryRecord, error: &str) -> Option<DeliveryRecord> {
    tracing::error!(route = %st.route.name, object = %r.object, error, "hand-off step not recorded; it will be tried again");
    st.update(|s| s.last_error = Some(error.to_string()));
    r.next_attempt = later(JOURNAL_RETRY);
    Some(r)
}
