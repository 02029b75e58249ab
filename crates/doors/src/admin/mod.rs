//! The operator's control socket (`renkei ctl`): status, placing files
//! into a tenant's boxes, listing them, and fetching them back.
//!
//! It is a protocol adapter like `ssh`: it calls the same namespace and
//! transfer code, as the operator principal, so everything it does is
//! checked and recorded the same way.

pub mod client;
mod context;
pub(crate) mod held;
pub mod proto;
pub mod server;

/// File name of the control socket inside the data directory.
pub const SOCKET_NAME: &str = "ctl.sock";
