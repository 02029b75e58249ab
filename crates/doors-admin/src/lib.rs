//! The operator's doors: the control socket (`renkei ctl`: status,
//! placing files into a tenant's boxes, listing them, fetching them back,
//! held files, bans, routes) and the monitoring listener (`/metrics`,
//! `/healthz`, `/readyz`).
//!
//! They are protocol adapters like the SSH door: they serve from the
//! operator's console (`renkei_console::Context`) and call the same
//! namespace and transfer code, as the operator principal, so everything
//! they do is checked and recorded the same way. No other door imports
//! this crate.

pub mod client;
mod context;
pub(crate) mod held;
pub mod monitor;
pub mod proto;
pub mod server;

/// File name of the control socket inside the data directory.
pub const SOCKET_NAME: &str = "ctl.sock";
