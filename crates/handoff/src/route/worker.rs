//! A route's worker: the driver (`driver`) runs one of the three sources;
//! this is the box source, which queues committed files and hands each on
//! to the route's destination (`destination`) exactly once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::destination::{Attempt, Destination, Remote, Spool};
use super::driver::{Pass, Signal, drive};
use super::ledger;
use super::state::RouteState;
use super::wake::{later, until};
use crate::place::Placed;
use renkei_config::Source;
use renkei_core::namespace::{Arrival, Namespace};
use renkei_core::records::{DeliveryRecord, DeliveryState, ObjectRecord, ObjectState};

/// After a journal failure the item is tried again this much later.
const JOURNAL_RETRY: Duration = Duration::from_secs(10);

pub(super) async fn run(ns: Arc<Namespace>, st: Arc<RouteState>, stop: CancellationToken) {
    match &st.route.source {
        Source::Box { .. } => {
            if let Some(dest) = Spool::start(&ns, &st) {
                if let Some(source) = BoxSource::start(Arc::clone(&ns), Arc::clone(&st), dest) {
                    drive(ns, st, stop, source).await;
                }
            } else if let Some(dest) = Remote::start(&ns, &st) {
                if let Some(source) = BoxSource::start(Arc::clone(&ns), Arc::clone(&st), dest) {
                    drive(ns, st, stop, source).await;
                }
            } else {
                tracing::error!(route = %st.route.name, "a box route cannot hand on to a box");
                st.update(|s| s.last_error = Some("a box route cannot hand on to a box".into()));
            }
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
/// item to its destination when it is due.
struct BoxSource<D> {
    ns: Arc<Namespace>,
    st: Arc<RouteState>,
    dest: D,
    /// Objects that have a delivery record on this route.
    known: HashSet<String>,
    queue: Vec<DeliveryRecord>,
    arrivals: broadcast::Receiver<Arrival>,
    /// Arrivals received since the last pass.
    arrived: Vec<Arrival>,
}

impl<D: Destination> BoxSource<D> {
    fn start(ns: Arc<Namespace>, st: Arc<RouteState>, dest: D) -> Option<BoxSource<D>> {
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
        let arrivals = ns.arrivals();
        Some(BoxSource {
            ns,
            st,
            dest,
            known,
            queue,
            arrivals,
            arrived: Vec::new(),
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

    /// One hand-off attempt. Returns the record if it stays queued.
    async fn attempt(&mut self, r: DeliveryRecord) -> Option<DeliveryRecord> {
        let (ns, st) = (Arc::clone(&self.ns), Arc::clone(&self.st));
        let object = match still_stored(&ns, &st, r.clone()).await {
            Ok(Some(o)) => o,
            Ok(None) => return None,
            Err(r) => return Some(r),
        };
        let name = object
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&object.path)
            .to_string();
        let tag = renkei_model::placement::tag(&st.route.name, &object.id);
        let (text, permanent) = match self.dest.place(&r.tenant, object, name, tag).await {
            Attempt::Placed(placed) => {
                return match ledger::delivered(&ns, r.clone(), placed == Placed::AlreadyThere).await
                {
                    Ok(_) => {
                        self.dest.forget().await;
                        st.update(|s| s.last_error = None);
                        None
                    }
                    Err(e) => Some(journal_trouble(&st, r, &e.to_string())),
                };
            }
            Attempt::Busy(after) => {
                // Not an attempt: wait for the stuck one to return.
                let mut r = r;
                r.next_attempt = later(after);
                return Some(r);
            }
            Attempt::Broken(text) => return Some(journal_trouble(&st, r, &text)),
            Attempt::Failed { text, permanent } => (text, permanent),
        };
        st.update(|s| s.last_error = Some(text.clone()));
        match ledger::failed(&ns, &st.route, r.clone(), text, permanent).await {
            Ok(r) if r.state == DeliveryState::Queued => Some(r),
            Ok(_) => None,
            Err(e) => Some(journal_trouble(&st, r, &e.to_string())),
        }
    }
}

/// The object of `r` if it is still the stored version of its name. If it
/// is not, the item is cancelled with why (`Ok(None)`); a journal failure,
/// or a file being checked again, keeps it queued (`Err`).
async fn still_stored(
    ns: &Namespace,
    st: &RouteState,
    r: DeliveryRecord,
) -> Result<Option<ObjectRecord>, DeliveryRecord> {
    let object = match ns.object(&r.object) {
        Ok(o) => o,
        Err(e) => return Err(journal_trouble(st, r, &e.to_string())),
    };
    let why = match object {
        Some(o) if o.state == ObjectState::Stored => return Ok(Some(o)),
        // Renamed to a name whose checks it has not passed: it waits for
        // them, still queued; their verdict decides.
        Some(o) if matches!(o.state, ObjectState::Checking { .. }) => {
            let mut r = r;
            r.next_attempt = later(CHECKS_WAIT);
            return Err(r);
        }
        Some(o) => match o.state {
            ObjectState::Deleted { by, .. } => format!("deleted by {by} before it was handed on"),
            ObjectState::Superseded { .. } => {
                "replaced by a newer upload of the same name before it was handed on".to_string()
            }
            ObjectState::Acknowledged { by, .. } => {
                format!("received by {by} before it was handed on")
            }
            _ => "no longer stored".to_string(),
        },
        None => "no longer stored".to_string(),
    };
    match ledger::cancelled(ns, r.clone(), &why).await {
        Ok(_) => Ok(None),
        Err(e) => Err(journal_trouble(st, r, &e.to_string())),
    }
}

impl<D: Destination> Pass for BoxSource<D> {
    async fn pass(&mut self, look: bool, stop: &CancellationToken) -> Option<bool> {
        self.enqueue(look).await;
        self.queue.sort_by_key(|r| (r.next_attempt, r.queued_at));
        let now = Timestamp::now();
        let split = self.queue.partition_point(|r| r.next_attempt <= now);
        let due: Vec<DeliveryRecord> = self.queue.drain(..split).collect();
        for r in due {
            if stop.is_cancelled() {
                self.dest.end_pass();
                return None;
            }
            if let Some(again) = self.attempt(r).await {
                self.queue.push(again);
            }
        }
        self.dest.end_pass();
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

/// How long a queued file that is being checked again waits before the
/// route looks at it again.
const CHECKS_WAIT: Duration = Duration::from_secs(2);

/// The journal could not record a step: the item stays queued (in the
/// journal too) and is tried again a little later.
fn journal_trouble(st: &RouteState, mut r: DeliveryRecord, error: &str) -> DeliveryRecord {
    tracing::error!(route = %st.route.name, object = %r.object, error, "hand-off step not recorded; it will be tried again");
    st.update(|s| s.last_error = Some(error.to_string()));
    r.next_attempt = later(JOURNAL_RETRY);
    r
}
