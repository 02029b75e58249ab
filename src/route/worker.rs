//! A route's worker: waits for its trigger, queues, hands on, retries.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

use super::import::{self, Seen, Taken};
use super::spool::{self, Placed, Target};
use super::{RouteState, ledger};
use crate::config::{Destination, Route, Source, TenantCode};
use crate::events::Event;
use crate::journal::{DeliveryRecord, DeliveryState, ObjectState};
use crate::namespace::Namespace;
use crate::schedule::Trigger;

/// After a journal failure the item is tried again this much later.
const JOURNAL_RETRY: Duration = Duration::from_secs(10);

pub(super) async fn run(ns: Arc<Namespace>, st: Arc<RouteState>, stop: watch::Receiver<bool>) {
    match &st.route.source {
        Source::Box { .. } => run_box(ns, st, stop).await,
        Source::Dir { .. } => run_dir(ns, st, stop).await,
    }
}

fn until(t: Timestamp) -> Duration {
    let now = Timestamp::now();
    if t <= now {
        return Duration::ZERO;
    }
    Duration::try_from(t.duration_since(now)).unwrap_or(Duration::ZERO)
}

fn later(d: Duration) -> Timestamp {
    let now = Timestamp::now();
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|s| now.checked_add(s).ok())
        .unwrap_or(now)
}

async fn run_box(ns: Arc<Namespace>, st: Arc<RouteState>, mut stop: watch::Receiver<bool>) {
    let route = &st.route;
    let mut known = HashSet::new();
    let mut queue: Vec<DeliveryRecord> = Vec::new();
    match ns.journal.deliveries(&route.name) {
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
            return;
        }
    }
    let arrival = route.trigger == Trigger::Arrival;
    let mut arrivals = ns.arrivals();
    let mut scan = arrival;
    let mut next_fire = route.trigger.next_after(Timestamp::now());
    let mut next_rescan = later(route.rescan);
    loop {
        if *stop.borrow() {
            return;
        }
        st.update(|s| s.next_run = next_fire);
        if scan {
            scan = false;
            match ledger::enqueue_new(&ns, route, &mut known).await {
                Ok(new) => queue.extend(new),
                Err(e) => {
                    tracing::error!(route = %route.name, error = %e, "queueing files failed");
                    st.update(|s| s.last_error = Some(e.to_string()));
                }
            }
            st.update(|s| s.last_run = Some(Timestamp::now()));
        }
        queue.sort_by_key(|r| (r.next_attempt, r.queued_at));
        let now = Timestamp::now();
        let due: Vec<DeliveryRecord> = {
            let split = queue.partition_point(|r| r.next_attempt <= now);
            queue.drain(..split).collect()
        };
        for r in due {
            if *stop.borrow() {
                return;
            }
            if let Some(again) = attempt(&ns, &st, r).await {
                queue.push(again);
            }
        }
        let mut wake = next_rescan;
        if let Some(t) = queue.iter().map(|r| r.next_attempt).min() {
            wake = wake.min(t);
        }
        if let Some(t) = next_fire {
            wake = wake.min(t);
        }
        tokio::select! {
            _ = tokio::time::sleep(until(wake)) => {
                let now = Timestamp::now();
                if next_fire.is_some_and(|t| t <= now) {
                    scan = true;
                    next_fire = route.trigger.next_after(now);
                }
                if next_rescan <= now {
                    // Arrival routes look again in case a signal was
                    // missed; scheduled ones only pick up retries.
                    scan |= arrival;
                    next_rescan = later(route.rescan);
                }
            }
            changed = arrivals.changed(), if arrival => {
                if changed.is_err() {
                    return;
                }
                scan = true;
            }
            () = st.kick.notified() => {
                reload_requeued(&ns, &route.name, &mut queue);
            }
            _ = stop.changed() => return,
        }
    }
}

/// Items `ctl retry` put back in the journal's queue join the worker's.
fn reload_requeued(ns: &Namespace, route: &str, queue: &mut Vec<DeliveryRecord>) {
    let Ok(all) = ns.journal.deliveries(route) else {
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
) -> Option<DeliveryRecord> {
    let route = &st.route;
    let object = match ns.journal.object(&r.object) {
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
    let Destination::Dir {
        path,
        trigger_suffix,
    } = &route.destination
    else {
        return journal_trouble(st, r, "this route has no destination for box files");
    };
    let name = object
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&object.path)
        .to_string();
    let target = Target {
        dir: Route::dir_for(path, &r.tenant),
        name,
        trigger_suffix: trigger_suffix.clone(),
        tag: format!("{}-{}", route.name, object.id),
    };
    let vault = Arc::clone(&ns.vault);
    let outcome = tokio::task::spawn_blocking(move || {
        let res = spool::deliver(&vault, &object, &target);
        (res, target)
    })
    .await;
    let (res, target) = match outcome {
        Ok(x) => x,
        Err(e) => return journal_trouble(st, r, &format!("the hand-off task failed: {e}")),
    };
    match res {
        Ok(placed) => {
            match ledger::delivered(ns, r.clone(), placed == Placed::AlreadyThere).await {
                Ok(_) => {
                    spool::forget(&target);
                    st.update(|s| s.last_error = None);
                    None
                }
                Err(e) => journal_trouble(st, r, &e.to_string()),
            }
        }
        Err(e) => {
            let text = e.to_string();
            st.update(|s| s.last_error = Some(text.clone()));
            match ledger::failed(ns, route, r.clone(), text, e.is_permanent()).await {
                Ok(r) if r.state == DeliveryState::Queued => Some(r),
                Ok(_) => None,
                Err(e) => journal_trouble(st, r, &e.to_string()),
            }
        }
    }
}

/// The journal could not record a step: the item stays queued (in the
/// journal too) and is tried again a little later.
fn journal_trouble(st: &RouteState, mut r: DeliveryRecord, error: &str) -> Option<DeliveryRecord> {
    tracing::error!(route = %st.route.name, object = %r.object, error, "hand-off step not recorded; it will be tried again");
    st.update(|s| s.last_error = Some(error.to_string()));
    r.next_attempt = later(JOURNAL_RETRY);
    Some(r)
}

/// A source directory of one tenant.
struct Watched {
    tenant: TenantCode,
    dir: PathBuf,
}

async fn run_dir(ns: Arc<Namespace>, st: Arc<RouteState>, mut stop: watch::Receiver<bool>) {
    let route = &st.route;
    let (
        Source::Dir {
            path,
            ready_suffix,
            settle,
        },
        Destination::Box { bx },
    ) = (&route.source, &route.destination)
    else {
        tracing::error!(route = %route.name, "a directory route needs a box destination");
        return;
    };
    let (settle, bx) = (*settle, *bx);
    let dirs: Vec<Watched> = route
        .tenants
        .iter()
        .map(|t| Watched {
            tenant: t.clone(),
            dir: Route::dir_for(path, t.as_str()),
        })
        .collect();
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let _watcher = watch_dirs(&route.name, &dirs, tx);
    let arrival = route.trigger == Trigger::Arrival;
    let mut next_fire = route.trigger.next_after(Timestamp::now());
    let mut active = arrival;
    let mut seen: HashMap<(usize, String), (Seen, Instant)> = HashMap::new();
    let mut reported: HashMap<(usize, String), String> = HashMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        st.update(|s| s.next_run = next_fire);
        let mut recheck: Option<Duration> = None;
        if active {
            st.update(|s| s.last_run = Some(Timestamp::now()));
            let mut pending = false;
            for (i, w) in dirs.iter().enumerate() {
                let names = match list(&w.dir) {
                    Ok(n) => n,
                    Err(e) => {
                        let text = format!("{}: {e}", w.dir.display());
                        report(&ns, &st, &mut reported, (i, String::new()), w, "", text);
                        continue;
                    }
                };
                let present: HashSet<&String> = names.iter().collect();
                seen.retain(|(di, n), _| *di != i || present.contains(n));
                for name in &names {
                    if *stop.borrow() {
                        return;
                    }
                    if import::ignored(name, ready_suffix.as_deref()) {
                        continue;
                    }
                    let file = w.dir.join(name);
                    let Ok(Some(now_seen)) = import::look(&file) else {
                        continue;
                    };
                    let ready = match ready_suffix {
                        Some(s) => w.dir.join(format!("{name}{s}")).exists(),
                        None => {
                            let key = (i, name.clone());
                            match seen.get(&key) {
                                Some((prev, since)) if *prev == now_seen => {
                                    let waited = since.elapsed();
                                    if waited < settle {
                                        recheck =
                                            Some(recheck.map_or(settle - waited, |r| {
                                                r.min(settle - waited)
                                            }));
                                    }
                                    waited >= settle
                                }
                                _ => {
                                    seen.insert(key, (now_seen.clone(), Instant::now()));
                                    recheck = Some(recheck.map_or(settle, |r| r.min(settle)));
                                    false
                                }
                            }
                        }
                    };
                    if !ready {
                        pending = true;
                        continue;
                    }
                    let (tns, troute, tenant, dir, tname, suffix) = (
                        Arc::clone(&ns),
                        route.clone(),
                        w.tenant.clone(),
                        w.dir.clone(),
                        name.clone(),
                        ready_suffix.clone(),
                    );
                    let seen_now = now_seen.clone();
                    let res = tokio::task::spawn_blocking(move || {
                        import::take(
                            &tns,
                            &troute,
                            bx,
                            &import::Candidate {
                                tenant: &tenant,
                                dir: &dir,
                                name: &tname,
                                ready: suffix.as_deref(),
                                seen: &seen_now,
                            },
                        )
                    })
                    .await;
                    let key = (i, name.clone());
                    match res {
                        Ok(Ok(Taken::Imported { .. })) => {
                            seen.remove(&key);
                            reported.remove(&key);
                            st.update(|s| {
                                s.imported += 1;
                                s.import_problems
                                    .retain(|(n, _)| n != &file.display().to_string());
                            });
                        }
                        Ok(Ok(Taken::AlreadyImported)) => {
                            seen.remove(&key);
                            reported.remove(&key);
                        }
                        Ok(Ok(Taken::Changed)) => {
                            seen.remove(&key);
                            pending = true;
                        }
                        Ok(Err(e)) => report(&ns, &st, &mut reported, key, w, name, e.to_string()),
                        Err(e) => report(
                            &ns,
                            &st,
                            &mut reported,
                            key,
                            w,
                            name,
                            format!("the import task failed: {e}"),
                        ),
                    }
                }
            }
            // A scheduled run lasts until every file it saw was taken.
            active = arrival || pending;
        }
        let mut wait = if arrival {
            route.rescan
        } else {
            Duration::from_secs(86_400)
        };
        if let Some(r) = recheck {
            wait = wait.min(r);
        }
        if let Some(t) = next_fire {
            wait = wait.min(until(t));
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                if next_fire.is_some_and(|t| t <= Timestamp::now()) {
                    active = true;
                    next_fire = route.trigger.next_after(Timestamp::now());
                }
            }
            got = rx.recv(), if arrival => {
                if got.is_none() {
                    // Watching failed: the rescan interval carries on.
                }
            }
            () = st.kick.notified() => {
                reported.clear();
                active = true;
            }
            _ = stop.changed() => return,
        }
    }
}

/// Names in a directory (created if missing), in order.
fn list(dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        match entry.file_name().into_string() {
            Ok(n) => names.push(n),
            Err(raw) => {
                tracing::warn!(dir = %dir.display(), name = ?raw, "a file name in a route's source directory is not UTF-8; it is not taken");
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Records an import problem once per file and message.
fn report(
    ns: &Namespace,
    st: &RouteState,
    reported: &mut HashMap<(usize, String), String>,
    key: (usize, String),
    w: &Watched,
    name: &str,
    error: String,
) {
    if reported.get(&key) == Some(&error) {
        return;
    }
    reported.insert(key, error.clone());
    let shown = w.dir.join(name).display().to_string();
    st.update(|s| {
        s.last_error = Some(error.clone());
        s.import_problems.retain(|(n, _)| n != &shown);
        s.import_problems.push((shown.clone(), error.clone()));
    });
    ns.events.record(Event::ImportFailed {
        route: st.route.name.clone(),
        tenant: w.tenant.to_string(),
        source: w.dir.display().to_string(),
        name: name.to_string(),
        error,
    });
}

/// Watches the source directories; every change sends a (coalesced)
/// signal. Without a watcher the rescan interval still finds everything.
fn watch_dirs(
    route: &str,
    dirs: &[Watched],
    tx: mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = match notify::recommended_watcher(
        move |_res: notify::Result<notify::Event>| {
            let _ = tx.try_send(());
        },
    ) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(route, error = %e, "cannot watch source directories; relying on the rescan interval");
            return None;
        }
    };
    for w in dirs {
        if let Err(e) = std::fs::create_dir_all(&w.dir) {
            tracing::warn!(route, dir = %w.dir.display(), error = %e, "cannot create a source directory");
            continue;
        }
        if let Err(e) = watcher.watch(&w.dir, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(route, dir = %w.dir.display(), error = %e, "cannot watch a source directory; relying on the rescan interval");
        }
    }
    Some(watcher)
}
