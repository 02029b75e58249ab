//! What the journal does on a lane (decision 0011): an approver's
//! approval (the file is delivered once enough distinct approvers, never
//! its sender, have approved), an approver's rejection (with the reason),
//! a sender's withdrawal before delivery, a receiver's acknowledgement,
//! and expiry of a delivered file nobody received in time. Each names
//! the state it expects, so two of them can never both happen to a file.
//!
//! A lane's files are objects whose owner is [`lane_owner`]; a file is
//! never copied from one side to the other, so "delivered" is this one
//! state change, committed once.

use jiff::Timestamp;

use super::OpResult;
use super::checks::keys_of;
use super::records::{Approval, CheckRecord, Delivered, EntryRecord, ObjectRecord, ObjectState};
use super::tables::{OpError, Outcome, StoreError, Table, Tables};

/// What a lane's owner key starts with.
const LANE_PREFIX: &str = "lane:";

/// The owner key of a lane's objects: no tenant code holds a colon, so
/// no key of a lane is ever a municipality's.
pub fn lane_owner(lane: &str) -> String {
    format!("{LANE_PREFIX}{lane}")
}

/// The lane an owner key is, if it is a lane's ([`lane_owner`] undone).
pub fn lane_of_owner(owner: &str) -> Option<&str> {
    owner.strip_prefix(LANE_PREFIX)
}

impl ObjectRecord {
    /// The lane this file is on, if it is a lane's.
    pub fn lane(&self) -> Option<&str> {
        lane_of_owner(&self.tenant)
    }
}

/// Lane changes (variants of [`super::Op`]).
#[derive(Debug, Clone)]
pub enum LaneOp {
    /// `by` approves `id`; with `needed` distinct approvals it is
    /// delivered (`stored`). Refused for its sender, for an approver who
    /// already approved, and for a file not awaiting approval.
    Approve {
        id: String,
        by: String,
        at: Timestamp,
        needed: usize,
    },
    /// `by` rejects `id` (awaiting approval) with `reason`: out of the
    /// lane, kept encrypted for the operator.
    Reject {
        id: String,
        by: String,
        at: Timestamp,
        reason: String,
    },
    /// A delivered file nobody received in time: out of the lane, its
    /// bytes destroyed.
    Expire { id: String, at: Timestamp },
    /// Its sender takes a file back before it was delivered (checking or
    /// awaiting approval): out of the lane, its bytes destroyed.
    Withdraw {
        id: String,
        by: String,
        at: Timestamp,
    },
    /// A receiver takes a delivered file: received (受領), out of the
    /// lane; its bytes stay until retention, like an acknowledged outbox
    /// file.
    Acknowledge {
        id: String,
        by: String,
        at: Timestamp,
    },
}

fn lane_object(t: &mut Tables<'_>, id: &str) -> Result<Result<ObjectRecord, OpError>, StoreError> {
    Ok(match t.get::<ObjectRecord>(Table::Objects, id)? {
        Some(o) if o.lane().is_some() => Ok(o),
        _ => Err(OpError::NotFound),
    })
}

impl Tables<'_> {
    /// Takes `o`'s name out of the lane if the name still names it.
    fn unlink(&mut self, o: &ObjectRecord) -> Result<(), StoreError> {
        let (key, _) = keys_of(o);
        if matches!(
            self.get::<EntryRecord>(Table::Entries, &key)?,
            Some(EntryRecord::File { object }) if object == o.id
        ) {
            self.remove(Table::Entries, &key)?;
        }
        Ok(())
    }

    // Long: one arm per lane operation with its preconditions; the match
    // is the list of what a lane can do beyond an upload and a removal.
    pub(super) fn apply_lane(&mut self, op: &LaneOp) -> Result<OpResult, StoreError> {
        match op {
            LaneOp::Approve { id, by, at, needed } => {
                let mut o = match lane_object(self, id)? {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(e)),
                };
                let ObjectState::AwaitingApproval { since, approvals } = &o.state else {
                    return Ok(Err(OpError::Stale));
                };
                if o.uploaded_by == *by || approvals.iter().any(|a| a.by == *by) {
                    return Ok(Err(OpError::Stale));
                }
                let mut approvals = approvals.clone();
                approvals.push(Approval {
                    by: by.clone(),
                    at: *at,
                });
                if approvals.len() >= *needed {
                    o.state = ObjectState::Stored;
                    o.delivered = Some(Delivered { at: *at, approvals });
                } else {
                    o.state = ObjectState::AwaitingApproval {
                        since: *since,
                        approvals,
                    };
                }
                self.put(Table::Objects, id, &o)?;
                Ok(Ok(Outcome {
                    object: Some(o),
                    ..Outcome::default()
                }))
            }
            LaneOp::Reject { id, by, at, reason } => {
                let mut o = match lane_object(self, id)? {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(e)),
                };
                if !matches!(o.state, ObjectState::AwaitingApproval { .. }) || o.uploaded_by == *by
                {
                    return Ok(Err(OpError::Stale));
                }
                self.unlink(&o)?;
                o.state = ObjectState::Rejected { at: *at };
                let mut record = o.check.take().unwrap_or(CheckRecord {
                    at: *at,
                    outcome: String::new(),
                    ran: Vec::new(),
                    scanner: None,
                    signature: None,
                    reason: None,
                    released: None,
                });
                record.at = *at;
                record.outcome = "rejected".into();
                record.ran.push(format!("approval:{by}"));
                record.reason = Some(reason.clone());
                o.check = Some(record);
                self.put(Table::Objects, id, &o)?;
                Ok(Ok(Outcome {
                    object: Some(o),
                    ..Outcome::default()
                }))
            }
            LaneOp::Withdraw { id, by, at } => {
                let mut o = match lane_object(self, id)? {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(e)),
                };
                let waiting = matches!(
                    o.state,
                    ObjectState::Checking { .. } | ObjectState::AwaitingApproval { .. }
                );
                if !waiting || o.uploaded_by != *by {
                    return Ok(Err(OpError::Stale));
                }
                self.unlink(&o)?;
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
            LaneOp::Acknowledge { id, by, at } => {
                let mut o = match lane_object(self, id)? {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(e)),
                };
                if o.state != ObjectState::Stored {
                    return Ok(Err(OpError::Stale));
                }
                self.unlink(&o)?;
                o.state = ObjectState::Acknowledged {
                    at: *at,
                    by: by.clone(),
                };
                self.put(Table::Objects, id, &o)?;
                Ok(Ok(Outcome {
                    object: Some(o),
                    ..Outcome::default()
                }))
            }
            LaneOp::Expire { id, at } => {
                let mut o = match lane_object(self, id)? {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(e)),
                };
                if o.state != ObjectState::Stored {
                    return Ok(Err(OpError::Stale));
                }
                self.unlink(&o)?;
                o.state = ObjectState::Expired { at: *at };
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
