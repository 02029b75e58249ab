//! A route that pulls from a remote SFTP server into tenants' boxes.
//!
//! The same rules as a local source directory (`import`): a file is taken
//! when its ready file exists or its size and time held still for
//! `settle`; it is committed with an import mark, then removed from the
//! server, then the mark is dropped, so a crash in between neither loses
//! it nor takes it twice. An interrupted download starts over at the next
//! look (the server keeps the file until it is stored).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

use super::RouteState;
use super::import::{drop_mark, ignored, route_principal};
use super::worker::until;
use crate::config::routes::RemoteEnd;
use crate::config::{Destination, Route, Source, TenantCode};
use crate::events::Event;
use crate::journal::{BoxKind, EntryRecord, HandoffOp, ImportMark, Op};
use crate::namespace::{Namespace, NsError, NsPath};
use crate::remote::{self, Conn};
use crate::transfer::{OpenMode, Upload};

const CHUNK: usize = 256 << 10;

/// What is known of a remote file between looks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RemoteSeen {
    size: u64,
    mtime: u32,
}

pub(super) async fn run(ns: Arc<Namespace>, st: Arc<RouteState>, mut stop: watch::Receiver<bool>) {
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
        return;
    };
    let arrival = route.trigger == crate::schedule::Trigger::Arrival;
    let mut next_fire = route.trigger.next_after(Timestamp::now());
    let mut active = arrival;
    let mut seen: HashMap<(String, String), (RemoteSeen, Instant)> = HashMap::new();
    let mut reported: HashMap<String, String> = HashMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        st.update(|s| s.next_run = next_fire);
        let mut recheck: Option<Duration> = None;
        if active {
            st.update(|s| s.last_run = Some(Timestamp::now()));
            let mut pending = false;
            match remote::connect(remote).await {
                Err(e) => {
                    note_problem(&ns, &st, &mut reported, None, remote, "", e.to_string());
                    pending = true;
                    recheck = Some(route.retry.first);
                }
                Ok(conn) => {
                    reported.remove("");
                    for tenant in &route.tenants {
                        if *stop.borrow() {
                            return;
                        }
                        let look = Look {
                            ns: &ns,
                            route,
                            remote,
                            conn: &conn,
                            tenant,
                            bx: *bx,
                            ready: ready_suffix.as_deref(),
                        };
                        match look
                            .tenant_pass(*settle, &mut seen, &mut reported, &st)
                            .await
                        {
                            Ok((p, r)) => {
                                pending |= p;
                                if let Some(r) = r {
                                    recheck = Some(recheck.map_or(r, |x| x.min(r)));
                                }
                            }
                            Err(e) => {
                                let dir = remote.dir_for(tenant.as_str());
                                note_problem(
                                    &ns,
                                    &st,
                                    &mut reported,
                                    Some(tenant),
                                    remote,
                                    &dir,
                                    e.to_string(),
                                );
                            }
                        }
                    }
                }
            }
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
            () = st.kick.notified() => {
                reported.clear();
                active = true;
            }
            _ = stop.changed() => return,
        }
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
    ns.events.record(Event::ImportFailed {
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

/// What one look at a remote file did.
enum Pulled {
    Imported,
    AlreadyImported,
    Changed,
}

impl Look<'_> {
    fn dir(&self) -> String {
        self.remote.dir_for(self.tenant.as_str())
    }

    /// Takes every complete file; returns whether some are still pending
    /// and when to look again.
    async fn tenant_pass(
        &self,
        settle: Duration,
        seen: &mut HashMap<(String, String), (RemoteSeen, Instant)>,
        reported: &mut HashMap<String, String>,
        st: &RouteState,
    ) -> Result<(bool, Option<Duration>), remote::RemoteError> {
        let dir = self.dir();
        remote::make_dirs(self.conn, &dir).await?;
        let entries = self
            .conn
            .sftp
            .read_dir(dir.clone())
            .await
            .map_err(|e| self.conn.err(format!("cannot list {dir}: {e}")))?;
        let mut files: HashMap<String, RemoteSeen> = HashMap::new();
        for e in entries {
            let m = e.metadata();
            if m.is_regular() {
                files.insert(
                    e.file_name(),
                    RemoteSeen {
                        size: m.size.unwrap_or(0),
                        mtime: m.mtime.unwrap_or(0),
                    },
                );
            }
        }
        let code = self.tenant.to_string();
        seen.retain(|(t, n), _| *t != code || files.contains_key(n));
        let mut names: Vec<&String> = files.keys().collect();
        names.sort();
        let (mut pending, mut recheck) = (false, None::<Duration>);
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
                None => {
                    let key = (code.clone(), name.clone());
                    match seen.get(&key) {
                        Some((prev, since)) if *prev == now_seen => {
                            let waited = since.elapsed();
                            if waited < settle {
                                let r = settle - waited;
                                recheck = Some(recheck.map_or(r, |x| x.min(r)));
                            }
                            waited >= settle
                        }
                        _ => {
                            seen.insert(key, (now_seen.clone(), Instant::now()));
                            recheck = Some(recheck.map_or(settle, |x| x.min(settle)));
                            false
                        }
                    }
                }
            };
            if !ready {
                pending = true;
                continue;
            }
            let shown = format!("{dir}/{name}");
            match self.take(name, now_seen.size).await {
                Ok(Pulled::Imported) => {
                    seen.remove(&(code.clone(), name.clone()));
                    reported.remove(&shown);
                    st.update(|s| {
                        s.imported += 1;
                        s.import_problems.retain(|(n, _)| !n.ends_with(&shown));
                    });
                }
                Ok(Pulled::AlreadyImported) => {
                    seen.remove(&(code.clone(), name.clone()));
                }
                Ok(Pulled::Changed) => {
                    seen.remove(&(code.clone(), name.clone()));
                    pending = true;
                }
                Err(e) => {
                    note_problem(
                        self.ns,
                        st,
                        reported,
                        Some(self.tenant),
                        self.remote,
                        &format!("/{name}"),
                        e,
                    );
                }
            }
        }
        Ok((pending, recheck))
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
    /// comment).
    async fn take(&self, name: &str, size: u64) -> Result<Pulled, String> {
        let path = format!("{}/{name}", self.dir());
        let key = crate::journal::handoff::import_key(&self.route.name, self.tenant.as_str(), name);
        if let Some(mark) = self
            .ns
            .journal
            .import_mark(&key)
            .map_err(|e| e.to_string())?
            && mark.size == size
            && self.remote_sha256(&path).await? == mark.sha256
        {
            self.remove_source(name).await?;
            let (ns, k) = (Arc::clone(self.ns), key.clone());
            let _ = tokio::task::spawn_blocking(move || drop_mark(&ns, &k)).await;
            return Ok(Pulled::AlreadyImported);
        }
        let ns_path = NsPath::in_box(self.bx, name, self.ns.limits.max_path_depth)
            .map_err(|e| e.to_string())?;
        let who = route_principal(self.route, self.tenant);
        let (tx, mut rx) = mpsc::channel::<Bytes>(8);
        let (ns, route_name, code, bx) = (
            Arc::clone(self.ns),
            self.route.name.clone(),
            self.tenant.to_string(),
            self.bx,
        );
        let (source, mark_key, file_name) =
            (self.remote.label(&code), key.clone(), name.to_string());
        let source = format!("{}/{file_name}", source.trim_end_matches('/'));
        // The upload (encryption, hashing) is blocking work: the async side
        // reads from the server and feeds it.
        let store = tokio::task::spawn_blocking(
            move || -> Result<Option<crate::journal::ObjectRecord>, NsError> {
                let mut up = Upload::begin(&ns, &who, &ns_path, OpenMode::Exclusive)?;
                let mut offset = 0u64;
                while let Some(chunk) = rx.blocking_recv() {
                    let n = chunk.len() as u64;
                    up.write(offset, chunk)?;
                    offset += n;
                }
                if offset != size {
                    up.abandon("the remote file changed while it was read");
                    return Ok(None);
                }
                let object = up.commit_with(
                    |o| {
                        vec![Op::Handoff(HandoffOp::PutImport {
                            key: mark_key,
                            mark: ImportMark {
                                route: route_name.clone(),
                                tenant: code.clone(),
                                name: file_name,
                                size: o.size,
                                sha256: o.sha256.clone(),
                                object: o.id.clone(),
                                at: Timestamp::now(),
                            },
                        })]
                    },
                    {
                        let (route_name, code) = (route_name.clone(), code.clone());
                        move |o| Event::FileImported {
                            route: route_name,
                            tenant: code,
                            box_name: bx.to_string(),
                            path: o.path.clone(),
                            object: o.id.clone(),
                            size: o.size,
                            sha256: o.sha256.clone(),
                            source,
                        }
                    },
                )?;
                Ok(Some(object))
            },
        );
        let read = async {
            let mut f = self
                .conn
                .sftp
                .open(path.clone())
                .await
                .map_err(|e| format!("cannot read {path}: {e}"))?;
            loop {
                let mut buf = vec![0u8; CHUNK];
                let n = f
                    .read(&mut buf)
                    .await
                    .map_err(|e| format!("reading {path}: {e}"))?;
                if n == 0 {
                    return Ok::<(), String>(());
                }
                buf.truncate(n);
                if tx.send(Bytes::from(buf)).await.is_err() {
                    return Ok(());
                }
            }
        };
        let read_result = read.await;
        drop(tx);
        let stored = store
            .await
            .map_err(|e| format!("the import task failed: {e}"))?;
        let object = match (read_result, stored) {
            (_, Err(NsError::Exists { .. })) => return self.same_or_conflict(name, &path).await,
            (_, Err(e)) => return Err(e.to_string()),
            (Err(e), _) => return Err(e),
            (Ok(()), Ok(None)) => return Ok(Pulled::Changed),
            (Ok(()), Ok(Some(o))) => o,
        };
        let _ = object;
        self.remove_source(name).await?;
        let (ns, k) = (Arc::clone(self.ns), key);
        let _ = tokio::task::spawn_blocking(move || drop_mark(&ns, &k)).await;
        Ok(Pulled::Imported)
    }

    /// The box already has a file of that name.
    async fn same_or_conflict(&self, name: &str, path: &str) -> Result<Pulled, String> {
        let who = route_principal(self.route, self.tenant);
        let ns_path = NsPath::in_box(self.bx, name, self.ns.limits.max_path_depth)
            .map_err(|e| e.to_string())?;
        let existing = match crate::namespace::keys_of(&who, &ns_path) {
            Some(k) => match self.ns.journal.entry(&k.entry).map_err(|e| e.to_string())? {
                Some(EntryRecord::File { object }) => {
                    self.ns.journal.object(&object).map_err(|e| e.to_string())?
                }
                _ => None,
            },
            None => None,
        };
        let found = self.remote_sha256(path).await?;
        match existing {
            Some(o) if o.sha256 == found => {
                self.remove_source(name).await?;
                Ok(Pulled::AlreadyImported)
            }
            _ => Err(format!(
                "a file {name} with other contents is still waiting in the box; route {} takes the new one once the old one is received",
                self.route.name
            )),
        }
    }
}
