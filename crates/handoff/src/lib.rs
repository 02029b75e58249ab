//! Hand-off: routes that move files between a tenant's boxes and the
//! outside world (a local spool directory, a remote SFTP server), on arrival
//! or on a schedule, with retries, receipts and an audit record for each
//! step.
//!
//! Routes act on the boxes only through `renkei-core`; the front doors know
//! routes only through the control socket's questions
//! (docs/decisions/0008-crate-graph.md).

pub mod notify;
pub mod place;
pub mod remote;
pub mod route;
