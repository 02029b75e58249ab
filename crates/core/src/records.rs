//! The records the layers above the core read: a stored file (object),
//! a route's delivery record, an import mark, and the errors of reading
//! them. They are the journal's own structures, shown read-only: nothing
//! above the core can build a journal operation, name a journal key or
//! apply a change except through the core's typed calls
//! (`Namespace::queue_deliveries`, `advance_delivery`, `import_mark`, …),
//! so what a change means and which audit record it carries is decided
//! here, once.

pub use renkei_storage::journal::{
    BanRecord, DeliveryRecord, DeliveryState, ImportMark, JournalError, ObjectRecord, ObjectState,
};
pub use renkei_storage::vault::{ObjectReader, VaultError};
