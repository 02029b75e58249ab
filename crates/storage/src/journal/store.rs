//! The seam between the journal and whoever stores it. The core holds a
//! [`Journal`]: a handle over any [`JournalStore`], which takes durable
//! transactions of [`Op`]s (each with an optional audit [`Note`]) and
//! answers reads of what they stored. [`RedbJournal`] is today's store;
//! a clustered one (a PostgreSQL journal) implements the same trait and
//! nothing above storage changes. An [`Engine`] provides the writer and
//! snapshots; the reads themselves are written once (`reads`).
//!
//! The operations are data, not code: a store applies each `Op` with the
//! preconditions it states (see `ops`), all of one transaction or none.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::reads::{self, Snapshot};
use super::{
    ApplyError, BanRecord, DeliveryRecord, EntryRecord, ImportMark, JournalError, Note,
    ObjectRecord, Op, OpResult, Outcome, PartialRecord, RedbJournal, StoreError,
};

/// The results of a submitted transaction, once it is durable.
pub type Committed = oneshot::Receiver<Result<Vec<OpResult>, JournalError>>;

/// A journal back end.
pub trait JournalStore: Send + Sync {
    /// Queues `ops` (with `note`, committed in the same transaction) to be
    /// applied durably, in order, possibly together with other waiting
    /// transactions. Each operation gets its own result.
    fn submit(&self, ops: Vec<Op>, note: Option<Note>) -> Result<Committed, JournalError>;

    /// A fact kept with [`Op::PutMeta`].
    fn meta(&self, key: &str) -> Result<Option<String>, JournalError>;
    fn entry(&self, key: &str) -> Result<Option<EntryRecord>, JournalError>;
    /// Entries directly inside a directory (by its prefix), name order.
    fn list(&self, prefix: &str) -> Result<Vec<(String, EntryRecord)>, JournalError>;
    /// [`JournalStore::list`] with the objects of its files, from one
    /// snapshot.
    #[allow(clippy::type_complexity)]
    fn list_resolved(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, EntryRecord, Option<ObjectRecord>)>, JournalError>;
    fn object(&self, id: &str) -> Result<Option<ObjectRecord>, JournalError>;
    /// Every object record (start-up checks and reports).
    fn objects(&self) -> Result<Vec<ObjectRecord>, JournalError>;
    fn partial(&self, key: &str) -> Result<Option<super::PartialRecord>, JournalError>;
    /// Partials whose key starts with `prefix` (`""` for all).
    fn partials(&self, prefix: &str) -> Result<Vec<(String, PartialRecord)>, JournalError>;
    /// Every ban record (active or expired).
    fn bans(&self) -> Result<Vec<BanRecord>, JournalError>;
    /// Every entry of a tenant, files and directories, in key order.
    fn tenant_entries(&self, tenant: &str) -> Result<Vec<(String, EntryRecord)>, JournalError>;
    fn delivery(&self, route: &str, object: &str) -> Result<Option<DeliveryRecord>, JournalError>;
    /// Every delivery record of a route (`""` for all routes).
    fn deliveries(&self, route: &str) -> Result<Vec<DeliveryRecord>, JournalError>;
    /// Every delivery record of `tenant`'s files (all routes).
    fn deliveries_of(&self, tenant: &str) -> Result<Vec<DeliveryRecord>, JournalError>;
    fn import_mark(&self, key: &str) -> Result<Option<ImportMark>, JournalError>;
    /// Whether any of `routes` has a delivery record of `object`.
    fn has_deliveries(&self, routes: &[String], object: &str) -> Result<bool, JournalError>;
    /// The audit notes not yet dropped, in sequence order.
    fn notes(&self) -> Result<Vec<(u64, String)>, JournalError>;
    /// The sequence number of the newest note not yet dropped.
    fn last_note(&self) -> Result<Option<u64>, JournalError>;
    /// How many commits ended without the engine knowing whether they
    /// took effect (a connection lost during COMMIT). Their notes may be
    /// in the journal without having been delivered, so whoever drops
    /// notes must settle them against the trail instead (`notes::clear`).
    fn commits_in_doubt(&self) -> u64;
}

/// The journal the core holds: cheap to clone, reads through to its
/// store (`journal.entry(…)`), and applies transactions.
#[derive(Clone)]
pub struct Journal {
    store: Arc<dyn JournalStore>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

impl std::ops::Deref for Journal {
    type Target = dyn JournalStore;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

fn received(
    r: Result<Result<Vec<OpResult>, JournalError>, oneshot::error::RecvError>,
) -> Result<Vec<OpResult>, JournalError> {
    r.map_err(|_| JournalError::WriterGone)?
}

fn single(results: Result<Vec<OpResult>, JournalError>) -> Result<Outcome, ApplyError> {
    results?
        .pop()
        .ok_or(JournalError::WriterGone)?
        .map_err(ApplyError::Op)
}

impl Journal {
    /// Opens (creating if needed) the redb journal at `path`.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        Ok(Journal::with_store(Arc::new(RedbJournal::open(path)?)))
    }

    /// A journal over any store.
    pub fn with_store(store: Arc<dyn JournalStore>) -> Journal {
        Journal { store }
    }

    /// Applies operations durably (in order, in one transaction with
    /// whatever else is waiting). Each gets its own result.
    pub async fn apply(&self, ops: Vec<Op>) -> Result<Vec<OpResult>, JournalError> {
        received(self.store.submit(ops, None)?.await)
    }

    /// [`Journal::apply`] for code running on a blocking thread.
    pub fn apply_blocking(&self, ops: Vec<Op>) -> Result<Vec<OpResult>, JournalError> {
        received(self.store.submit(ops, None)?.blocking_recv())
    }

    /// [`Journal::apply`] with a [`Note`] committed in the same transaction.
    pub async fn apply_noted(
        &self,
        ops: Vec<Op>,
        note: Note,
    ) -> Result<Vec<OpResult>, JournalError> {
        received(self.store.submit(ops, Some(note))?.await)
    }

    /// [`Journal::apply_noted`] for code running on a blocking thread.
    pub fn apply_noted_blocking(
        &self,
        ops: Vec<Op>,
        note: Note,
    ) -> Result<Vec<OpResult>, JournalError> {
        received(self.store.submit(ops, Some(note))?.blocking_recv())
    }

    /// One operation, blocking.
    pub fn apply_one_blocking(&self, op: Op) -> Result<Outcome, ApplyError> {
        single(self.apply_blocking(vec![op]))
    }

    /// One operation.
    pub async fn apply_one(&self, op: Op) -> Result<Outcome, ApplyError> {
        single(self.apply(vec![op]).await)
    }

    /// One operation with its note.
    pub async fn apply_one_noted(&self, op: Op, note: Note) -> Result<Outcome, ApplyError> {
        single(self.apply_noted(vec![op], note).await)
    }

    /// One operation with its note, blocking.
    pub fn apply_one_noted_blocking(&self, op: Op, note: Note) -> Result<Outcome, ApplyError> {
        single(self.apply_noted_blocking(vec![op], note))
    }

    /// Returns once every note committed before the call has been
    /// delivered: a store delivers a transaction's notes before it starts
    /// on the next, and this waits for a transaction of its own.
    pub async fn notes_delivered(&self) -> Result<(), JournalError> {
        self.apply(Vec::new()).await.map(|_| ())
    }
}

/// What an engine provides: transactions submitted to its writer, and
/// consistent snapshots to read from. Every [`JournalStore`] read is
/// answered from a snapshot by `reads`, the same way on every engine.
pub trait Engine: Send + Sync {
    fn submit(&self, ops: Vec<Op>, note: Option<Note>) -> Result<Committed, JournalError>;
    /// Runs `f` over a snapshot (on a thread of the engine's choosing).
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Snapshot) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, JournalError>;
    /// See [`JournalStore::commits_in_doubt`]; an engine whose failed
    /// commit is certain to have changed nothing answers 0.
    fn commits_in_doubt(&self) -> u64 {
        0
    }
}

impl<E: Engine> JournalStore for E {
    fn submit(&self, ops: Vec<Op>, note: Option<Note>) -> Result<Committed, JournalError> {
        Engine::submit(self, ops, note)
    }
    fn meta(&self, key: &str) -> Result<Option<String>, JournalError> {
        let key = key.to_string();
        self.read(move |s| reads::meta(s, &key))
    }
    fn entry(&self, key: &str) -> Result<Option<EntryRecord>, JournalError> {
        let key = key.to_string();
        self.read(move |s| reads::entry(s, &key))
    }
    fn list(&self, prefix: &str) -> Result<Vec<(String, EntryRecord)>, JournalError> {
        let prefix = prefix.to_string();
        self.read(move |s| reads::list(s, &prefix))
    }
    fn list_resolved(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, EntryRecord, Option<ObjectRecord>)>, JournalError> {
        let prefix = prefix.to_string();
        self.read(move |s| reads::list_resolved(s, &prefix))
    }
    fn object(&self, id: &str) -> Result<Option<ObjectRecord>, JournalError> {
        let id = id.to_string();
        self.read(move |s| reads::object(s, &id))
    }
    fn objects(&self) -> Result<Vec<ObjectRecord>, JournalError> {
        self.read(reads::objects)
    }
    fn partial(&self, key: &str) -> Result<Option<PartialRecord>, JournalError> {
        let key = key.to_string();
        self.read(move |s| reads::partial(s, &key))
    }
    fn partials(&self, prefix: &str) -> Result<Vec<(String, PartialRecord)>, JournalError> {
        let prefix = prefix.to_string();
        self.read(move |s| reads::partials(s, &prefix))
    }
    fn bans(&self) -> Result<Vec<BanRecord>, JournalError> {
        self.read(reads::bans)
    }
    fn tenant_entries(&self, tenant: &str) -> Result<Vec<(String, EntryRecord)>, JournalError> {
        let tenant = tenant.to_string();
        self.read(move |s| reads::tenant_entries(s, &tenant))
    }
    fn delivery(&self, route: &str, object: &str) -> Result<Option<DeliveryRecord>, JournalError> {
        let (route, object) = (route.to_string(), object.to_string());
        self.read(move |s| reads::delivery(s, &route, &object))
    }
    fn deliveries(&self, route: &str) -> Result<Vec<DeliveryRecord>, JournalError> {
        let route = route.to_string();
        self.read(move |s| reads::deliveries(s, &route))
    }
    fn deliveries_of(&self, tenant: &str) -> Result<Vec<DeliveryRecord>, JournalError> {
        let tenant = tenant.to_string();
        self.read(move |s| reads::deliveries_of(s, &tenant))
    }
    fn import_mark(&self, key: &str) -> Result<Option<ImportMark>, JournalError> {
        let key = key.to_string();
        self.read(move |s| reads::import_mark(s, &key))
    }
    fn has_deliveries(&self, routes: &[String], object: &str) -> Result<bool, JournalError> {
        let (routes, object) = (routes.to_vec(), object.to_string());
        self.read(move |s| reads::has_deliveries(s, &routes, &object))
    }
    fn notes(&self) -> Result<Vec<(u64, String)>, JournalError> {
        self.read(|s| s.notes())
    }
    fn last_note(&self) -> Result<Option<u64>, JournalError> {
        self.read(|s| s.last_note())
    }
    fn commits_in_doubt(&self) -> u64 {
        Engine::commits_in_doubt(self)
    }
}

impl Engine for RedbJournal {
    fn submit(&self, ops: Vec<Op>, note: Option<Note>) -> Result<Committed, JournalError> {
        super::writer::submit(self.writer(), ops, note)
    }

    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Snapshot) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let mut snapshot = self.snapshot()?;
        Ok(f(&mut snapshot)?)
    }
}
