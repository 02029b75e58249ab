//! The one core every front door and every route goes through: the
//! namespace of each tenant's boxes, uploads and downloads, the policy that
//! decides each request, the events that become audit records and logs,
//! the memory budgets, the live (reloadable) configuration and the defender
//! that bans hostile addresses.
//!
//! The front doors (`renkei-doors-ssh`, `-ftps`, `-web`, `-admin`) and the
//! hand-off (`renkei-handoff`) are adapters over this crate; it never
//! calls them, and they never reach past it into storage
//! (docs/decisions/0008-crate-graph.md, 0015-door-kit.md). What every
//! door decides alike — admission, logins and their proofs, TLS,
//! listeners — is its door kit ([`door`]).

pub mod checks;
pub mod defender;
pub mod door;
pub mod events;
/// The file-system helpers for the files a door keeps of its own (host
/// keys, audit exports): private modes, atomic writes, fsync. Not the
/// journal's or the vault's, which no door sees.
pub use renkei_storage::fsutil;
pub mod live;
pub mod memory;
pub mod namespace;
pub mod policy;
pub mod records;
pub mod trail;
pub mod transfer;
