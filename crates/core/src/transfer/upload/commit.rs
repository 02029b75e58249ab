//! The end of an upload that succeeded: the last segment sealed, the
//! object committed with its audit record (and whatever else must happen
//! in the same transaction), and the file handed to whoever comes next —
//! the checks stage, the routes, or a lane's receivers.

use jiff::Timestamp;

use super::{Upload, new_object_id};
use crate::events::Event;
use crate::namespace::NsError;
use renkei_storage::journal::{ApplyError, ObjectRecord, ObjectState, Op, OpError};

impl Upload {
    /// Finishes the upload: segments durable, record committed, file
    /// visible. On any error the bytes are kept as a partial.
    pub fn commit(&mut self) -> Result<ObjectRecord, NsError> {
        let (actor, box_name, path) = (self.who.actor(), self.bx.to_string(), self.rel.clone());
        let resumed = self.resumed_from.is_some();
        self.commit_with(
            |_| Vec::new(),
            move |object| {
                if object.lane().is_some() {
                    return Event::LaneSent {
                        actor,
                        file: crate::namespace::lanes::lane_file(object),
                        state: object.state.label().to_string(),
                        resumed,
                    };
                }
                Event::UploadCommitted {
                    actor,
                    box_name,
                    path,
                    object: object.id.clone(),
                    size: object.size,
                    sha256: object.sha256.clone(),
                    resumed,
                    checking: matches!(object.state, ObjectState::Checking { .. }),
                }
            },
        )
    }

    /// [`Upload::commit`] with more operations (made by `extra` from the
    /// object) in the same transaction — they must not be able to fail once
    /// the commit itself succeeds — recorded as `event` makes it.
    pub(crate) fn commit_with<X, F>(&mut self, extra: X, event: F) -> Result<ObjectRecord, NsError>
    where
        X: FnOnce(&ObjectRecord) -> Vec<Op>,
        F: FnOnce(&ObjectRecord) -> Event + Send + 'static,
    {
        if let Some(p) = self.poisoned.clone() {
            self.abandon("storage failed during the upload");
            return Err(NsError::Storage(p));
        }
        if let Some(reason) = self.refused.clone() {
            let err = NsError::Invalid(format!(
                "not committed because a write was refused ({reason}); the first {} bytes are kept so the upload can be resumed",
                self.size
            ));
            self.abandon("a write was refused");
            return Err(err);
        }
        if let Some((&first, _)) = self.pending.iter().next() {
            let err = NsError::Invalid(format!(
                "{}: the upload has a hole: bytes {}..{first} were never written; the first {} bytes are kept so the upload can be resumed",
                self.shown, self.size, self.size
            ));
            self.abandon("the upload had a hole at close");
            return Err(err);
        }
        if let Err(e) = self.seal_current() {
            self.abandon("storage error at close");
            return Err(e);
        }
        let now = Timestamp::now();
        let Some(sha256) = std::mem::take(&mut self.hasher).finish() else {
            self.poisoned = Some("the SHA-256 of the upload was lost".into());
            self.abandon("internal error computing the SHA-256");
            return Err(NsError::Storage(
                "the SHA-256 of the upload was lost".into(),
            ));
        };
        let object = ObjectRecord {
            id: new_object_id(),
            tenant: self.owner.clone(),
            bx: self.bx,
            path: self.rel.clone(),
            size: self.size,
            sha256,
            segments: self.done.clone(),
            uploaded_by: self.who.user.clone(),
            source: self.who.source.map(|s| s.to_string()),
            started_at: self.started_at,
            committed_at: now,
            mtime: self.mtime.unwrap_or(now.as_second()),
            state: crate::namespace::checking::initial_state(
                &self.ns.live.get(),
                &self.owner,
                self.bx,
                &self.rel,
                now,
            ),
            check: None,
            delivered: None,
        };
        let mut object = object;
        if object.state == ObjectState::Stored
            && renkei_storage::journal::lane_of_owner(&self.owner).is_some()
        {
            // A lane with neither checks nor approvers delivers at once.
            object.delivered = Some(renkei_storage::journal::Delivered {
                at: now,
                approvals: Vec::new(),
            });
        }
        let op = Op::CommitObject {
            entry_key: self.entry_key.clone(),
            parent_key: self.parent_key.clone(),
            object: Box::new(object.clone()),
            exclusive: self.exclusive,
            // What `Upload::begin` checked of the file it replaces, checked
            // again in the commit's own transaction.
            replaces_only_waiting: object.lane().is_some(),
            clear_partial: Some(self.partial_key.clone()),
        };
        // The audit record is committed with the file itself: neither
        // exists without the other, and both are durable before OK.
        let event = event(&object);
        let mut ops = vec![op];
        ops.extend(extra(&object));
        match self
            .ns
            .apply_all_recorded_blocking(ops, move |_| Some(event))
        {
            Ok(out) => {
                self.open = false;
                self.ns.discard(&out.garbage);
                match object.state {
                    ObjectState::Checking { .. } => self
                        .ns
                        .checking
                        .push(object.id.clone(), object.tenant.clone()),
                    // A lane with neither checks nor approvers: delivered now.
                    ObjectState::Stored if object.lane().is_some() => {
                        self.ns.events.record(Event::LaneDelivered {
                            by: None,
                            file: crate::namespace::lanes::lane_file(&object),
                            approved_by: Vec::new(),
                        });
                    }
                    ObjectState::Stored => self.ns.arrived(&object),
                    _ => {}
                }
                Ok(object)
            }
            Err(ApplyError::Op(OpError::HandedOn)) => {
                // The lane file this upload was to replace was approved or
                // delivered while it was written: it stays as it is.
                let err = NsError::Conflict {
                    path: self.shown.clone(),
                    reason: "the file of this name was approved or delivered while this upload was written; it stays as it was: send this one under another name".into(),
                };
                self.discard("the lane file it was to replace was handed on meanwhile");
                Err(self.ns.refuse(&self.who, "upload", &self.shown, err))
            }
            Err(e) => {
                let err = NsError::from_apply(e, &self.shown);
                self.abandon(&format!("commit refused: {err}"));
                Err(err)
            }
        }
    }
}
