//! What the journal does with the arrival checks' results: a file leaves
//! `checking` for `stored` (it stays under its name and becomes visible),
//! or for `quarantined` / `rejected` (its name is taken out of the
//! namespace, its blobs stay for the operator); and the operator's
//! release or discarding of a held file.
//!
//! Each operation names the state it expects, so a file superseded or
//! deleted while it was being checked is not brought back by a late
//! result, and two operators cannot both act on one held file.

use jiff::Timestamp;

use super::OpResult;
use super::records::{
    CheckRecord, Delivered, EntryRecord, ObjectRecord, ObjectState, Release, entry_key,
};
use super::tables::{OpError, Outcome, StoreError, Table, Tables};

/// Arrival-check changes (variants of [`super::Op`]).
#[derive(Debug, Clone)]
pub enum ChecksOp {
    /// The checks' result for an object still `checking`. `state` is
    /// `Stored` (accepted), `AwaitingApproval` (accepted on a lane with
    /// approvers), `Quarantined` or `Rejected` (the name leaves).
    /// `path` is the name the file had when it was inspected: a file
    /// renamed meanwhile is not settled (`Stale`), since the verdict was
    /// for a name it no longer has; the stage inspects it again.
    Settle {
        id: String,
        path: String,
        state: ObjectState,
        check: CheckRecord,
    },
    /// Lets a quarantined or rejected object in: stored again under the
    /// name it arrived with (refused if the name is taken meanwhile or
    /// its directory is gone).
    /// `state` is what an accepted file is there: `Stored`, or on a lane
    /// with approvers `AwaitingApproval` (a release skips no approval).
    Release {
        id: String,
        release: Release,
        state: ObjectState,
    },
    /// Destroys a quarantined or rejected object's bytes; its record stays
    /// (as `deleted`) until retention forgets it.
    Discard {
        id: String,
        at: Timestamp,
        by: String,
    },
    /// Sends a stored file back to `checking` (renamed to a name whose
    /// rules it has not passed), if `entry_key` names it.
    Recheck {
        id: String,
        entry_key: String,
        at: Timestamp,
    },
}

/// The entry key of `o`'s path, and its parent directory's key.
pub(super) fn keys_of(o: &ObjectRecord) -> (String, Option<String>) {
    let (dir, name) = o.path.rsplit_once('/').unwrap_or(("", o.path.as_str()));
    let parent = (!dir.is_empty()).then(|| {
        let (pd, pn) = dir.rsplit_once('/').unwrap_or(("", dir));
        entry_key(&o.tenant, o.bx, pd, pn)
    });
    (entry_key(&o.tenant, o.bx, dir, name), parent)
}

impl Tables<'_> {
    fn held_object(&mut self, id: &str) -> Result<Result<ObjectRecord, OpError>, StoreError> {
        Ok(match self.get::<ObjectRecord>(Table::Objects, id)? {
            None => Err(OpError::NotFound),
            Some(o) if o.state.is_held() => Ok(o),
            Some(_) => Err(OpError::Stale),
        })
    }

    pub(super) fn apply_checks(&mut self, op: &ChecksOp) -> Result<OpResult, StoreError> {
        match op {
            ChecksOp::Settle {
                id,
                path,
                state,
                check,
            } => {
                let Some(mut o) = self.get::<ObjectRecord>(Table::Objects, id)? else {
                    return Ok(Err(OpError::NotFound));
                };
                if !matches!(o.state, ObjectState::Checking { .. }) || o.path != *path {
                    return Ok(Err(OpError::Stale));
                }
                let (key, _) = keys_of(&o);
                if state.is_held()
                    && matches!(
                        self.get::<EntryRecord>(Table::Entries, &key)?,
                        Some(EntryRecord::File { object }) if object == *id
                    )
                {
                    self.remove(Table::Entries, &key)?;
                }
                o.state = state.clone();
                o.check = Some(check.clone());
                if *state == ObjectState::Stored && o.lane().is_some() {
                    o.delivered = Some(Delivered {
                        at: check.at,
                        approvals: Vec::new(),
                    });
                }
                self.put(Table::Objects, id, &o)?;
                Ok(Ok(Outcome {
                    object: Some(o),
                    ..Outcome::default()
                }))
            }
            ChecksOp::Release { id, release, state } => {
                let mut o = match self.held_object(id)? {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(e)),
                };
                let (key, parent) = keys_of(&o);
                if let Some(pk) = &parent {
                    match self.get::<EntryRecord>(Table::Entries, pk)? {
                        Some(EntryRecord::Dir { .. }) => {}
                        Some(EntryRecord::File { .. }) => return Ok(Err(OpError::NotDir)),
                        None => return Ok(Err(OpError::ParentMissing)),
                    }
                }
                if self.exists(Table::Entries, &key)? {
                    return Ok(Err(OpError::Exists));
                }
                o.state = state.clone();
                if let Some(c) = o.check.as_mut() {
                    c.released = Some(release.clone());
                }
                if o.state == ObjectState::Stored && o.lane().is_some() {
                    o.delivered = Some(Delivered {
                        at: release.at,
                        approvals: Vec::new(),
                    });
                }
                self.put(
                    Table::Entries,
                    &key,
                    &EntryRecord::File { object: id.clone() },
                )?;
                self.put(Table::Objects, id, &o)?;
                Ok(Ok(Outcome {
                    object: Some(o),
                    ..Outcome::default()
                }))
            }
            ChecksOp::Recheck { id, entry_key, at } => {
                match self.get::<EntryRecord>(Table::Entries, entry_key)? {
                    Some(EntryRecord::File { object }) if object == *id => {}
                    _ => return Ok(Err(OpError::Stale)),
                }
                let Some(mut o) = self.get::<ObjectRecord>(Table::Objects, id)? else {
                    return Ok(Err(OpError::NotFound));
                };
                if o.state != ObjectState::Stored {
                    return Ok(Err(OpError::Stale));
                }
                o.state = ObjectState::Checking { since: *at };
                self.put(Table::Objects, id, &o)?;
                Ok(Ok(Outcome {
                    object: Some(o),
                    ..Outcome::default()
                }))
            }
            ChecksOp::Discard { id, at, by } => {
                let mut o = match self.held_object(id)? {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(e)),
                };
                o.state = ObjectState::Deleted {
                    at: *at,
                    by: by.clone(),
                };
                self.put(Table::Objects, id, &o)?;
                Ok(Ok(Outcome {
                    garbage: o.segments.clone(),
                    object: Some(o),
                    ..Outcome::default()
                }))
            }
        }
    }
}
