//! A directory route's worker: watches each tenant's source directory and
//! takes complete files into the box (`import` says when a file is
//! complete and how it is taken exactly once).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use tokio::sync::mpsc;

use super::driver::{Pass, Signal};
use super::import::{self, Taken};
use super::settle::Settling;
use super::state::RouteState;
use super::steps::StepError;
use renkei_config::{Destination, Route, Source, TenantCode};
use renkei_core::events::Event;
use renkei_core::namespace::Namespace;
use renkei_model::boxes::BoxKind;
use renkei_model::schedule::Trigger;

/// A source directory of one tenant.
struct Watched {
    tenant: TenantCode,
    dir: PathBuf,
}

/// A route from a directory: watches each tenant's source directory and
/// takes the files that are complete.
pub(super) struct FolderSource {
    ns: Arc<Namespace>,
    st: Arc<RouteState>,
    dirs: Vec<Watched>,
    bx: BoxKind,
    ready_suffix: Option<String>,
    arrival: bool,
    events: mpsc::Receiver<()>,
    /// Kept for its lifetime: dropping it stops the watching.
    _watcher: Option<notify::RecommendedWatcher>,
    seen: Settling<(usize, String)>,
    reported: HashMap<(usize, String), String>,
}

impl FolderSource {
    pub(super) fn start(ns: Arc<Namespace>, st: Arc<RouteState>) -> Option<FolderSource> {
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
            return None;
        };
        let dirs: Vec<Watched> = route
            .tenants
            .iter()
            .map(|t| Watched {
                tenant: t.clone(),
                dir: Route::dir_for(path, t.as_str()),
            })
            .collect();
        let (tx, events) = mpsc::channel::<()>(1);
        let watcher = watch_dirs(&route.name, &dirs, tx);
        Some(FolderSource {
            bx: *bx,
            ready_suffix: ready_suffix.clone(),
            arrival: route.trigger == Trigger::Arrival,
            seen: Settling::new(*settle),
            reported: HashMap::new(),
            events,
            _watcher: watcher,
            dirs,
            ns,
            st,
        })
    }

    /// Looks at one directory; returns whether a file there is still
    /// settling or busy, or `None` when stopped.
    async fn dir_pass(&mut self, i: usize, stop: &CancellationToken) -> Option<bool> {
        let w = &self.dirs[i];
        let names = match list(&w.dir) {
            Ok(n) => n,
            Err(text) => {
                report(
                    &self.ns,
                    &self.st,
                    &mut self.reported,
                    (i, String::new()),
                    w,
                    "",
                    text,
                );
                return Some(false);
            }
        };
        let present: HashSet<&String> = names.iter().collect();
        self.seen.retain(|(di, n)| *di != i || present.contains(n));
        let mut pending = false;
        for name in &names {
            if stop.is_cancelled() {
                return None;
            }
            pending |= self.take(i, name).await;
        }
        Some(pending)
    }

    /// Takes one file if it is complete; returns whether it must be looked
    /// at again (still settling, changed, or its directory busy).
    async fn take(&mut self, i: usize, name: &String) -> bool {
        let (ns, st, w) = (&self.ns, &self.st, &self.dirs[i]);
        let ready_suffix = &self.ready_suffix;
        if import::ignored(name, ready_suffix.as_deref()) {
            return false;
        }
        let file = w.dir.join(name);
        let Ok(Some(now_seen)) = import::look(&file) else {
            return false;
        };
        let ready = match ready_suffix {
            Some(s) => w.dir.join(format!("{name}{s}")).exists(),
            None => self.seen.is_complete((i, name.clone()), &now_seen),
        };
        if !ready {
            return true;
        }
        let (tns, troute, tenant, dir, tname, suffix, bx) = (
            Arc::clone(ns),
            st.route.clone(),
            w.tenant.clone(),
            w.dir.clone(),
            name.clone(),
            ready_suffix.clone(),
            self.bx,
        );
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
                        seen: &now_seen,
                    },
                )
            })
            .await;
        let key = (i, name.clone());
        match res {
            Err(StepError::Busy { .. }) => true,
            Ok(Ok(Taken::Imported { .. })) => {
                self.seen.forget(&key);
                self.reported.remove(&key);
                st.update(|s| {
                    s.imported += 1;
                    s.import_problems
                        .retain(|(n, _)| n != &file.display().to_string());
                });
                false
            }
            Ok(Ok(Taken::AlreadyImported)) => {
                self.seen.forget(&key);
                self.reported.remove(&key);
                false
            }
            Ok(Ok(Taken::Changed)) => {
                self.seen.forget(&key);
                true
            }
            Ok(Err(e)) => {
                report(ns, st, &mut self.reported, key, w, name, e.to_string());
                false
            }
            Err(e) => {
                report(ns, st, &mut self.reported, key, w, name, e.to_string());
                false
            }
        }
    }
}

impl Pass for FolderSource {
    async fn pass(&mut self, look: bool, stop: &CancellationToken) -> Option<bool> {
        if !look {
            return Some(false);
        }
        let mut pending = false;
        for i in 0..self.dirs.len() {
            pending |= self.dir_pass(i, stop).await?;
        }
        // A scheduled run lasts until every file it saw was taken.
        Some(self.arrival || pending)
    }

    fn wake_in(&mut self) -> Option<Duration> {
        self.seen.take_recheck()
    }

    async fn signal(&mut self) -> Signal {
        match self.events.recv().await {
            Some(()) => Signal::Look,
            // Watching failed: the rescan interval carries on.
            None => Signal::Gone,
        }
    }

    fn kicked(&mut self) -> bool {
        self.reported.clear();
        true
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
