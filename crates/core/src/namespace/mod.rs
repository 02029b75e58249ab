//! A tenant's virtual namespace: `/inbox` and `/outbox`, held in the
//! journal.
//!
//! Every operation takes a [`Principal`] and works only under that
//! principal's tenant: journal keys are built from the principal's tenant
//! code, never from anything the client typed, so no path names another
//! tenant's data (isolation by construction). Each operation is checked by
//! [`crate::policy`] first and refused unless allowed, and every change and
//! every refusal is recorded as an event.
//!
//! Uploads and downloads are in [`crate::transfer`]; this module decides
//! what they may do and where, and owns the shared state they need.

mod access;
pub mod checking;
pub mod error;
mod handoffs;
mod inventory;
mod lane_receipts;
pub mod lane_report;
pub mod lanes;
mod logins;
pub mod names;
pub mod notes;
mod ops;
pub mod path;
pub mod receipts;
pub mod upkeep;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::events::{Actor, Event, Events};
use crate::live::Live;
use renkei_config::{Limits, TenantCode};
use renkei_storage::journal::{ApplyError, Journal, ObjectRecord, Op, OpResult, Outcome};
use renkei_storage::vault::Vault;

pub(crate) use access::sees;
pub use error::NsError;
pub use inventory::InventoryItem;
pub(crate) use ops::keys as keys_of;
pub use ops::{EntryInfo, EntryKind};
pub use path::{BoxKind, NsPath, PathError, View};

/// Arrivals a route may fall behind before it must rescan the boxes
/// instead (a ring shared by all routes: at most this many small records).
pub const ARRIVALS_BACKLOG: usize = 1024;

/// A file just committed to a box: what a route on arrival is told.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub tenant: String,
    pub bx: BoxKind,
    /// The object id of the committed version.
    pub object: String,
    /// Its path inside the box.
    pub path: String,
}

/// Whose files a principal acts on: a municipality's boxes, or a
/// separated network's lanes (decision 0011). Every journal key is built
/// from it, never from what a client typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Tenant(TenantCode),
    Segment(String),
}

/// Who is acting, for which tenant or segment, from where. Only the core
/// makes one (`#[non_exhaustive]`): a door gets it from a login the kit
/// accepted (`door::login::find`), a route and the operator's socket
/// from the constructors below.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Principal {
    pub scope: Scope,
    pub user: String,
    pub role: crate::policy::Role,
    pub source: Option<IpAddr>,
    pub conn: Option<u64>,
    /// The front door it came through (the operator's socket counts as
    /// SFTP for rules, which do not apply to it).
    pub protocol: crate::policy::Protocol,
}

impl Principal {
    /// The operator acting through the control socket.
    pub fn operator(tenant: TenantCode) -> Principal {
        Principal {
            scope: Scope::Tenant(tenant),
            user: "ctl".to_string(),
            role: crate::policy::Role::Operator,
            source: None,
            conn: None,
            protocol: crate::policy::Protocol::Sftp,
        }
    }

    /// A route acting for `tenant` (it imports into, and hands on from,
    /// that municipality's boxes).
    pub fn route(route: &str, tenant: TenantCode) -> Principal {
        Principal {
            scope: Scope::Tenant(tenant),
            user: format!("route:{route}"),
            role: crate::policy::Role::Operator,
            source: None,
            conn: None,
            protocol: crate::policy::Protocol::Sftp,
        }
    }

    /// The municipality it acts for; `None` for a segment's account.
    pub fn tenant(&self) -> Option<&TenantCode> {
        match &self.scope {
            Scope::Tenant(t) => Some(t),
            Scope::Segment(_) => None,
        }
    }

    /// The segment it acts for; `None` for a municipality's account.
    pub fn segment(&self) -> Option<&str> {
        match &self.scope {
            Scope::Tenant(_) => None,
            Scope::Segment(s) => Some(s),
        }
    }

    /// The owner of the keys it may touch, as stored in object records:
    /// the tenant code, or `segment:<name>`.
    pub fn owner(&self) -> String {
        match &self.scope {
            Scope::Tenant(t) => t.to_string(),
            Scope::Segment(s) => format!("segment:{s}"),
        }
    }

    pub fn actor(&self) -> Actor {
        let (tenant, segment) = match &self.scope {
            Scope::Tenant(t) => (Some(t.to_string()), None),
            Scope::Segment(s) => (None, Some(s.clone())),
        };
        Actor {
            tenant,
            segment,
            user: self.user.clone(),
            source: self.source,
            conn: self.conn,
            protocol: match self.role {
                crate::policy::Role::Operator if self.source.is_none() => None,
                _ => Some(self.protocol),
            },
        }
    }
}

/// Shared state of the namespace service: storage, limits, the event sink
/// and the set of uploads in progress.
pub struct Namespace {
    pub(crate) journal: Journal,
    /// Configuration and rules in force (policy decisions).
    pub(crate) live: Arc<Live>,
    pub(crate) vault: Arc<Vault>,
    pub(crate) limits: Limits,
    /// What clients make the daemon hold, per session, account and daemon.
    pub(crate) memory: Arc<crate::memory::Memory>,
    pub(crate) events: Arc<Events>,
    /// When the service started (Unix seconds): the time shown for `/` and
    /// the boxes.
    pub(crate) started: i64,
    /// Partial keys (tenant, box, path, account) with an upload in
    /// progress, and the bytes each has received.
    active: Mutex<HashMap<String, Arc<AtomicU64>>>,
    /// Every committed file, for the routes that hand files on arrival.
    arrivals: tokio::sync::broadcast::Sender<Arrival>,
    /// Files committed as `checking`, for the checks stage.
    pub(crate) checking: checking::Queue,
    /// The bans every decision for a client is checked against, so a ban
    /// reaches sessions that are already open (set by the daemon before
    /// any door opens: [`Namespace::check_bans_with`]).
    bans: std::sync::OnceLock<Arc<crate::defender::Defender>>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace").finish_non_exhaustive()
    }
}

/// Holds an upload's key in the active set, with the bytes it has
/// received so far (what its uploader's `stat` shows); released on drop.
pub struct ActiveGuard {
    ns: Arc<Namespace>,
    key: String,
    size: Arc<AtomicU64>,
}

impl ActiveGuard {
    /// Publishes the upload's contiguous size.
    pub fn set_size(&self, size: u64) {
        self.size.store(size, Ordering::Relaxed);
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if let Ok(mut map) = self.ns.active.lock() {
            map.remove(&self.key);
        }
    }
}

/// Why a data directory's journal or vault could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Journal(#[from] renkei_storage::journal::JournalError),
    #[error(transparent)]
    Vault(#[from] renkei_storage::vault::VaultError),
}

impl Namespace {
    /// Opens the journal at `journal` and the vault (its identity at
    /// `vault_key`, its segments under `vault_dir`), and serves the
    /// namespace from them: for callers above the core, which never hold
    /// a journal or a vault themselves.
    pub fn open(
        journal: &std::path::Path,
        vault_key: &std::path::Path,
        vault_dir: &std::path::Path,
        live: Arc<Live>,
        events: Arc<Events>,
    ) -> Result<Arc<Namespace>, OpenError> {
        let vault = Arc::new(Vault::open(vault_key, vault_dir)?);
        let journal = Journal::open(journal)?;
        Ok(Namespace::new(journal, vault, live, events))
    }

    pub fn new(
        journal: Journal,
        vault: Arc<Vault>,
        live: Arc<Live>,
        events: Arc<Events>,
    ) -> Arc<Namespace> {
        let limits = live.get().config.limits.clone();
        Arc::new(Namespace {
            journal,
            live,
            vault,
            memory: crate::memory::Memory::new(&limits),
            limits,
            events,
            started: jiff::Timestamp::now().as_second(),
            active: Mutex::new(HashMap::new()),
            arrivals: tokio::sync::broadcast::Sender::new(ARRIVALS_BACKLOG),
            checking: checking::Queue::default(),
            bans: std::sync::OnceLock::new(),
        })
    }

    /// Checks every later decision for a client against `defender`'s
    /// bans. Set once, before any door opens.
    pub fn check_bans_with(&self, defender: Arc<crate::defender::Defender>) {
        let _ = self.bans.set(defender);
    }

    /// The ban in force for `ip`, if any.
    pub(crate) fn ban_of(
        &self,
        ip: std::net::IpAddr,
    ) -> Option<renkei_storage::journal::BanRecord> {
        self.bans.get()?.banned(ip)
    }

    /// Claims `key` for one upload at a time.
    pub fn claim(self: &Arc<Self>, key: &str) -> Option<ActiveGuard> {
        let mut map = self.active.lock().ok()?;
        if map.contains_key(key) {
            return None;
        }
        let size = Arc::new(AtomicU64::new(0));
        map.insert(key.to_string(), Arc::clone(&size));
        Some(ActiveGuard {
            ns: Arc::clone(self),
            key: key.to_string(),
            size,
        })
    }

    /// Names of the routes that take files from `bx`.
    pub fn routes_from(&self, bx: BoxKind) -> Vec<String> {
        self.live
            .get()
            .config
            .routes
            .iter()
            .filter(|r| matches!(r.source, renkei_config::Source::Box { bx: b } if b == bx))
            .map(|r| r.name.clone())
            .collect()
    }

    pub fn is_active(&self, key: &str) -> bool {
        self.active
            .lock()
            .map(|m| m.contains_key(key))
            .unwrap_or(true)
    }

    /// Bytes received so far by the upload in progress under `key`.
    pub fn active_size(&self, key: &str) -> Option<u64> {
        let map = self.active.lock().ok()?;
        map.get(key).map(|s| s.load(Ordering::Relaxed))
    }

    /// Parses a client path with this namespace's limits.
    pub fn parse(&self, raw: &[u8]) -> Result<NsPath, PathError> {
        NsPath::parse(raw, self.limits.max_path_depth)
    }

    /// Records a refusal and returns it as an error.
    pub fn refuse(&self, who: &Principal, op: &str, path: &str, err: NsError) -> NsError {
        self.refuse_by(who, op, path, err, None)
    }

    /// Records a refusal made by a policy rule and returns it as an error.
    pub fn refuse_by(
        &self,
        who: &Principal,
        op: &str,
        path: &str,
        err: NsError,
        rule: Option<String>,
    ) -> NsError {
        self.events.record(Event::OperationRefused {
            actor: who.actor(),
            op: op.to_string(),
            path: path.to_string(),
            reason: err.to_string(),
            rule,
        });
        err
    }

    /// Where the namespace's changes and refusals are recorded.
    /// Whether the journal's writer answers a round trip within `within`
    /// (it writes nothing): what the systemd watchdog is fed on.
    pub async fn journal_answers(&self, within: std::time::Duration) -> bool {
        matches!(
            tokio::time::timeout(within, self.journal.notes_delivered()).await,
            Ok(Ok(()))
        )
    }

    pub fn events(&self) -> &Arc<Events> {
        &self.events
    }

    /// The limits in force (fixed at start; a reload does not change them).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The configuration and rules in force.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// What clients make the daemon hold, per session, account and daemon.
    pub fn memory(&self) -> &Arc<crate::memory::Memory> {
        &self.memory
    }

    /// When the service started (Unix seconds): the time shown for `/`
    /// and the boxes.
    pub fn started(&self) -> i64 {
        self.started
    }

    /// Applies one operation together with the audit record of what it
    /// did (`build` makes it from the outcome; `None` records nothing):
    /// both are committed in one journal transaction, so neither exists
    /// without the other, and the record reaches the trail once the change
    /// is durable (see `Events::note`).
    pub(crate) async fn apply_recorded<F>(&self, op: Op, build: F) -> Result<Outcome, ApplyError>
    where
        F: FnOnce(&Outcome) -> Option<Event> + Clone + Send + 'static,
    {
        let note = self.events.note(move |r| first_done(r).and_then(build));
        self.journal.apply_one_noted(op, note).await
    }

    /// [`Namespace::apply_recorded`] for blocking threads.
    pub(crate) fn apply_recorded_blocking<F>(&self, op: Op, build: F) -> Result<Outcome, ApplyError>
    where
        F: FnOnce(&Outcome) -> Option<Event> + Clone + Send + 'static,
    {
        let note = self.events.note(move |r| first_done(r).and_then(build));
        self.journal.apply_one_noted_blocking(op, note)
    }

    /// [`Namespace::apply_recorded_blocking`] for several operations in one
    /// transaction; the result is the first one's, and `build` sees it.
    pub(crate) fn apply_all_recorded_blocking<F>(
        &self,
        ops: Vec<Op>,
        build: F,
    ) -> Result<Outcome, ApplyError>
    where
        F: FnOnce(&Outcome) -> Option<Event> + Clone + Send + 'static,
    {
        let note = self.events.note(move |r| first_done(r).and_then(build));
        let mut results = self.journal.apply_noted_blocking(ops, note)?;
        if results.is_empty() {
            return Err(ApplyError::Journal(
                renkei_storage::journal::JournalError::WriterGone,
            ));
        }
        Ok(results.swap_remove(0)?)
    }

    /// Tells routes which file was committed.
    pub fn arrived(&self, object: &ObjectRecord) {
        // No route listening is not an error.
        let _ = self.arrivals.send(Arrival {
            tenant: object.tenant.clone(),
            bx: object.bx,
            object: object.id.clone(),
            path: object.path.clone(),
        });
    }

    /// The files committed from now on. A receiver that falls more than
    /// [`ARRIVALS_BACKLOG`] behind is told it lagged and must look at the
    /// boxes itself.
    pub fn arrivals(&self) -> tokio::sync::broadcast::Receiver<Arrival> {
        self.arrivals.subscribe()
    }

    /// Deletes blobs that a commit made garbage.
    pub fn discard(&self, garbage: &[renkei_storage::journal::SegmentRef]) {
        self.vault.remove_all(garbage);
    }
}

/// The outcome of the first operation of a group, if it was done.
fn first_done(results: &[OpResult]) -> Option<&Outcome> {
    results.first().and_then(|r| r.as_ref().ok())
}
