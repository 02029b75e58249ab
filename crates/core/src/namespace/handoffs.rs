//! What the hand-off may read and change of the core's records: the
//! delivery records of its routes, import marks, the schedule memory of a
//! route, the stored objects it hands on and their plaintext.
//!
//! Routes live above the core (`renkei-handoff`) and must not reach into
//! the journal or the vault themselves: this is the one door they use, so
//! a different storage back end changes nothing above the core. They see
//! typed calls, never the journal's operations or keys: a change an
//! auditor must see is committed here with its audit record
//! ([`Namespace::advance_delivery`]); queueing, marks and schedule memory
//! are bookkeeping that carries no record of its own.

use renkei_model::boxes::BoxKind;
use renkei_storage::journal::records::split_entry_key;
use renkei_storage::journal::{
    ApplyError, DeliveryRecord, DeliveryState, EntryRecord, HandoffOp, ImportMark, JournalError,
    ObjectRecord, Op, handoff::import_key,
};
use renkei_storage::vault::{ObjectReader, VaultError};

use super::Namespace;
use crate::events::Event;

/// A stored file of a tenant's box, as a route's rescan sees it.
pub struct BoxFile {
    pub bx: BoxKind,
    pub name: String,
    pub object: String,
}

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

    /// Every stored file of one tenant's boxes (a route's rescan).
    pub fn box_files(&self, tenant: &str) -> Result<Vec<BoxFile>, JournalError> {
        Ok(self
            .journal
            .tenant_entries(tenant)?
            .into_iter()
            .filter_map(|(key, entry)| {
                let EntryRecord::File { object } = entry else {
                    return None;
                };
                let (_, bx, _, name) = split_entry_key(&key)?;
                Some(BoxFile {
                    bx,
                    name: name.to_string(),
                    object,
                })
            })
            .collect())
    }

    /// The import mark of `name` brought in by `route` for `tenant`: a
    /// file a route committed whose source was not yet removed.
    pub fn import_mark(
        &self,
        route: &str,
        tenant: &str,
        name: &str,
    ) -> Result<Option<ImportMark>, JournalError> {
        self.journal.import_mark(&import_key(route, tenant, name))
    }

    /// Forgets an import mark once its source is removed (nothing to do
    /// when there is none). For blocking threads.
    pub fn drop_import_mark(
        &self,
        route: &str,
        tenant: &str,
        name: &str,
    ) -> Result<(), JournalError> {
        let key = import_key(route, tenant, name);
        match self
            .journal
            .apply_one_blocking(Op::Handoff(HandoffOp::DropImport { key }))
        {
            Ok(_) | Err(ApplyError::Op(_)) => Ok(()),
            Err(ApplyError::Journal(e)) => Err(e),
        }
    }

    /// Queues new delivery records in one transaction; a pair of route and
    /// object that has a record already keeps it. Says, for each, whether
    /// it was queued now.
    pub async fn queue_deliveries(
        &self,
        records: Vec<DeliveryRecord>,
    ) -> Result<Vec<bool>, JournalError> {
        let ops = records
            .into_iter()
            .map(|record| {
                Op::Handoff(HandoffOp::PutDelivery {
                    record,
                    only_new: true,
                    expect: None,
                })
            })
            .collect();
        Ok(self
            .journal
            .apply(ops)
            .await?
            .iter()
            .map(Result::is_ok)
            .collect())
    }

    /// Commits a delivery record's new state with its audit record, if
    /// the record is still in state `expected` (only a route's worker, or
    /// an operator's retry of a failed item, moves a record on). `false`
    /// when it was not: someone else moved it first.
    pub async fn advance_delivery(
        &self,
        record: DeliveryRecord,
        expected: DeliveryState,
        event: Event,
    ) -> Result<bool, JournalError> {
        let op = Op::Handoff(HandoffOp::PutDelivery {
            record,
            only_new: false,
            expect: Some(expected),
        });
        match self.apply_recorded(op, move |_| Some(event)).await {
            Ok(_) => Ok(true),
            Err(ApplyError::Op(_)) => Ok(false),
            Err(ApplyError::Journal(e)) => Err(e),
        }
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
