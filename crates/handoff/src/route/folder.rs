//! A directory route's worker: watches each tenant's source directory and
//! takes complete files into the box (`import` says when a file is
//! complete and how it is taken exactly once).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use jiff::Timestamp;
use tokio::sync::mpsc;

use super::RouteState;
use super::clock::Schedule;
use super::import::{self, Taken};
use super::settle::Settling;
use super::steps::StepError;
use super::wake::until;
use renkei_config::{Destination, Route, Source, TenantCode};
use renkei_core::events::Event;
use renkei_core::namespace::Namespace;
use renkei_model::schedule::Trigger;

/// A source directory of one tenant.
struct Watched {
    tenant: TenantCode,
    dir: PathBuf,
}

pub(super) async fn run(ns: Arc<Namespace>, st: Arc<RouteState>, stop: CancellationToken) {
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
    let (mut schedule, missed) = Schedule::start(&ns, &st).await;
    let mut active = arrival || missed;
    let mut seen: Settling<(usize, String)> = Settling::new(settle);
    let mut reported: HashMap<(usize, String), String> = HashMap::new();
    loop {
        if stop.is_cancelled() {
            return;
        }
        st.update(|s| s.next_run = schedule.next());
        if active {
            st.update(|s| s.last_run = Some(Timestamp::now()));
            let mut pending = false;
            for (i, w) in dirs.iter().enumerate() {
                let names = match list(&w.dir) {
                    Ok(n) => n,
                    Err(text) => {
                        report(&ns, &st, &mut reported, (i, String::new()), w, "", text);
                        continue;
                    }
                };
                let present: HashSet<&String> = names.iter().collect();
                seen.retain(|(di, n)| *di != i || present.contains(n));
                for name in &names {
                    if stop.is_cancelled() {
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
                        None => seen.is_complete((i, name.clone()), &now_seen),
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
                    let res = st
                        .stuck
                        .run(&w.dir, ns.limits().fs_timeout, move || {
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
                    if let Err(StepError::Busy { .. }) = res {
                        pending = true;
                        continue;
                    }
                    match res {
                        Ok(Ok(Taken::Imported { .. })) => {
                            seen.forget(&key);
                            reported.remove(&key);
                            st.update(|s| {
                                s.imported += 1;
                                s.import_problems
                                    .retain(|(n, _)| n != &file.display().to_string());
                            });
                        }
                        Ok(Ok(Taken::AlreadyImported)) => {
                            seen.forget(&key);
                            reported.remove(&key);
                        }
                        Ok(Ok(Taken::Changed)) => {
                            seen.forget(&key);
                            pending = true;
                        }
                        Ok(Err(e)) => report(&ns, &st, &mut reported, key, w, name, e.to_string()),
                        Err(e) => report(&ns, &st, &mut reported, key, w, name, e.to_string()),
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
        if let Some(r) = seen.take_recheck() {
            wait = wait.min(r);
        }
        if let Some(t) = schedule.next() {
            wait = wait.min(until(t));
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                active |= schedule.due(&ns).await;
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
            _ = stop.cancelled() => return,
        }
    }
}

/// Names in a directory (created if missing), in order.
fn list(dir: &std::path::Path) -> Result<Vec<String>, String> {
    if std::fs::symlink_metadata(dir).is_err() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    import::real_dir(dir).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
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
    ns.events().record(Event::ImportFailed {
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
