//! Where renkei keeps things: the journal (redb: the namespace, deliveries,
//! partial uploads, bans and notes), the vault (every byte a client sends,
//! encrypted with age in sealed segments) and the audit trail (hash-chained,
//! signed segments an auditor can verify).
//!
//! Storage knows nothing of SSH, tenants' rules or routes: it is told what
//! to record and records it durably. Only this crate names redb, a blob's
//! path or an audit segment file (docs/decisions/0008-crate-graph.md).

pub mod audit;
pub mod fsutil;
pub mod journal;
pub mod vault;
