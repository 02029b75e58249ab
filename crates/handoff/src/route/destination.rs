//! Where a box route hands its files: one [`Destination`] per kind (a
//! local spool directory, a remote SFTP server), each running the shared
//! placement protocol of `crate::place`. The box route's worker asks a
//! destination to place one file and, once the journal says `delivered`,
//! to forget the receipt; what it does with a refusal (retry, give up) is
//! the same whatever the destination.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::ledger;
use super::spool;
use super::state::RouteState;
use super::steps::StepError;
use crate::place::{Placed, Placement};
use crate::remote::{self, Conn};
use renkei_config::routes::RemoteEnd;
use renkei_config::{Destination as Configured, Route};
use renkei_core::namespace::Namespace;
use renkei_core::records::ObjectRecord;

/// What one attempt to place a file came to.
pub(super) enum Attempt {
    /// In place (written now, or found there from an earlier attempt).
    Placed(Placed),
    /// Not an attempt: a step on this directory is still stuck; try again
    /// after this long.
    Busy(Duration),
    /// The attempt failed; `permanent` when trying again cannot help.
    Failed { text: String, permanent: bool },
    /// The hand-off task itself failed: the item stays queued.
    Broken(String),
}

/// One kind of destination.
pub(super) trait Destination {
    /// Places `object` under `name` for `tenant` (idempotent: the same
    /// name with the same SHA-256 already there counts as placed).
    async fn place(
        &mut self,
        tenant: &str,
        object: ObjectRecord,
        name: String,
        tag: String,
    ) -> Attempt;

    /// After `delivered` is committed: removes the last placement's
    /// receipt (a failure leaves only a hidden file, logged).
    async fn forget(&mut self);

    /// The pass is over: connections are not kept while the route idles.
    fn end_pass(&mut self);
}

/// A local spool directory per tenant.
pub(super) struct Spool {
    ns: Arc<Namespace>,
    st: Arc<RouteState>,
    path: String,
    trigger_suffix: Option<String>,
    last: Option<Placement>,
}

impl Spool {
    /// The spool of `st`'s route, with the working files a crash left
    /// removed; `None` if the route does not hand on to a directory.
    pub(super) fn start(ns: &Arc<Namespace>, st: &Arc<RouteState>) -> Option<Spool> {
        let Configured::Dir {
            path,
            trigger_suffix,
        } = &st.route.destination
        else {
            return None;
        };
        sweep_local(ns, &st.route, path);
        Some(Spool {
            ns: Arc::clone(ns),
            st: Arc::clone(st),
            path: path.clone(),
            trigger_suffix: trigger_suffix.clone(),
            last: None,
        })
    }
}

impl Destination for Spool {
    async fn place(
        &mut self,
        tenant: &str,
        object: ObjectRecord,
        name: String,
        tag: String,
    ) -> Attempt {
        let dir = Route::dir_for(&self.path, tenant);
        let target = Placement {
            dir: dir.display().to_string(),
            name,
            trigger_suffix: self.trigger_suffix.clone(),
            tag,
        };
        let ns = Arc::clone(&self.ns);
        let limit = self.ns.limits().fs_timeout;
        let step = self.st.stuck.run(&dir, limit, move || {
            let res = spool::deliver(&ns, &object, &target);
            (res, target)
        });
        match step.await {
            Ok((Ok(placed), target)) => {
                self.last = Some(target);
                Attempt::Placed(placed)
            }
            Ok((Err(e), _)) => Attempt::Failed {
                text: e.to_string(),
                permanent: e.is_permanent(),
            },
            Err(e @ StepError::Busy { .. }) => {
                self.st.update(|s| s.last_error = Some(e.to_string()));
                Attempt::Busy(limit.min(Duration::from_secs(5)))
            }
            Err(e @ StepError::TimedOut { .. }) => Attempt::Failed {
                text: e.to_string(),
                permanent: false,
            },
            Err(e) => Attempt::Broken(format!("the hand-off task failed: {e}")),
        }
    }

    async fn forget(&mut self) {
        if let Some(t) = self.last.take() {
            spool::forget(&t);
        }
    }

    fn end_pass(&mut self) {}
}

/// Removes working files a crash left in the route's spool directories.
fn sweep_local(ns: &Namespace, route: &Route, path: &str) {
    for t in &route.tenants {
        let dir: PathBuf = Route::dir_for(path, t.as_str());
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

/// A directory per tenant on a remote SFTP server.
pub(super) struct Remote {
    ns: Arc<Namespace>,
    route: Route,
    end: RemoteEnd,
    trigger_suffix: Option<String>,
    /// The pass's connection, opened at its first placement.
    conn: Option<Conn>,
    /// Whether stale working files were looked for since start.
    swept: bool,
    last: Option<Placement>,
}

impl Remote {
    /// The remote destination of `st`'s route; `None` if the route does
    /// not hand on to a server.
    pub(super) fn start(ns: &Arc<Namespace>, st: &Arc<RouteState>) -> Option<Remote> {
        let Configured::Sftp {
            remote,
            trigger_suffix,
        } = &st.route.destination
        else {
            return None;
        };
        Some(Remote {
            ns: Arc::clone(ns),
            route: st.route.clone(),
            end: (**remote).clone(),
            trigger_suffix: trigger_suffix.clone(),
            conn: None,
            swept: false,
            last: None,
        })
    }

    /// The pass's connection, opened (and, the first time since start,
    /// swept of stale working files) if needed.
    async fn conn(&mut self) -> Result<&Conn, remote::RemoteError> {
        if self.conn.is_none() {
            let c = remote::connect(&self.end).await?;
            if !self.swept {
                sweep_remote(&self.ns, &self.route, &self.end, &c).await;
                self.swept = true;
            }
            self.conn = Some(c);
        }
        self.conn
            .as_ref()
            .ok_or_else(|| remote::RemoteError::Connect {
                addr: self.end.addr.clone(),
                message: "no connection".into(),
            })
    }
}

impl Destination for Remote {
    async fn place(
        &mut self,
        tenant: &str,
        object: ObjectRecord,
        name: String,
        tag: String,
    ) -> Attempt {
        let target = Placement {
            dir: self.end.dir_for(tenant),
            name,
            trigger_suffix: self.trigger_suffix.clone(),
            tag,
        };
        let ns = Arc::clone(&self.ns);
        let pushed = match self.conn().await {
            Ok(c) => remote::push(c, &ns, &object, &target).await,
            Err(e) => Err(e),
        };
        match pushed {
            Ok(placed) => {
                self.last = Some(target);
                Attempt::Placed(placed)
            }
            Err(e) => {
                self.conn = None;
                Attempt::Failed {
                    text: e.to_string(),
                    permanent: e.is_permanent(),
                }
            }
        }
    }

    async fn forget(&mut self) {
        if let (Some(t), Some(c)) = (self.last.take(), self.conn.as_ref()) {
            remote::forget(c, &t).await;
        }
    }

    fn end_pass(&mut self) {
        self.conn = None;
    }
}

/// Removes working files a crash left on the remote server.
async fn sweep_remote(ns: &Namespace, route: &Route, end: &RemoteEnd, conn: &Conn) {
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
