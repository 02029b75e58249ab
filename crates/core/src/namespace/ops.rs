//! Namespace operations other than transfers: stat, list, mkdir, rmdir,
//! remove, rename, set times.

use jiff::Timestamp;

use super::{Namespace, NsError, NsPath, Principal};
use crate::events::Event;
use crate::policy::{Operation, Role};
use renkei_storage::journal::{self, BoxKind, EntryRecord, ObjectRecord, ObjectState, Op};

/// File or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
}

/// What a client or operator sees of a name.
#[derive(Debug, Clone)]
pub struct EntryInfo {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    /// Unix seconds.
    pub mtime: i64,
    /// `dir`, `stored`, `acknowledged`, `partial` (an interrupted upload) or
    /// `uploading`; the last two are shown to their uploader only.
    pub state: &'static str,
    pub sha256: Option<String>,
    pub object: Option<String>,
    pub committed_at: Option<Timestamp>,
}

impl EntryInfo {
    pub fn dir(name: &str, mtime: i64) -> EntryInfo {
        EntryInfo {
            name: name.to_string(),
            kind: EntryKind::Dir,
            size: 0,
            mtime,
            state: "dir",
            sha256: None,
            object: None,
            committed_at: None,
        }
    }

    pub(crate) fn file(name: &str, o: &ObjectRecord) -> EntryInfo {
        EntryInfo {
            name: name.to_string(),
            kind: EntryKind::File,
            size: o.size,
            mtime: o.mtime,
            state: o.state.label(),
            sha256: Some(o.sha256.clone()),
            object: Some(o.id.clone()),
            committed_at: Some(o.committed_at),
        }
    }

    /// A file its uploader is writing right now.
    fn uploading(name: &str, size: u64) -> EntryInfo {
        EntryInfo {
            name: name.to_string(),
            kind: EntryKind::File,
            size,
            mtime: Timestamp::now().as_second(),
            state: "uploading",
            sha256: None,
            object: None,
            committed_at: None,
        }
    }

    pub(super) fn partial(name: &str, p: &journal::PartialRecord) -> EntryInfo {
        EntryInfo {
            name: name.to_string(),
            kind: EntryKind::File,
            size: p.size,
            mtime: p.updated_at.as_second(),
            state: "partial",
            sha256: None,
            object: None,
            committed_at: None,
        }
    }
}

/// Journal keys of a location: the entry itself, its parent directory
/// entry (`None` at the top of a box) and the principal's partial upload.
/// Every key the core uses is built here, from the principal's tenant,
/// never from client input.
pub(crate) struct Keys {
    /// Whose keys they are: a tenant code, or `lane:<name>`.
    pub owner: String,
    pub bx: BoxKind,
    pub rel: String,
    pub entry: String,
    pub parent: Option<String>,
    /// Where the principal's own interrupted upload of this name is kept.
    pub partial: String,
}

pub(crate) fn keys(who: &Principal, path: &NsPath) -> Option<Keys> {
    if let NsPath::LaneFile { lane, name, .. } = path {
        // Every view of a lane names the same file: the lane's own key,
        // never the principal's.
        who.segment()?;
        let owner = journal::lane_owner(lane);
        return Some(Keys {
            bx: BoxKind::Inbox,
            rel: name.clone(),
            entry: journal::entry_key(&owner, BoxKind::Inbox, "", name),
            parent: None,
            partial: journal::partial_key(&owner, BoxKind::Inbox, name, &who.user),
            owner,
        });
    }
    let NsPath::Entry { bx, parent, name } = path else {
        return None;
    };
    let tenant = who.tenant()?.as_str();
    let parent_key = if parent.is_empty() {
        None
    } else {
        let (pp, pn) = parent.rsplit_once('/').unwrap_or(("", parent.as_str()));
        Some(journal::entry_key(tenant, *bx, pp, pn))
    };
    let rel = path.rel();
    Some(Keys {
        owner: tenant.to_string(),
        bx: *bx,
        partial: journal::partial_key(tenant, *bx, &rel, &who.user),
        rel,
        entry: journal::entry_key(tenant, *bx, parent, name),
        parent: parent_key,
    })
}

impl Namespace {
    /// The SHA-256 of the committed file at `path`, if a file is there.
    /// Routes that bring a file in ask this to tell "already imported"
    /// from "another file of that name is still waiting"; no permission
    /// is checked because the route, not a client, is asking.
    pub fn stored_sha256(&self, who: &Principal, path: &NsPath) -> Result<Option<String>, NsError> {
        let Some(k) = keys(who, path) else {
            return Ok(None);
        };
        Ok(match self.journal.entry(&k.entry)? {
            Some(EntryRecord::File { object }) => self.journal.object(&object)?.map(|o| o.sha256),
            _ => None,
        })
    }

    /// Attributes of a location. An upload in progress or interrupted
    /// shadows a committed file of the same name for its uploader, so that
    /// `stat` tells a writing or resuming client how many bytes are kept.
    pub fn stat(&self, who: &Principal, path: &NsPath) -> Result<EntryInfo, NsError> {
        self.allow(who, Operation::Read, path)?;
        match path {
            NsPath::Receipts => {
                return Ok(EntryInfo::dir(
                    super::path::RECEIPTS,
                    self.receipts_mtime(who),
                ));
            }
            NsPath::Receipt(name) => return Ok(self.receipt(who, name)?.info()),
            NsPath::Lanes { .. } | NsPath::LaneFile { .. } | NsPath::Decision { .. } => {
                return self.lane_stat(who, path);
            }
            _ => {}
        }
        let Some(k) = keys(who, path) else {
            let name = path.box_kind().map_or("/", BoxKind::name);
            return Ok(EntryInfo::dir(name, self.started));
        };
        let NsPath::Entry { name, .. } = path else {
            return Err(NsError::NotFound {
                path: path.to_string(),
            });
        };
        if who.role == Role::Account {
            let pk = k.partial.clone();
            if let Some(size) = self.active_size(&pk) {
                return Ok(EntryInfo::uploading(name, size));
            }
            if let Some(p) = self.journal.partial(&pk)? {
                return Ok(EntryInfo::partial(name, &p));
            }
        }
        match self.journal.entry(&k.entry)? {
            Some(EntryRecord::Dir { created, .. }) => Ok(EntryInfo::dir(name, created.as_second())),
            Some(EntryRecord::File { object }) => {
                let o = self.journal.object(&object)?.ok_or_else(|| {
                    NsError::Storage(format!("object {object} of {path} is missing"))
                })?;
                if !super::access::sees(who, &o) {
                    return Err(NsError::NotFound {
                        path: path.to_string(),
                    });
                }
                Ok(EntryInfo::file(name, &o))
            }
            None => Err(NsError::NotFound {
                path: path.to_string(),
            }),
        }
    }

    /// The entries of a directory, in name order.
    pub fn list(&self, who: &Principal, path: &NsPath) -> Result<Vec<EntryInfo>, NsError> {
        self.allow(who, Operation::List, path)?;
        match path {
            NsPath::Receipts => {
                return Ok(self.receipts(who)?.iter().map(|r| r.info()).collect());
            }
            NsPath::Receipt(_) => {
                return Err(NsError::NotDir {
                    path: path.to_string(),
                });
            }
            NsPath::Lanes { .. } | NsPath::LaneFile { .. } | NsPath::Decision { .. } => {
                return self.lane_list(who, path);
            }
            _ => {}
        }
        let Some((bx, dir)) = path.as_dir() else {
            if who.tenant().is_none() {
                // A segment's account: its views, no boxes.
                return Ok(self.segment_top(who));
            }
            let mut top: Vec<EntryInfo> = BoxKind::ALL
                .iter()
                .map(|b| EntryInfo::dir(b.name(), self.started))
                .collect();
            top.push(EntryInfo::dir(
                super::path::RECEIPTS,
                self.receipts_mtime(who),
            ));
            return Ok(top);
        };
        if let Some(k) = keys(who, path) {
            match self.journal.entry(&k.entry)? {
                Some(EntryRecord::Dir { .. }) => {}
                Some(EntryRecord::File { .. }) => {
                    return Err(NsError::NotDir {
                        path: path.to_string(),
                    });
                }
                None => {
                    return Err(NsError::NotFound {
                        path: path.to_string(),
                    });
                }
            }
        }
        let prefix = journal::dir_prefix(&who.owner(), bx, &dir);
        let mut out = Vec::new();
        for (name, entry, object) in self.journal.list_resolved(&prefix)? {
            match (entry, object) {
                (EntryRecord::Dir { created, .. }, _) => {
                    out.push(EntryInfo::dir(&name, created.as_second()))
                }
                (EntryRecord::File { .. }, Some(o)) => {
                    if super::access::sees(who, &o) {
                        out.push(EntryInfo::file(&name, &o));
                    }
                }
                (EntryRecord::File { object }, None) => {
                    tracing::error!(
                        object,
                        name,
                        "journal entry names a missing object; not listed"
                    );
                }
            }
        }
        Ok(out)
    }

    fn entry_keys(&self, who: &Principal, path: &NsPath, what: &str) -> Result<Keys, NsError> {
        keys(who, path).ok_or_else(|| NsError::Denied {
            path: path.to_string(),
            reason: format!("{what} is not possible on / or on a box itself"),
        })
    }

    pub async fn mkdir(&self, who: &Principal, path: &NsPath) -> Result<(), NsError> {
        self.allow(who, Operation::Mkdir, path)?;
        let Some(k) = keys(who, path) else {
            return Err(NsError::Exists {
                path: path.to_string(),
            });
        };
        let op = Op::Mkdir {
            key: k.entry,
            parent_key: k.parent,
            record: EntryRecord::Dir {
                created: Timestamp::now(),
                created_by: who.user.clone(),
            },
        };
        let event = Event::DirCreated {
            actor: who.actor(),
            box_name: k.bx.to_string(),
            path: k.rel,
        };
        self.apply_recorded(op, move |_| Some(event))
            .await
            .map_err(|e| NsError::from_apply(e, &path.to_string()))?;
        Ok(())
    }

    pub async fn rmdir(&self, who: &Principal, path: &NsPath) -> Result<(), NsError> {
        self.allow(who, Operation::Rmdir, path)?;
        let k = self.entry_keys(who, path, "removing")?;
        let op = Op::Rmdir {
            key: k.entry,
            children_prefix: journal::dir_prefix(&who.owner(), k.bx, &k.rel),
        };
        let event = Event::DirRemoved {
            actor: who.actor(),
            box_name: k.bx.to_string(),
            path: k.rel,
        };
        self.apply_recorded(op, move |_| Some(event))
            .await
            .map_err(|e| NsError::from_apply(e, &path.to_string()))?;
        Ok(())
    }

    /// Removes a file. In the outbox this is the tenant's acknowledgement
    /// that it received the file. The remover's own interrupted upload of
    /// the same name goes too. An inbox file a route has handed on stays
    /// until retention purges it: it is the evidence behind its receipt
    /// (docs/routes.md); one still queued may go, and its hand-off is
    /// cancelled.
    pub async fn remove(&self, who: &Principal, path: &NsPath) -> Result<(), NsError> {
        self.allow(who, Operation::Delete, path)?;
        if path.lane().is_some() {
            return self.lane_remove(who, path).await;
        }
        let k = self.entry_keys(who, path, "removing")?;
        let now = Timestamp::now();
        let state = match k.bx {
            BoxKind::Inbox => ObjectState::Deleted {
                at: now,
                by: who.user.clone(),
            },
            BoxKind::Outbox => ObjectState::Acknowledged {
                at: now,
                by: who.user.clone(),
            },
        };
        let pk = k.partial.clone();
        if self.is_active(&pk) {
            return Err(NsError::Conflict {
                path: path.to_string(),
                reason: "is being uploaded by another of your sessions".into(),
            });
        }
        if let Some(EntryRecord::File { object }) = self.journal.entry(&k.entry)?
            && let Some(o) = self.journal.object(&object)?
            && !super::access::sees(who, &o)
        {
            return Err(NsError::NotFound {
                path: path.to_string(),
            });
        }
        let inbox_routes = match k.bx {
            BoxKind::Inbox => self.routes_from(BoxKind::Inbox),
            BoxKind::Outbox => Vec::new(),
        };
        let (actor, bx, rel) = (who.actor(), k.bx, k.rel.clone());
        let note = self.events.note(move |results| {
            let object = results.first()?.as_ref().ok()?.object.as_ref()?;
            Some(Event::Deleted {
                actor,
                box_name: bx.to_string(),
                path: rel,
                object: object.id.clone(),
                acknowledged: bx == BoxKind::Outbox,
            })
        });
        let results = self
            .journal
            .apply_noted(
                vec![
                    Op::RemoveFile {
                        entry_key: k.entry,
                        state,
                        unless_delivered_by: inbox_routes,
                    },
                    Op::DropPartial {
                        key: pk,
                        if_updated_at: None,
                    },
                ],
                note,
            )
            .await?;
        let mut removed = None;
        let shown = path.to_string();
        let mut results = results.into_iter();
        match results.next() {
            Some(Ok(out)) => {
                self.discard(&out.garbage);
                removed = Some(out.object);
            }
            Some(Err(journal::OpError::NotFound)) | None => {}
            Some(Err(e @ journal::OpError::HandedOn)) => {
                let err = NsError::from_op(e, &shown);
                return Err(self.refuse(who, "delete", &shown, err));
            }
            Some(Err(e)) => return Err(NsError::from_op(e, &shown)),
        }
        if let Some(Ok(out)) = results.next() {
            self.discard(&out.garbage);
            removed.get_or_insert(None);
        }
        match removed {
            None => Err(NsError::NotFound { path: shown }),
            Some(_) => Ok(()),
        }
    }

    /// Renames a file within its box. `overwrite` replaces an existing
    /// target (posix-rename); otherwise an existing target is an error.
    pub async fn rename(
        &self,
        who: &Principal,
        from: &NsPath,
        to: &NsPath,
        overwrite: bool,
    ) -> Result<(), NsError> {
        self.allow(who, Operation::Rename, from)?;
        self.allow(who, Operation::Rename, to)?;
        if from.lane().is_some() || to.lane().is_some() {
            return self.lane_decide(who, from, to).await;
        }
        let f = self.entry_keys(who, from, "renaming")?;
        let t = self.entry_keys(who, to, "renaming")?;
        let moved = self.allow_new_name(who, from, to, &f.entry)?;
        if f.bx != t.bx {
            return Err(self.refuse(
                who,
                "rename",
                &from.to_string(),
                NsError::Denied {
                    path: from.to_string(),
                    reason: format!("files cannot move between boxes ({} → {})", f.bx, t.bx),
                },
            ));
        }
        let now = Timestamp::now();
        let mut ops = vec![Op::Rename {
            from_key: f.entry,
            to_key: t.entry.clone(),
            to_parent_key: t.parent,
            to_path: t.rel.clone(),
            overwrite,
            at: now,
        }];
        let new_name = t.rel.rsplit('/').next().unwrap_or(&t.rel);
        let recheck = moved.filter(|o| {
            o.state == ObjectState::Stored
                && super::checking::renamed_needs_check(&self.live.get(), o, new_name)
        });
        if let Some(o) = &recheck {
            // Only if the rename itself took place (the entry then names
            // the object), in the same transaction.
            ops.push(Op::Checks(journal::ChecksOp::Recheck {
                id: o.id.clone(),
                entry_key: t.entry,
                at: now,
            }));
        }
        let (actor, bx, from_rel, to_rel) = (who.actor(), f.bx, f.rel, t.rel);
        let note = self.events.note(move |results| {
            let out = results.first()?.as_ref().ok()?;
            Some(Event::Renamed {
                actor,
                box_name: bx.to_string(),
                from: from_rel,
                to: to_rel,
                replaced: out.replaced.is_some(),
            })
        });
        let results = self.journal.apply_noted(ops, note).await?;
        if let (Some(o), Some(Ok(_))) = (&recheck, results.get(1)) {
            self.checking.push(o.id.clone(), o.tenant.clone());
        }
        let first = match results.into_iter().next() {
            Some(r) => r.map_err(journal::ApplyError::Op),
            None => Err(journal::ApplyError::Journal(
                journal::JournalError::WriterGone,
            )),
        };
        let out = match first {
            Ok(out) => out,
            Err(journal::ApplyError::Op(journal::OpError::IsDir)) => {
                return Err(NsError::Unsupported(format!(
                    "{from} or {to} is a directory: renaming directories, or over them, is not supported"
                )));
            }
            Err(journal::ApplyError::Op(journal::OpError::Exists)) => {
                return Err(NsError::Exists {
                    path: to.to_string(),
                });
            }
            Err(e) => return Err(NsError::from_apply(e, &from.to_string())),
        };
        self.discard(&out.garbage);
        Ok(())
    }

    /// A file may be renamed only to a name it could have been uploaded
    /// under, at its size: the name, size and suffix rules hold for the
    /// name a file ends up with, whatever operation gives it that name.
    /// Returns the file being moved.
    fn allow_new_name(
        &self,
        who: &Principal,
        from: &NsPath,
        to: &NsPath,
        from_key: &str,
    ) -> Result<Option<ObjectRecord>, NsError> {
        let moved = match self.journal.entry(from_key)? {
            Some(EntryRecord::File { object }) => match self.journal.object(&object)? {
                Some(o) if !super::access::sees(who, &o) => {
                    return Err(NsError::NotFound {
                        path: from.to_string(),
                    });
                }
                o => o,
            },
            // A directory or nothing: the rename itself says why not.
            _ => return Ok(None),
        };
        let snap = self.live.get();
        let size = moved.as_ref().map(|o| o.size);
        match self.decide(&snap, who, Operation::Upload, to, size) {
            Ok(()) => Ok(moved),
            Err(r) => Err(self.refused(
                who,
                Operation::Rename,
                to,
                super::access::Refusal {
                    reason: format!(
                        "{from} cannot be renamed to {to}: a file may only take a name it could be uploaded under ({})",
                        r.reason
                    ),
                    rule: r.rule,
                },
            )),
        }
    }

    /// Sets a committed file's modification time.
    pub async fn set_mtime(
        &self,
        who: &Principal,
        path: &NsPath,
        mtime: i64,
    ) -> Result<(), NsError> {
        self.allow(who, Operation::Upload, path)?;
        // A lane keeps the time its sender uploaded at: clients that set
        // times after an upload are not refused, and nothing changes.
        if path.lane().is_some() {
            return Ok(());
        }
        let Some(k) = keys(who, path) else {
            return Ok(());
        };
        let (actor, bx, rel) = (who.actor(), k.bx, k.rel);
        let record = move |out: &journal::Outcome| {
            out.object.as_ref()?;
            Some(Event::TimesChanged {
                actor,
                box_name: bx.to_string(),
                path: rel,
                mtime,
            })
        };
        self.apply_recorded(
            Op::SetMtime {
                entry_key: k.entry,
                mtime,
            },
            record,
        )
        .await
        .map_err(|e| NsError::from_apply(e, &path.to_string()))?;
        Ok(())
    }
}
