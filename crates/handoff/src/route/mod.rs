//! Routes: automatic hand-off (自動データ連携) between tenant boxes and the
//! standard system.
//!
//! Each `[[route]]` gets one worker task. A route from a box hands each
//! matching committed file to its destination exactly once, keeping a
//! delivery record per (file, route) in the journal ([`ledger`]); a route
//! from a directory takes complete files into a tenant's box ([`import`]).
//! The journal is the truth: a restart picks up every queued item where it
//! stood, and the destination protocols ([`spool`]) make a repeated attempt
//! harmless.
//!
//! Routes sit in the core beside the namespace: they use the journal, the
//! vault and the event sink, and nothing of SSH.

mod clock;
mod destination;
mod driver;
mod expect;
mod folder;
pub mod import;
pub mod ledger;
mod pull;
mod router;
mod settle;
pub mod spool;
mod state;
pub mod steps;
mod wake;
mod worker;

pub use renkei_core::live::RouteChanges;
pub use router::Router;
pub use state::{FailedItem, RouteError, RouteReport, RouteState};
