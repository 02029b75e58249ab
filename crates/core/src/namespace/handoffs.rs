//! What the hand-off may read and change of the core's records: the
//! delivery records of its routes, import marks, the schedule memory of a
//! route, the stored objects it hands on and their plaintext.
//!
//! Routes live above the core (`renkei-handoff`) and must not reach into
//! the journal or the vault themselves: this is the one door they use, so
//! a different storage back end changes nothing above the core. Changes
//! that an auditor must see go through [`Namespace::apply_recorded`] with
//! their audit record; the ones here are bookkeeping (queueing, marks,
//! schedule memory) that carries no audit record of its own.

use renkei_storage::journal::{
    ApplyError, DeliveryRecord, EntryRecord, HandoffOp, ImportMark, JournalError, ObjectRecord, Op,
    OpResult,
};
use renkei_storage::vault::{ObjectReader, VaultError};

use super::Namespace;

impl Namespace {
    /// Every delivery record of a route (`""` for all routes).
    pub fn deliveries(&self, route: &str) -> Result<Vec<DeliveryRecord>, JournalError> {
        self.journal.deliveries(route)
    }

    /// The delivery record of `object` on `route`, if it was ever queued.
    pub fn delivery(
        &self,
        route: &str,
        object: &str,
    ) -> Result<Option<DeliveryRecord>, JournalError> {
        self.journal.delivery(route, object)
    }

    /// A stored object (a version of a file) by its id.
    pub fn object(&self, id: &str) -> Result<Option<ObjectRecord>, JournalError> {
        self.journal.object(id)
    }

    /// Every object the journal knows (expected-file checks).
    pub fn objects(&self) -> Result<Vec<ObjectRecord>, JournalError> {
        self.journal.objects()
    }

    /// Every name of one tenant with its journal key (a route's rescan).
    pub fn tenant_entries(&self, tenant: &str) -> Result<Vec<(String, EntryRecord)>, JournalError> {
        self.journal.tenant_entries(tenant)
    }

    /// The import mark under `key`: a file a route brought in whose source
    /// was not yet removed.
    pub fn import_mark(&self, key: &str) -> Result<Option<ImportMark>, JournalError> {
        self.journal.import_mark(key)
    }

    /// Applies hand-off bookkeeping (queueing, import marks) in one
    /// transaction; each operation's own result is returned.
    pub async fn apply_handoff(&self, ops: Vec<HandoffOp>) -> Result<Vec<OpResult>, JournalError> {
        self.journal
            .apply(ops.into_iter().map(Op::Handoff).collect())
            .await
    }

    /// [`Namespace::apply_handoff`] of one operation, for blocking threads.
    pub fn apply_handoff_blocking(&self, op: HandoffOp) -> Result<(), ApplyError> {
        self.journal.apply_one_blocking(Op::Handoff(op)).map(|_| ())
    }

    /// A route's memory of a moment (when its schedule last fired, which
    /// deadline was last checked), kept across restarts.
    pub fn route_memory(&self, key: &str) -> Result<Option<String>, JournalError> {
        self.journal.meta(key)
    }

    /// Remembers a moment for [`Namespace::route_memory`].
    pub async fn remember(&self, key: String, value: String) -> Result<(), ApplyError> {
        self.journal
            .apply_one(Op::PutMeta { key, value })
            .await
            .map(|_| ())
    }

    /// The plaintext of a stored object, read from the vault. Its blobs
    /// stay pinned (not removed) until the reader is dropped.
    pub fn open_object(&self, object: &ObjectRecord) -> Result<ObjectReader, VaultError> {
        ObjectReader::open(std::sync::Arc::clone(&self.vault), &object.segments)
    }

    /// The vault's public key (the control socket's `status`).
    pub fn vault_recipient(&self) -> String {
        self.vault.recipient()
    }
}
