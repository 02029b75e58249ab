//! renkei: a hardened secure file-transfer gateway for municipal data
//! linkage (データ連携用機器).
//!
//! This crate is the top of the workspace: the command line, the daemon
//! that wires every part together, the embedded demo configuration and the
//! start-up checks. Everything else lives in the crates below it, one layer
//! each (see `docs/ARCHITECTURE.md` and docs/decisions/0008-crate-graph.md):
//! `renkei-model` → `renkei-config` → `renkei-storage` → `renkei-core` →
//! `renkei-handoff` → `renkei-console` → one crate per door
//! (`renkei-doors-ssh`, `-ftps`, `-web`, `-admin`). Their modules are
//! re-exported here under the names the daemon and the tests use. Only
//! this crate opens the journal and the vault.

pub mod cli;
pub mod daemon;
pub mod demo;
pub mod engines;
pub mod fronts;
pub mod logging;
pub mod migrate;
pub mod preflight;
pub mod signals;
pub mod systemd;
mod timers;
mod trail_copies;

pub use renkei_config as config;
pub use renkei_core::{defender, events, live, memory, namespace, policy, transfer};
pub use renkei_doors_admin as admin;
pub use renkei_doors_ftps as ftps;
pub use renkei_doors_ssh::{sftp, ssh};
pub use renkei_doors_web as web;
pub use renkei_handoff::{remote, route};
pub use renkei_model::{boxes, lgcode, pattern, placement, schedule, time, units};
pub use renkei_storage::{audit, fsutil, journal, vault};
