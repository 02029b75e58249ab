//! Fences: the proof a node still holds the lease its work was started
//! under (decision 0017).
//!
//! Work that only one node may do at a time — a route's hand-offs, the
//! audit sealer, retention — runs under a lease with an epoch. Every
//! transaction that commits such work begins with [`Op::Fence`]: inside
//! the same transaction, the engine checks that the lease is still this
//! node's, at this epoch, and not expired. If it is not (the node was
//! paused past its lease and another took over), none of the job's
//! operations is applied. On one machine (redb) there is nobody to be
//! fenced from, and a fence always holds.
//!
//! [`Op::Fence`]: super::Op::Fence

use serde::{Deserialize, Serialize};

/// A lease as held: its name, the node holding it and the epoch it was
/// taken at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fence {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
}

impl std::fmt::Display for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "lease {} (epoch {}, {})",
            self.name, self.epoch, self.holder
        )
    }
}
