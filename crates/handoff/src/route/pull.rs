//! A route that pulls from a remote SFTP server into tenants' boxes.
//!
//! The same rules as a local source directory (`import`): a file is taken
//! when its ready file exists or its size and time held still for
//! `settle`; it is committed with an import mark, then removed from the
//! server, then the mark is dropped, so a crash in between neither loses
//! it nor takes it twice. An interrupted download keeps what arrived (as
//! a partial of the route) and the next look continues from there, if the
//! file on the server still has the same size and time; otherwise it
//! starts over (the server keeps the file until it is stored).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use super::driver::{Pass, Signal};
use super::import::Seen;
use super::import::{drop_mark, ignored, route_principal, waiting_conflict};
use super::settle::Settling;
use super::state::RouteState;
use crate::remote::{self, Conn};
use renkei_config::routes::RemoteEnd;
use renkei_config::{Destination, Route, Source, TenantCode};
use renkei_core::events::Event;
use renkei_core::namespace::{Namespace, NsError, NsPath};
use renkei_core::transfer::{Imported, Upload};
use renkei_model::boxes::BoxKind;

/// The import mark of one remote file, kept from the check before the
/// download to the removal of the source after it.
#[derive(Clone)]
struct MarkOf {
    route: String,
    tenant: String,
    name: String,
}

impl MarkOf {
    fn drop(&self, ns: &Namespace) -> Result<(), super::import::ImportError> {
        drop_mark(ns, &self.route, &self.tenant, &self.name)
    }
}

const CHUNK: usize = 256 << 10;

/// A route from a remote SFTP server: one connection per pass, each
/// tenant's directory looked at in turn.
pub(super) struct PullSource {
    ns: Arc<Namespace>,
    st: Arc<RouteState>,
    remote: RemoteEnd,
    bx: BoxKind,
    ready_suffix: Option<String>,
    arrival: bool,
    seen: Settling<(String, String)>,
    reported: HashMap<String, String>,
    /// After a failed connection: when to try again.
    recheck: Option<Duration>,
}

impl PullSource {
    pub(super) fn start(ns: Arc<Namespace>, st: Arc<RouteState>) -> Option<PullSource> {
        let route = &st.route;
        let (
            Source::Sftp {
                remote,
                ready_suffix,
                settle,
            },
            Destination::Box { bx },
        ) = (&route.source, &route.destination)
        else {
            tracing::error!(route = %route.name, "a pulling route needs a box destination");
            return None;
        };
        Some(PullSource {
            remote: (**remote).clone(),
            bx: *bx,
            ready_suffix: ready_suffix.clone(),
            arrival: route.trigger == renkei_model::schedule::Trigger::Arrival,
            seen: Settling::new(*settle),
            reported: HashMap::new(),
            recheck: None,
            ns,
            st,
        })
    }

    /// Looks at every tenant's directory over `conn`; returns whether a
    /// file is still pending, or `None` when stopped.
    async fn tenants_pass(&mut self, conn: &Conn, stop: &CancellationToken) -> Option<bool> {
        let (ns, st, remote) = (&self.ns, &self.st, &self.remote);
        let route = &st.route;
        let mut pending = false;
        for tenant in &route.tenants {
            if stop.is_cancelled() {
                return None;
            }
            let look = Look {
                ns,
                route,
                remote,
                conn,
                tenant,
                bx: self.bx,
                ready: self.ready_suffix.as_deref(),
            };
            match look
                .tenant_pass(&mut self.seen, &mut self.reported, st)
                .await
            {
                Ok(p) => pending |= p,
                Err(e) => {
                    let dir = remote.dir_for(tenant.as_str());
                    note_problem(
                        ns,
                        st,
                        &mut self.reported,
                        Some(tenant),
                        remote,
                        &dir,
                        e.to_string(),
                    );
                }
            }
        }
        Some(pending)
    }
}

impl Pass for PullSource {
    async fn pass(&mut self, look: bool, stop: &CancellationToken) -> Option<bool> {
        if !look {
            return Some(false);
        }
        let pending = match remote::connect(&self.remote).await {
            Err(e) => {
                let (ns, st) = (&self.ns, &self.st);
                note_problem(
                    ns,
                    st,
                    &mut self.reported,
                    None,
                    &self.remote,
                    "",
                    e.to_string(),
                );
                self.recheck = Some(st.route.retry.first);
                true
            }
            Ok(conn) => {
                self.reported.remove("");
                self.tenants_pass(&conn, stop).await?
            }
        };
        Some(self.arrival || pending)
    }

    fn wake_in(&mut self) -> Option<Duration> {
        let settling = self.seen.take_recheck();
        match (self.recheck.take(), settling) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn signal(&mut self) -> Signal {
        // A remote server tells nothing: only the schedule and rescans.
        std::future::pending().await
    }

    fn kicked(&mut self) -> bool {
        self.reported.clear();
        true
    }
}

/// Records a problem once per place and message.
fn note_problem(
    ns: &Namespace,
    st: &RouteState,
    reported: &mut HashMap<String, String>,
    tenant: Option<&TenantCode>,
    remote: &RemoteEnd,
    name: &str,
    error: String,
) {
    if reported.get(name) == Some(&error) {
        return;
    }
    reported.insert(name.to_string(), error.clone());
    let shown = format!(
        "{}{name}",
        remote.label(tenant.map_or("{tenant}", |t| t.as_str()))
    );
    st.update(|s| {
        s.last_error = Some(error.clone());
        s.import_problems.retain(|(n, _)| n != &shown);
        s.import_problems.push((shown.clone(), error.clone()));
    });
    ns.events().record(Event::ImportFailed {
        route: st.route.name.clone(),
        tenant: tenant.map(ToString::to_string).unwrap_or_default(),
        source: remote.label(tenant.map_or("{tenant}", |t| t.as_str())),
        name: name.to_string(),
        error,
    });
}

/// One tenant's directory on the server, during one pass.
struct Look<'a> {
    ns: &'a Arc<Namespace>,
    route: &'a Route,
    remote: &'a RemoteEnd,
    conn: &'a Conn,
    tenant: &'a TenantCode,
    bx: BoxKind,
    ready: Option<&'a str>,
}

/// What the reading side hands the storing side.
enum Feed {
    Data(Bytes),
    /// Reading failed: keep what arrived for the next pull.
    Broken,
}

/// What the storing side did.
enum Stored {
    Done,
    /// Cut off; this many bytes are kept.
    Kept(u64),
    /// The file's size was not what was listed: this many bytes came.
    Changed(u64),
}

/// What one look at a remote file did.
enum Pulled {
    Imported,
    AlreadyImported,
    /// Not taken: the file was not what was listed (why).
    Changed(String),
}

impl Look<'_> {
    fn dir(&self) -> String {
        self.remote.dir_for(self.tenant.as_str())
    }

    /// Takes every complete file; returns whether some are still pending.
    // Long: one directory listing walked once, with the settle, ready-file
    // and problem bookkeeping of each entry kept together.
    async fn tenant_pass(
        &self,
        seen: &mut Settling<(String, String)>,
        reported: &mut HashMap<String, String>,
        st: &RouteState,
    ) -> Result<bool, remote::RemoteError> {
        let dir = self.dir();
        remote::make_dirs(self.conn, &dir).await?;
        let entries = self
            .conn
            .sftp
            .read_dir(dir.clone())
            .await
            .map_err(|e| self.conn.err(format!("cannot list {dir}: {e}")))?;
        let mut files: HashMap<String, Seen> = HashMap::new();
        for e in entries {
            let m = e.metadata();
            if m.is_regular() {
                files.insert(
                    e.file_name(),
                    Seen {
                        size: m.size.unwrap_or(0),
                        mtime_ns: i128::from(m.mtime.unwrap_or(0)) * 1_000_000_000,
                    },
                );
            }
        }
        let code = self.tenant.to_string();
        seen.retain(|(t, n)| *t != code || files.contains_key(n));
        let mut names: Vec<&String> = files.keys().collect();
        names.sort();
        let mut pending = false;
        for name in names {
            if ignored(name, self.ready) {
                continue;
            }
            if self
                .route
                .source_pattern()
                .is_some_and(|p| !p.matches(name, &code))
            {
                continue;
            }
            let now_seen = files[name].clone();
            let ready = match self.ready {
                Some(s) => files.contains_key(&format!("{name}{s}")),
                None => seen.is_complete((code.clone(), name.clone()), &now_seen),
            };
            if !ready {
                pending = true;
                continue;
            }
            let shown = format!("{dir}/{name}");
            let problem = match self.take(name, &now_seen).await {
                Ok(Pulled::Imported) => {
                    seen.forget(&(code.clone(), name.clone()));
                    reported.remove(&shown);
                    st.update(|s| {
                        s.imported += 1;
                        s.import_problems.retain(|(n, _)| !n.ends_with(&shown));
                    });
                    None
                }
                Ok(Pulled::AlreadyImported) => {
                    seen.forget(&(code.clone(), name.clone()));
                    None
                }
                Ok(Pulled::Changed(why)) => {
                    seen.forget(&(code.clone(), name.clone()));
                    pending = true;
                    Some(why)
                }
                Err(e) => Some(e),
            };
            if let Some(error) = problem {
                note_problem(
                    self.ns,
                    st,
                    reported,
                    Some(self.tenant),
                    self.remote,
                    &format!("/{name}"),
                    error,
                );
            }
        }
        Ok(pending)
    }

    async fn remote_sha256(&self, path: &str) -> Result<String, String> {
        let mut f = self
            .conn
            .sftp
            .open(path.to_string())
            .await
            .map_err(|e| format!("cannot read {path}: {e}"))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = f.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(hex::encode(h.finalize()));
            }
            h.update(&buf[..n]);
        }
    }

    async fn remove_source(&self, name: &str) -> Result<(), String> {
        let dir = self.dir();
        let mut paths = vec![format!("{dir}/{name}")];
        if let Some(s) = self.ready {
            paths.push(format!("{dir}/{name}{s}"));
        }
        for p in paths {
            if self.conn.sftp.try_exists(p.clone()).await.unwrap_or(false) {
                self.conn
                    .sftp
                    .remove_file(p.clone())
                    .await
                    .map_err(|e| format!("stored, but cannot remove {p} on the server: {e}"))?;
            }
        }
        Ok(())
    }

    /// Pulls one complete file into the box (exactly once, see the module
    /// comment), continuing what an earlier pull of the same file kept.
    // Long: the exactly-once pull in order (mark check, resume, download
    // with reader and writer side by side, commit, remove, drop the mark);
    // each step depends on the one before and reads best in one place.
    async fn take(&self, name: &str, seen: &Seen) -> Result<Pulled, String> {
        let size = seen.size;
        let path = format!("{}/{name}", self.dir());
        let mark_of = MarkOf {
            route: self.route.name.clone(),
            tenant: self.tenant.to_string(),
            name: name.to_string(),
        };
        if let Some(mark) = self
            .ns
            .import_mark(&mark_of.route, &mark_of.tenant, name)
            .map_err(|e| e.to_string())?
            && mark.size == size
            && self.remote_sha256(&path).await? == mark.sha256
        {
            self.remove_source(name).await?;
            let (ns, m) = (Arc::clone(self.ns), mark_of.clone());
            let _ = tokio::task::spawn_blocking(move || m.drop(&ns)).await;
            return Ok(Pulled::AlreadyImported);
        }
        let ns_path = NsPath::in_box(self.bx, name, self.ns.limits().max_path_depth)
            .map_err(|e| e.to_string())?;
        let code = self.tenant.to_string();
        let source = format!("{}/{name}", self.remote.label(&code).trim_end_matches('/'));
        // Bytes kept from a cut-off pull are continued only for the very
        // same file: same place, size and time.
        let origin = format!("{source} size={size} mtime={}", seen.mtime_ns);
        let (ns, who) = (
            Arc::clone(self.ns),
            route_principal(self.route, self.tenant),
        );
        let begun =
            tokio::task::spawn_blocking(move || Upload::begin_import(&ns, &who, &ns_path, &origin))
                .await
                .map_err(|e| format!("the import task failed: {e}"))?;
        let mut up = match begun {
            Ok(up) => up,
            Err(NsError::Exists { .. }) => return self.same_or_conflict(name, &path).await,
            Err(e) => return Err(e.to_string()),
        };
        let from = up.size();
        let (tx, mut rx) = mpsc::channel::<Feed>(8);
        let (route_name, bx, file_name) = (self.route.name.clone(), self.bx, name.to_string());
        // The upload (encryption, hashing) is blocking work: the async side
        // reads from the server and feeds it.
        let store = tokio::task::spawn_blocking(move || -> Result<Stored, NsError> {
            let mut offset = up.size();
            while let Some(feed) = rx.blocking_recv() {
                match feed {
                    Feed::Data(chunk) => {
                        let n = chunk.len() as u64;
                        up.write(offset, chunk)?;
                        offset += n;
                    }
                    Feed::Broken => return Ok(Stored::Kept(up.suspend())),
                }
            }
            if offset != size {
                up.abandon("the remote file changed while it was read");
                return Ok(Stored::Changed(offset));
            }
            up.commit_import(&Imported {
                route: &route_name,
                tenant: &code,
                bx,
                name: &file_name,
                source,
            })?;
            Ok(Stored::Done)
        });
        let read = async {
            let mut f = self
                .conn
                .sftp
                .open(path.clone())
                .await
                .map_err(|e| format!("cannot read {path}: {e}"))?;
            if from > 0 {
                f.seek(std::io::SeekFrom::Start(from))
                    .await
                    .map_err(|e| format!("cannot continue reading {path} at {from}: {e}"))?;
            }
            // A server that keeps sending past the listed size is not
            // believed: one byte more proves the file changed.
            let mut at = from;
            loop {
                let room = (size + 1).saturating_sub(at);
                if room == 0 {
                    return Ok::<(), String>(());
                }
                let mut buf = vec![0u8; CHUNK.min(usize::try_from(room).unwrap_or(CHUNK))];
                let n = f
                    .read(&mut buf)
                    .await
                    .map_err(|e| format!("reading {path}: {e}"))?;
                if n == 0 {
                    return Ok(());
                }
                at += n as u64;
                buf.truncate(n);
                if tx.send(Feed::Data(Bytes::from(buf))).await.is_err() {
                    return Ok(());
                }
            }
        };
        let read_result = read.await;
        if read_result.is_err() {
            let _ = tx.send(Feed::Broken).await;
        }
        drop(tx);
        let stored = store
            .await
            .map_err(|e| format!("the import task failed: {e}"))?;
        match (read_result, stored) {
            (_, Err(NsError::Exists { .. })) => return self.same_or_conflict(name, &path).await,
            (_, Err(e)) => return Err(e.to_string()),
            (Err(e), Ok(Stored::Kept(kept))) if kept > 0 => {
                return Err(format!(
                    "{e} ({kept} bytes kept; the next pull continues from there)"
                ));
            }
            (Err(e), _) => return Err(e),
            (Ok(()), Ok(Stored::Changed(got))) if got > size => {
                return Ok(Pulled::Changed(format!(
                    "the file is longer than the {size} bytes listed (reading stopped after {got}): it changed while it was read, or the server is broken; it is read again on the next pass"
                )));
            }
            (Ok(()), Ok(Stored::Changed(got))) => {
                return Ok(Pulled::Changed(format!(
                    "the file ended after {got} of the {size} bytes listed: it changed while it was read; it is read again on the next pass"
                )));
            }
            (Ok(()), Ok(Stored::Kept(_))) => {
                return Ok(Pulled::Changed(
                    "the file changed while it was read; it is read again on the next pass".into(),
                ));
            }
            (Ok(()), Ok(Stored::Done)) => {}
        }
        self.remove_source(name).await?;
        let ns = Arc::clone(self.ns);
        let _ = tokio::task::spawn_blocking(move || mark_of.drop(&ns)).await;
        Ok(Pulled::Imported)
    }

    /// The box already has a file of that name.
    async fn same_or_conflict(&self, name: &str, path: &str) -> Result<Pulled, String> {
        let who = route_principal(self.route, self.tenant);
        let ns_path = NsPath::in_box(self.bx, name, self.ns.limits().max_path_depth)
            .map_err(|e| e.to_string())?;
        let existing = self
            .ns
            .stored_sha256(&who, &ns_path)
            .map_err(|e| e.to_string())?;
        let found = self.remote_sha256(path).await?;
        if existing.as_deref() == Some(found.as_str()) {
            self.remove_source(name).await?;
            return Ok(Pulled::AlreadyImported);
        }
        Err(waiting_conflict(name, &self.route.name))
    }
}
