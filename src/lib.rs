//! renkei: a hardened secure file-transfer gateway for municipal data
//! linkage (データ連携用機器).
//!
//! See `docs/ARCHITECTURE.md` for the codemap. Dependencies point one way:
//! protocol adapters (`ssh`, `sftp`, `admin`) → core (`namespace`,
//! `transfer`, `policy`) → storage (`vault`, `journal`). Storage knows
//! nothing of SSH; nothing but `namespace::path` reads client path bytes.

pub mod admin;
pub mod audit;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod defender;
pub mod demo;
pub mod events;
pub mod fsutil;
pub mod journal;
pub mod live;
pub mod logging;
pub mod memory;
pub mod namespace;
pub mod pattern;
pub mod placement;
pub mod policy;
pub mod preflight;
pub mod remote;
pub mod route;
pub mod schedule;
pub mod sftp;
pub mod ssh;
pub mod time;
pub mod transfer;
pub mod units;
pub mod vault;
