//! Journal mutations, each checked and applied inside a write transaction.
//!
//! Every operation first checks all its preconditions with reads, and only
//! then writes. That rule is what lets the group-commit writer put many
//! sessions' operations into one transaction: an operation that fails has
//! changed nothing, so the others can still commit.

use jiff::Timestamp;

use super::records::{
    BanRecord, EntryRecord, ObjectRecord, ObjectState, PartialRecord, SegmentRef,
};
use super::tables::{OpError, Outcome, StoreError, Table, Tables};

type Res = Result<Result<Outcome, OpError>, StoreError>;

/// One change to the journal.
#[derive(Debug, Clone)]
pub enum Op {
    /// Make a finished upload visible under its name, superseding a file of
    /// the same name, and drop the uploader's partial of it.
    CommitObject {
        entry_key: String,
        /// Directory entry that must exist (`None` at the top of a box).
        parent_key: Option<String>,
        object: Box<ObjectRecord>,
        /// Refuse if the name exists (SFTP `EXCL`).
        exclusive: bool,
        /// A lane's file: a file it replaces must still be its sender's
        /// and still waiting (checks or approval), as when the upload
        /// began — not approved or delivered meanwhile (`HandedOn`).
        replaces_only_waiting: bool,
        clear_partial: Option<String>,
    },
    /// Record (or update) an interrupted or checkpointed upload.
    PutPartial {
        key: String,
        record: PartialRecord,
    },
    /// Forget a partial; with `if_updated_at`, only if it did not change.
    DropPartial {
        key: String,
        if_updated_at: Option<Timestamp>,
    },
    /// Take a file out of the namespace, leaving its object in `state` —
    /// unless one of the routes in `unless_delivered_by` has handed it on
    /// (checked in the same transaction, so a hand-off committed
    /// concurrently cannot slip between the check and the removal).
    RemoveFile {
        entry_key: String,
        state: ObjectState,
        unless_delivered_by: Vec<String>,
    },
    /// Use up step `step` of a counter kept in `meta` under `key` (a
    /// person's TOTP codes): refused (`Stale`) unless it is past the step
    /// used last, so a code works once, across restarts too.
    SpendStep {
        key: String,
        step: u64,
    },
    /// Remember a small fact across restarts (e.g. when a route's
    /// schedule last fired). Keys are namespaced by their owner.
    PutMeta {
        key: String,
        value: String,
    },
    /// Move a file to another name in the same box.
    Rename {
        from_key: String,
        to_key: String,
        to_parent_key: Option<String>,
        /// Path inside the box after the move.
        to_path: String,
        overwrite: bool,
        at: Timestamp,
    },
    Mkdir {
        key: String,
        parent_key: Option<String>,
        record: EntryRecord,
    },
    Rmdir {
        key: String,
        children_prefix: String,
    },
    /// Forget a file that left the namespace (acknowledged, deleted,
    /// superseded) at the end of its retention; its blobs become garbage.
    /// `state` must still be the object's state.
    PurgeObject {
        id: String,
        state: &'static str,
    },
    /// Record (or replace) a ban of a source address.
    PutBan {
        record: BanRecord,
    },
    /// Forget an address's ban and its history.
    DropBan {
        ip: String,
    },
    SetMtime {
        entry_key: String,
        mtime: i64,
    },
    /// A hand-off change (`journal::handoff`).
    Handoff(super::handoff::HandoffOp),
    /// An arrival-check change (`journal::checks`).
    Checks(super::checks::ChecksOp),
    /// A lane's approval, rejection or expiry (`journal::lanes`).
    Lane(super::lanes::LaneOp),
    /// Forget the notes up to and including `through` (their records are
    /// on disk where they belong).
    DropNotes {
        through: u64,
    },
    /// Only as a job's first operation: the rest of the job is applied
    /// only if this node still holds the lease at this epoch
    /// (`journal::fence`); otherwise none of it is.
    Fence(super::fence::Fence),
}

/// Segments of `old` that `new` does not reuse.
fn unused(old: &[SegmentRef], new: &[SegmentRef]) -> Vec<SegmentRef> {
    old.iter().filter(|s| !new.contains(s)).cloned().collect()
}

impl Tables<'_> {
    fn parent_is_dir(
        &mut self,
        parent_key: &Option<String>,
    ) -> Result<Result<(), OpError>, StoreError> {
        let Some(pk) = parent_key else {
            return Ok(Ok(()));
        };
        Ok(match self.get::<EntryRecord>(Table::Entries, pk)? {
            Some(EntryRecord::Dir { .. }) => Ok(()),
            Some(EntryRecord::File { .. }) => Err(OpError::NotDir),
            None => Err(OpError::ParentMissing),
        })
    }

    /// Marks the object behind a file entry as superseded; returns it.
    fn supersede(
        &mut self,
        old_id: &str,
        by: &str,
        at: Timestamp,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let Some(mut old) = self.get::<ObjectRecord>(Table::Objects, old_id)? else {
            return Ok(None);
        };
        old.state = ObjectState::Superseded {
            at,
            by_object: by.to_string(),
        };
        self.put(Table::Objects, old_id, &old)?;
        Ok(Some(old))
    }

    /// The sequence number the next note gets: one past the newest note,
    /// or what `meta` kept when the notes were all dropped.
    pub(super) fn next_note(&mut self) -> Result<u64, StoreError> {
        let after_last = self.txn.last_note()?.map_or(1, |k| k + 1);
        let kept = match self.meta(super::notes::NEXT_NOTE)? {
            Some(v) => v.parse::<u64>().map_err(|e| {
                StoreError::Corrupt(format!(
                    "journal meta {:?} is unreadable: {e}",
                    super::notes::NEXT_NOTE
                ))
            })?,
            None => 1,
        };
        Ok(after_last.max(kept))
    }

    // One arm per journal operation: the match is the list of everything
    // the journal can do, kept in one place on purpose; the larger ones
    // are methods of their own.
    pub(super) fn apply(&mut self, op: &Op) -> Res {
        match op {
            Op::CommitObject {
                entry_key,
                parent_key,
                object,
                exclusive,
                replaces_only_waiting,
                clear_partial,
            } => self.commit_object(
                entry_key,
                parent_key,
                object,
                (*exclusive, *replaces_only_waiting),
                clear_partial,
            ),
            Op::PutPartial { key, record } => {
                let mut out = Outcome::default();
                if let Some(old) = self.get::<PartialRecord>(Table::Partials, key)? {
                    out.garbage = unused(&old.segments, &record.segments);
                }
                self.put(Table::Partials, key, record)?;
                Ok(Ok(out))
            }
            Op::DropPartial { key, if_updated_at } => {
                let Some(p) = self.get::<PartialRecord>(Table::Partials, key)? else {
                    return Ok(Err(OpError::NotFound));
                };
                if if_updated_at.is_some_and(|t| t != p.updated_at) {
                    return Ok(Err(OpError::Stale));
                }
                self.remove(Table::Partials, key)?;
                Ok(Ok(Outcome {
                    garbage: p.segments.clone(),
                    partial: Some(p),
                    ..Outcome::default()
                }))
            }
            Op::RemoveFile {
                entry_key,
                state,
                unless_delivered_by,
            } => self.remove_file(entry_key, state, unless_delivered_by),
            Op::Rename {
                from_key,
                to_key,
                to_parent_key,
                to_path,
                overwrite,
                at,
            } => self.rename(from_key, (to_key, to_parent_key, to_path), *overwrite, *at),
            Op::Mkdir {
                key,
                parent_key,
                record,
            } => {
                if let Err(e) = self.parent_is_dir(parent_key)? {
                    return Ok(Err(e));
                }
                if self.exists(Table::Entries, key)? {
                    return Ok(Err(OpError::Exists));
                }
                self.put(Table::Entries, key, record)?;
                Ok(Ok(Outcome::default()))
            }
            Op::Rmdir {
                key,
                children_prefix,
            } => {
                match self.get::<EntryRecord>(Table::Entries, key)? {
                    None => return Ok(Err(OpError::NotFound)),
                    Some(EntryRecord::File { .. }) => return Ok(Err(OpError::NotDir)),
                    Some(EntryRecord::Dir { .. }) => {}
                }
                let has_child = self.txn.any_with_prefix(Table::Entries, children_prefix)?;
                if has_child {
                    return Ok(Err(OpError::NotEmpty));
                }
                self.remove(Table::Entries, key)?;
                Ok(Ok(Outcome::default()))
            }
            Op::PurgeObject { id, state } => {
                let Some(obj) = self.get::<ObjectRecord>(Table::Objects, id)? else {
                    return Ok(Err(OpError::NotFound));
                };
                if obj.state.label() != *state || obj.state == ObjectState::Stored {
                    return Ok(Err(OpError::Stale));
                }
                self.remove(Table::Objects, id)?;
                Ok(Ok(Outcome {
                    garbage: obj.segments.clone(),
                    object: Some(obj),
                    ..Outcome::default()
                }))
            }
            Op::PutBan { record } => {
                self.put(Table::Bans, &record.ip, record)?;
                Ok(Ok(Outcome::default()))
            }
            Op::DropBan { ip } => {
                if !self.remove(Table::Bans, ip)? {
                    return Ok(Err(OpError::NotFound));
                }
                Ok(Ok(Outcome::default()))
            }
            Op::SetMtime { entry_key, mtime } => {
                let id = match self.get::<EntryRecord>(Table::Entries, entry_key)? {
                    None => return Ok(Err(OpError::NotFound)),
                    Some(EntryRecord::Dir { .. }) => return Ok(Ok(Outcome::default())),
                    Some(EntryRecord::File { object }) => object,
                };
                let Some(mut obj) = self.get::<ObjectRecord>(Table::Objects, &id)? else {
                    return Ok(Err(OpError::NotFound));
                };
                obj.mtime = *mtime;
                self.put(Table::Objects, &id, &obj)?;
                Ok(Ok(Outcome {
                    object: Some(obj),
                    ..Outcome::default()
                }))
            }
            Op::Handoff(h) => self.apply_handoff(h),
            Op::Checks(c) => self.apply_checks(c),
            Op::Lane(l) => self.apply_lane(l),
            Op::PutMeta { key, value } => {
                self.put_meta(key, value)?;
                Ok(Ok(Outcome::default()))
            }
            Op::SpendStep { key, step } => self.spend_step(key, *step),
            Op::Fence(fence) => Ok(if self.txn.holds(fence)? {
                Ok(Outcome::default())
            } else {
                Err(OpError::Fenced)
            }),
            Op::DropNotes { through } => {
                // The next sequence number is the newest note's plus one;
                // with the table emptied, `meta` remembers where it was.
                let next = self.next_note()?.max(through.saturating_add(1));
                if !self.txn.drop_notes(*through)? {
                    self.put_meta(super::notes::NEXT_NOTE, &next.to_string())?;
                }
                Ok(Ok(Outcome::default()))
            }
        }
    }

    /// [`Op::CommitObject`]: `exclusive` and `replaces_only_waiting` are
    /// its two conditions on a file the name already holds.
    fn commit_object(
        &mut self,
        entry_key: &str,
        parent_key: &Option<String>,
        object: &ObjectRecord,
        (exclusive, replaces_only_waiting): (bool, bool),
        clear_partial: &Option<String>,
    ) -> Res {
        if let Err(e) = self.parent_is_dir(parent_key)? {
            return Ok(Err(e));
        }
        let existing = self.get::<EntryRecord>(Table::Entries, entry_key)?;
        let old_id = match existing {
            Some(EntryRecord::Dir { .. }) => return Ok(Err(OpError::IsDir)),
            Some(EntryRecord::File { .. }) if exclusive => {
                return Ok(Err(OpError::Exists));
            }
            Some(EntryRecord::File { object }) => Some(object),
            None => None,
        };
        if replaces_only_waiting && let Some(old_id) = &old_id {
            let waiting = self
                .get::<ObjectRecord>(Table::Objects, old_id)?
                .is_some_and(|o| {
                    o.uploaded_by == object.uploaded_by
                        && matches!(
                            o.state,
                            ObjectState::Checking { .. } | ObjectState::AwaitingApproval { .. }
                        )
                });
            if !waiting {
                return Ok(Err(OpError::HandedOn));
            }
        }
        let mut out = Outcome::default();
        let old = match old_id {
            Some(old_id) => self.supersede(&old_id, &object.id, object.committed_at)?,
            None => None,
        };
        if let Some(old) = old {
            out.garbage.extend(unused(&old.segments, &object.segments));
            out.replaced = Some(old);
        }
        let partial = match clear_partial {
            Some(pk) => self
                .get::<PartialRecord>(Table::Partials, pk)?
                .map(|p| (pk, p)),
            None => None,
        };
        if let Some((pk, p)) = partial {
            self.remove(Table::Partials, pk)?;
            out.garbage.extend(unused(&p.segments, &object.segments));
            out.partial = Some(p);
        }
        self.put(
            Table::Entries,
            entry_key,
            &EntryRecord::File {
                object: object.id.clone(),
            },
        )?;
        self.put(Table::Objects, &object.id, object)?;
        out.object = Some(object.clone());
        Ok(Ok(out))
    }

    /// The object id of the file at `key`; `NotFound` or `IsDir` when
    /// there is none.
    fn file_at(&mut self, key: &str) -> Result<Result<String, OpError>, StoreError> {
        Ok(match self.get::<EntryRecord>(Table::Entries, key)? {
            None => Err(OpError::NotFound),
            Some(EntryRecord::Dir { .. }) => Err(OpError::IsDir),
            Some(EntryRecord::File { object }) => Ok(object),
        })
    }

    /// The object the entry `key` names: its absence is corruption.
    fn object_named(&mut self, key: &str, id: &str) -> Result<ObjectRecord, StoreError> {
        self.get::<ObjectRecord>(Table::Objects, id)?
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "journal entry {key:?} names object {id} that does not exist"
                ))
            })
    }

    /// [`Op::SpendStep`].
    fn spend_step(&mut self, key: &str, step: u64) -> Res {
        let last = self.meta(key)?.and_then(|v| v.parse::<u64>().ok());
        if last.is_some_and(|last| last >= step) {
            return Ok(Err(OpError::Stale));
        }
        self.put_meta(key, &step.to_string())?;
        Ok(Ok(Outcome::default()))
    }

    /// [`Op::RemoveFile`].
    fn remove_file(
        &mut self,
        entry_key: &str,
        state: &ObjectState,
        unless_delivered_by: &[String],
    ) -> Res {
        let id = match self.file_at(entry_key)? {
            Ok(id) => id,
            Err(e) => return Ok(Err(e)),
        };
        for route in unless_delivered_by {
            let key = super::handoff::delivery_key(route, &id);
            let record = self.get::<super::DeliveryRecord>(Table::Deliveries, &key)?;
            if record.is_some_and(|r| r.state == super::DeliveryState::Delivered) {
                return Ok(Err(OpError::HandedOn));
            }
        }
        let mut obj = self.object_named(entry_key, &id)?;
        obj.state = state.clone();
        self.put(Table::Objects, &id, &obj)?;
        self.remove(Table::Entries, entry_key)?;
        let garbage = if state.keeps_blobs() {
            Vec::new()
        } else {
            obj.segments.clone()
        };
        Ok(Ok(Outcome {
            garbage,
            object: Some(obj),
            ..Outcome::default()
        }))
    }

    /// [`Op::Rename`]: `to` is the new entry's key, its parent's key and
    /// the path inside the box.
    fn rename(
        &mut self,
        from_key: &str,
        (to_key, to_parent_key, to_path): (&str, &Option<String>, &str),
        overwrite: bool,
        at: Timestamp,
    ) -> Res {
        let id = match self.file_at(from_key)? {
            Ok(id) => id,
            Err(e) => return Ok(Err(e)),
        };
        if from_key == to_key {
            return Ok(Ok(Outcome::default()));
        }
        if let Err(e) = self.parent_is_dir(to_parent_key)? {
            return Ok(Err(e));
        }
        let mut out = Outcome::default();
        match self.get::<EntryRecord>(Table::Entries, to_key)? {
            Some(EntryRecord::Dir { .. }) => return Ok(Err(OpError::IsDir)),
            Some(EntryRecord::File { .. }) if !overwrite => {
                return Ok(Err(OpError::Exists));
            }
            Some(EntryRecord::File { object: old_id }) => {
                if let Some(old) = self.supersede(&old_id, &id, at)? {
                    out.garbage.extend(old.segments.clone());
                    out.replaced = Some(old);
                }
            }
            None => {}
        }
        let mut obj = self.object_named(from_key, &id)?;
        obj.path = to_path.to_string();
        self.put(Table::Objects, &id, &obj)?;
        self.remove(Table::Entries, from_key)?;
        self.put(Table::Entries, to_key, &EntryRecord::File { object: id })?;
        out.object = Some(obj);
        Ok(Ok(out))
    }
}
