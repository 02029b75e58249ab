//! What the namespace must know of the arrival checks to hold a file
//! back: whether a commit (or a rename) needs them, and the queue that
//! hands committed files to the checks stage (`crate::checks`), which
//! stands on the namespace and never the other way round.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::live::Snapshot;
use renkei_model::boxes::BoxKind;
use renkei_storage::journal::ObjectState;

/// Committed files waiting for the stage that it holds in memory (ids
/// only). More than this, and the stage finds the rest in the journal.
pub const CHECKS_BACKLOG: usize = 4096;

/// Whether a file arriving at `path` in `bx` of `tenant` is checked
/// before it becomes visible: always when `[scan]` is configured, else
/// when a `[[check]]` rule selects it.
pub fn applies(snap: &Snapshot, tenant: &str, bx: BoxKind, path: &str) -> bool {
    if snap.config.scan.is_some() {
        return true;
    }
    // A lane's files are selected only by rules naming the lane
    // (`CheckRule::selects`).
    let name = path.rsplit('/').next().unwrap_or(path);
    snap.config
        .checks
        .iter()
        .any(|r| r.selects(tenant, bx, name))
}

/// The lane whose files `owner` keys (`lane:<name>`), if it is one.
fn lane_of<'a>(snap: &'a Snapshot, owner: &str) -> Option<&'a renkei_config::Lane> {
    snap.config
        .lane(renkei_storage::journal::lane_of_owner(owner)?)
}

/// What a file is once it needs no (more) checks: on a lane with
/// approvers it waits for them; everywhere else it is stored (visible,
/// and on a lane: delivered).
pub fn accepted_state(snap: &Snapshot, owner: &str, now: jiff::Timestamp) -> ObjectState {
    match lane_of(snap, owner) {
        Some(l) if !l.approvers.is_empty() => ObjectState::AwaitingApproval {
            since: now,
            approvals: Vec::new(),
        },
        _ => ObjectState::Stored,
    }
}

/// What a file is as it is committed: `checking` when checks apply, else
/// what an accepted file is.
pub fn initial_state(
    snap: &Snapshot,
    owner: &str,
    bx: BoxKind,
    path: &str,
    now: jiff::Timestamp,
) -> ObjectState {
    if applies(snap, owner, bx, path) {
        ObjectState::Checking { since: now }
    } else {
        accepted_state(snap, owner, now)
    }
}

/// Whether a stored file renamed to `name` must be checked again: the
/// verdict it has was for its old name. The type check compares content
/// with the name's suffix, so a new suffix is checked again (an ELF
/// uploaded as `tool.bin` and renamed `meibo.csv`); a `[[check]]` rule
/// that selects the new name and that the file has not passed is run (a
/// client that uploads under a temporary name and renames it when
/// complete must not slip past the rules of the final name).
pub fn renamed_needs_check(
    snap: &Snapshot,
    o: &renkei_storage::journal::ObjectRecord,
    name: &str,
) -> bool {
    let old = o.path.rsplit('/').next().unwrap_or(&o.path);
    let suffix = |n: &str| n.rsplit_once('.').map(|(_, s)| s.to_lowercase());
    if suffix(old) != suffix(name) && applies(snap, &o.tenant, o.bx, name) {
        return true;
    }
    let passed = |rule: &str| {
        o.check
            .as_ref()
            .is_some_and(|c| c.ran.iter().any(|r| r.strip_prefix("rule:") == Some(rule)))
    };
    snap.config
        .checks
        .iter()
        .any(|r| r.selects(&o.tenant, o.bx, name) && !passed(&r.name))
}

/// Object ids committed as `checking`, with whose files they are (a
/// tenant code or `lane:<name>`), for the stage.
#[derive(Debug, Default)]
pub struct Queue {
    ids: Mutex<VecDeque<(String, String)>>,
    /// Ids were dropped for want of room: the stage must look at the
    /// journal.
    lagged: AtomicBool,
    wake: Notify,
}

impl Queue {
    /// Hands a committed object of `owner` to the stage.
    pub fn push(&self, id: String, owner: String) {
        match self.ids.lock() {
            Ok(mut q) if q.len() < CHECKS_BACKLOG => q.push_back((id, owner)),
            _ => self.lagged.store(true, Ordering::Relaxed),
        }
        self.wake.notify_one();
    }

    /// Everything waiting, and whether some ids were dropped.
    pub(crate) fn take(&self) -> (Vec<(String, String)>, bool) {
        let ids = match self.ids.lock() {
            Ok(mut q) => q.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        (ids, self.lagged.swap(false, Ordering::Relaxed))
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_holds_a_bounded_number_of_ids_and_says_when_it_dropped_some() {
        let q = Queue::default();
        for i in 0..CHECKS_BACKLOG + 10 {
            q.push(format!("id{i}"), "032018".into());
        }
        let (ids, lagged) = q.take();
        assert_eq!(ids.len(), CHECKS_BACKLOG);
        assert!(lagged, "the stage must look at the journal for the rest");
        let (ids, lagged) = q.take();
        assert!(ids.is_empty() && !lagged);
        q.push("again".into(), "032018".into());
        assert_eq!(
            q.take(),
            (vec![("again".to_string(), "032018".to_string())], false)
        );
    }
}
