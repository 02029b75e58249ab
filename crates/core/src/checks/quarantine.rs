//! Held files: what the checks quarantined or rejected, kept encrypted
//! for the operator, who may release one (it is stored under its name
//! again and becomes visible and routable, with no check run again) or
//! delete it (its bytes are destroyed). Both are audited with the
//! operator's reason. Retention destroys held files after
//! `retention.quarantine`.

use jiff::Timestamp;

use super::held::{HeldFile, reason_of};
use super::stage::checked_file;
use crate::events::Event;
use crate::namespace::{Namespace, NsError};
use renkei_storage::journal::{
    ApplyError, ChecksOp, JournalError, ObjectRecord, ObjectState, Op, OpError, Release,
};

/// Which object ids a prefix names: the operator may type the first
/// characters of an id, as long as they name one held file.
fn by_prefix(held: Vec<ObjectRecord>, id: &str) -> Result<ObjectRecord, NsError> {
    let mut found: Vec<ObjectRecord> = held.into_iter().filter(|o| o.id.starts_with(id)).collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(NsError::NotFound {
            path: format!("held file {id}"),
        }),
        n => Err(NsError::Invalid(format!(
            "{id} names {n} held files; give more of the id"
        ))),
    }
}

fn refusal(e: ApplyError, o: &ObjectRecord) -> NsError {
    let shown = format!("/{}/{}", o.bx, o.path);
    match e {
        ApplyError::Op(OpError::Exists) => NsError::Conflict {
            path: shown,
            reason: "a file of that name arrived since; remove or rename it first, then release"
                .into(),
        },
        ApplyError::Op(OpError::ParentMissing | OpError::NotDir) => NsError::Conflict {
            path: shown,
            reason: "the directory it arrived in is gone; create it again, then release".into(),
        },
        ApplyError::Op(OpError::Stale | OpError::NotFound) => NsError::Conflict {
            path: shown,
            reason: "it is no longer held (released or deleted meanwhile)".into(),
        },
        e => NsError::from_apply(e, &shown),
    }
}

impl Namespace {
    /// Every quarantined or rejected file, oldest first.
    pub(crate) fn held_objects(&self) -> Result<Vec<ObjectRecord>, JournalError> {
        let mut all = self.journal.objects()?;
        all.retain(|o| o.state.is_held());
        all.sort_by_key(|o| o.committed_at);
        Ok(all)
    }

    /// Every file waiting for its checks, oldest first.
    pub(crate) fn checking(&self) -> Result<Vec<ObjectRecord>, JournalError> {
        let mut all = self.journal.objects()?;
        all.retain(|o| matches!(o.state, ObjectState::Checking { .. }));
        all.sort_by_key(|o| o.committed_at);
        Ok(all)
    }

    /// One held file, by its id or an unambiguous prefix of it.
    pub fn held_file(&self, id: &str) -> Result<HeldFile, NsError> {
        Ok(HeldFile::from(&self.held_object(id)?))
    }

    fn held_object(&self, id: &str) -> Result<ObjectRecord, NsError> {
        by_prefix(self.held_objects()?, id)
    }

    /// Lets a held file in: stored under the name it arrived with,
    /// visible and handed on like any accepted file. No check runs again;
    /// the receipt and the audit record say who released it and why.
    pub async fn release_held(
        &self,
        id: &str,
        by: &str,
        reason: &str,
    ) -> Result<HeldFile, NsError> {
        let reason = reason_of(reason)?;
        let o = self.held_object(id)?;
        let release = Release {
            at: Timestamp::now(),
            by: by.to_string(),
            reason: reason.to_string(),
        };
        let event = Event::QuarantineReleased {
            file: checked_file(&o),
            by: by.to_string(),
            reason: reason.to_string(),
            was: o.state.label().to_string(),
        };
        let state = super::accepted_state(&self.live.get(), &o.tenant, release.at);
        let op = Op::Checks(ChecksOp::Release {
            id: o.id.clone(),
            release,
            state,
        });
        let out = self
            .apply_recorded(op, move |_| Some(event))
            .await
            .map_err(|e| refusal(e, &o))?;
        let released = out.object.unwrap_or(o);
        if released.state == ObjectState::Stored && released.lane().is_none() {
            self.arrived(&released);
        }
        Ok(HeldFile::from(&released))
    }

    /// Destroys a held file's bytes; its record stays (as deleted) until
    /// retention forgets it.
    pub async fn delete_held(&self, id: &str, by: &str, reason: &str) -> Result<HeldFile, NsError> {
        let reason = reason_of(reason)?;
        let o = self.held_object(id)?;
        let event = Event::QuarantineDeleted {
            file: checked_file(&o),
            by: by.to_string(),
            reason: reason.to_string(),
            was: o.state.label().to_string(),
        };
        let op = Op::Checks(ChecksOp::Discard {
            id: o.id.clone(),
            at: Timestamp::now(),
            by: by.to_string(),
        });
        let out = self
            .apply_recorded(op, move |_| Some(event))
            .await
            .map_err(|e| refusal(e, &o))?;
        self.discard(&out.garbage);
        Ok(HeldFile::from(&out.object.unwrap_or(o)))
    }
}
