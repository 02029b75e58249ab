//! A segment's account and its lanes (decision 0011): what it may do where,
//! what it sees of a lane in each view, and the lane operations the views
//! turn removals and renames into.
//!
//! A lane's files are one namespace (owned by `lane:<name>`); the views
//! are filters over it, decided here from the principal and the lane's
//! configuration, never from what the client typed: `/send/<lane>` shows
//! the account's own files on a lane it sends on, `/receive/<lane>` the
//! delivered files of a lane it receives from, `/approve/<lane>` the
//! files waiting for its approval that it did not send. Nothing here
//! reaches a municipality's boxes: a segment's account has none.

use jiff::Timestamp;

use super::path::{APPROVED, REJECTED, View};
use super::{EntryInfo, Namespace, NsError, NsPath, Principal};
use crate::events::{Event, LaneFile};
use crate::policy::Operation;
use renkei_config::{Config, Lane};
use renkei_storage::journal::{
    self, ApplyError, BoxKind, EntryRecord, LaneOp, ObjectRecord, ObjectState, Op, OpError,
};

/// Why a lane operation is refused: what the client is told (no policy
/// rule decides on a lane, so there is no rule to name).
type Refusal = String;

fn refusal(reason: String) -> Refusal {
    reason
}

/// The lane `name` as `who` may use it in `view`, or why not.
pub(crate) fn lane_for<'a>(
    config: &'a Config,
    who: &Principal,
    view: View,
    name: &str,
) -> Result<&'a Lane, Refusal> {
    let segment = who.segment().unwrap_or_default();
    let lane = config
        .lane(name)
        .ok_or_else(|| refusal(format!("there is no lane {name:?}")))?;
    let user = who.user.as_str();
    let may = match view {
        View::Send => lane.from == segment && lane.senders.iter().any(|u| u == user),
        View::Receive => lane.to == segment && lane.receivers.iter().any(|u| u == user),
        View::Approve => {
            (lane.from == segment || lane.to == segment) && lane.approvers.iter().any(|u| u == user)
        }
    };
    if may {
        Ok(lane)
    } else {
        Err(refusal(format!(
            "{user} does not {} on lane {name}",
            match view {
                View::Send => "send",
                View::Receive => "receive",
                View::Approve => "approve",
            }
        )))
    }
}

/// The lanes `who` has in `view`, in configuration order.
pub(crate) fn lanes_in<'a>(config: &'a Config, who: &Principal, view: View) -> Vec<&'a Lane> {
    config
        .lanes
        .iter()
        .filter(|l| lane_for(config, who, view, &l.name).is_ok())
        .collect()
}

/// Whether `who` sees `o` in `view` (its lane already allowed).
pub(crate) fn sees_in(view: View, who: &Principal, o: &ObjectRecord) -> bool {
    match view {
        View::Send => o.uploaded_by == who.user,
        View::Receive => o.state == ObjectState::Stored,
        View::Approve => match &o.state {
            ObjectState::AwaitingApproval { approvals, .. } => {
                o.uploaded_by != who.user && !approvals.iter().any(|a| a.by == who.user)
            }
            _ => false,
        },
    }
}

/// Decides `op` on `path` for `user`, an account of `segment`, from
/// `from`, for `renkei policy explain`: `Err` is the reason it is refused.
pub fn explain(
    config: &Config,
    segment: &str,
    user: &str,
    from: std::net::IpAddr,
    op: Operation,
    path: &NsPath,
    size: Option<u64>,
) -> Result<(), String> {
    let who = Principal {
        scope: super::Scope::Segment(segment.to_string()),
        user: user.to_string(),
        role: crate::policy::Role::Account,
        source: Some(from),
        conn: None,
        protocol: crate::policy::Protocol::Sftp,
    };
    decide(config, &who, op, path, size)
}

// Long: the table of what a segment's account may do on each kind of
// location, kept in one place so that it can be read as one.

/// Decides `op` on `path` for a segment's account.
pub(crate) fn decide(
    config: &Config,
    who: &Principal,
    op: Operation,
    path: &NsPath,
    size: Option<u64>,
) -> Result<(), Refusal> {
    let look = matches!(op, Operation::List | Operation::Read);
    let read_only = |what: &str| refusal(format!("{what} is read-only"));
    match path {
        NsPath::Root | NsPath::Lanes { lane: None, .. } if look => Ok(()),
        NsPath::Receipts | NsPath::Receipt(_) if look => Ok(()),
        NsPath::Root | NsPath::Lanes { lane: None, .. } => Err(read_only("the top level")),
        NsPath::Receipts | NsPath::Receipt(_) => Err(read_only("/receipts")),
        NsPath::Lanes {
            view,
            lane: Some(l),
        } => {
            lane_for(config, who, *view, l)?;
            if look {
                Ok(())
            } else {
                Err(refusal(format!(
                    "/{}/{l} holds the lane's files; it cannot be changed",
                    view.name()
                )))
            }
        }
        NsPath::LaneFile { view, lane, name } => {
            let l = lane_for(config, who, *view, lane)?;
            match (view, op) {
                (_, Operation::List | Operation::Read) => Ok(()),
                (View::Send, Operation::Upload) => may_send(l, who, name, size),
                (View::Send | View::Receive, Operation::Delete) => Ok(()),
                (View::Approve, Operation::Rename) => Ok(()),
                (View::Approve, _) => Err(refusal(format!(
                    "approve or reject by renaming into /approve/{lane}/{APPROVED}/ or to /approve/{lane}/{REJECTED}/<reason>"
                ))),
                (View::Receive, _) => Err(refusal(format!(
                    "files on /receive/{lane} can be read and, once received, deleted"
                ))),
                (View::Send, _) => Err(refusal(format!(
                    "files on /send/{lane} can be sent, read and withdrawn (deleted) before delivery"
                ))),
            }
        }
        NsPath::Decision { lane, .. } => {
            lane_for(config, who, View::Approve, lane)?;
            if look || op == Operation::Rename {
                Ok(())
            } else {
                Err(refusal(format!(
                    "rename a file from /approve/{lane}/ into here to decide on it"
                )))
            }
        }
        NsPath::Box(_) | NsPath::Entry { .. } => Err(refusal(
            "a segment's account has no boxes: files cross between networks only through lanes"
                .into(),
        )),
    }
}

fn may_send(l: &Lane, who: &Principal, name: &str, size: Option<u64>) -> Result<(), Refusal> {
    if !l.patterns.is_empty() && !l.patterns.iter().any(|p| p.matches(name, &who.owner())) {
        let allowed: Vec<&str> = l.patterns.iter().map(|p| p.as_str()).collect();
        return Err(refusal(format!(
            "lane {} takes files named {}, not {name:?}",
            l.name,
            allowed.join(", ")
        )));
    }
    if let (Some(max), Some(size)) = (l.max_file_size, size)
        && size > max
    {
        return Err(refusal(format!(
            "lane {} takes files of at most {max} bytes (max_file_size)",
            l.name
        )));
    }
    Ok(())
}

/// How a lane event names `o`.
pub(crate) fn lane_file(o: &ObjectRecord) -> LaneFile {
    LaneFile {
        lane: o.lane().unwrap_or(&o.tenant).to_string(),
        name: o.path.clone(),
        object: o.id.clone(),
        size: o.size,
        sha256: o.sha256.clone(),
        sender: o.uploaded_by.clone(),
    }
}

/// What an approver is shown of a file before deciding on it.
#[derive(Debug, Clone)]
pub struct LaneFacts {
    pub sender: String,
    pub sent_at: Timestamp,
    /// The checks it passed (`virus`, `type`, `format:<rule>`), and the
    /// scanner's version when it was scanned.
    pub checks: Vec<String>,
    pub scanner: Option<String>,
    /// Approvals it has so far.
    pub approvals: Vec<String>,
}

/// The object a lane path names, if `who` sees it in that view.
fn visible(ns: &Namespace, who: &Principal, path: &NsPath) -> Result<ObjectRecord, NsError> {
    let not_found = || NsError::NotFound {
        path: path.to_string(),
    };
    let (NsPath::LaneFile { view, .. }, Some(k)) = (path, super::keys_of(who, path)) else {
        return Err(not_found());
    };
    let Some(EntryRecord::File { object }) = ns.journal.entry(&k.entry)? else {
        return Err(not_found());
    };
    match ns.journal.object(&object)? {
        Some(o) if sees_in(*view, who, &o) => Ok(o),
        _ => Err(not_found()),
    }
}

impl Namespace {
    /// The sender, checks and approvals of a lane file `who` sees.
    pub fn lane_facts(&self, who: &Principal, path: &NsPath) -> Result<LaneFacts, NsError> {
        let o = visible(self, who, path)?;
        let approvals = match &o.state {
            ObjectState::AwaitingApproval { approvals, .. } => {
                approvals.iter().map(|a| a.by.clone()).collect()
            }
            _ => Vec::new(),
        };
        Ok(LaneFacts {
            sender: o.uploaded_by.clone(),
            sent_at: o.committed_at,
            checks: o.check.as_ref().map(|c| c.ran.clone()).unwrap_or_default(),
            scanner: o.check.as_ref().and_then(|c| c.scanner.clone()),
            approvals,
        })
    }

    /// `stat` of a lane location.
    pub(crate) fn lane_stat(&self, who: &Principal, path: &NsPath) -> Result<EntryInfo, NsError> {
        match path {
            NsPath::Lanes { view, lane: None } => Ok(EntryInfo::dir(view.name(), self.started)),
            NsPath::Lanes { lane: Some(l), .. } => Ok(EntryInfo::dir(l, self.started)),
            NsPath::Decision {
                approve,
                text: None,
                ..
            } => Ok(EntryInfo::dir(
                if *approve { APPROVED } else { REJECTED },
                self.started,
            )),
            NsPath::LaneFile { name, .. } => {
                let o = visible(self, who, path)?;
                Ok(EntryInfo::file(name, &o))
            }
            _ => Err(NsError::NotFound {
                path: path.to_string(),
            }),
        }
    }

    /// The top level a segment's account sees: the views it has lanes in,
    /// and its receipts.
    pub(crate) fn segment_top(&self, who: &Principal) -> Vec<EntryInfo> {
        let snap = self.live.get();
        let mut top: Vec<EntryInfo> = View::ALL
            .into_iter()
            .filter(|v| !lanes_in(&snap.config, who, *v).is_empty())
            .map(|v| EntryInfo::dir(v.name(), self.started))
            .collect();
        top.push(EntryInfo::dir(
            super::path::RECEIPTS,
            self.receipts_mtime(who),
        ));
        top
    }

    /// Listing of a lane location.
    pub(crate) fn lane_list(
        &self,
        who: &Principal,
        path: &NsPath,
    ) -> Result<Vec<EntryInfo>, NsError> {
        let snap = self.live.get();
        match path {
            NsPath::Lanes { view, lane: None } => Ok(lanes_in(&snap.config, who, *view)
                .into_iter()
                .map(|l| EntryInfo::dir(&l.name, self.started))
                .collect()),
            NsPath::Lanes {
                view,
                lane: Some(l),
            } => {
                let owner = journal::lane_owner(l);
                let prefix = journal::dir_prefix(&owner, BoxKind::Inbox, "");
                let mut out = Vec::new();
                if *view == View::Approve {
                    out.push(EntryInfo::dir(APPROVED, self.started));
                    out.push(EntryInfo::dir(REJECTED, self.started));
                }
                for (name, _, object) in self.journal.list_resolved(&prefix)? {
                    if let Some(o) = object.filter(|o| sees_in(*view, who, o)) {
                        out.push(EntryInfo::file(&name, &o));
                    }
                }
                Ok(out)
            }
            NsPath::Decision { text: None, .. } => Ok(Vec::new()),
            _ => Err(NsError::NotDir {
                path: path.to_string(),
            }),
        }
    }

    /// A removal on a lane: the sender withdraws a file not yet delivered;
    /// a receiver acknowledges (受領) a delivered one.
    pub(crate) async fn lane_remove(&self, who: &Principal, path: &NsPath) -> Result<(), NsError> {
        let shown = path.to_string();
        let NsPath::LaneFile { view, .. } = path else {
            return Err(NsError::NotFound { path: shown });
        };
        let o = visible(self, who, path)?;
        let (actor, file, at) = (who.actor(), lane_file(&o), Timestamp::now());
        let (op, event) = match view {
            View::Send => (
                LaneOp::Withdraw {
                    id: o.id.clone(),
                    by: who.user.clone(),
                    at,
                },
                Event::LaneWithdrawn { actor, file },
            ),
            View::Receive => (
                LaneOp::Acknowledge {
                    id: o.id.clone(),
                    by: who.user.clone(),
                    at,
                },
                Event::LaneAcknowledged { actor, file },
            ),
            View::Approve => {
                return Err(NsError::Denied {
                    path: shown,
                    reason: "an approver decides by renaming, not by deleting".into(),
                });
            }
        };
        match self
            .apply_recorded(Op::Lane(op), move |_| Some(event))
            .await
        {
            Ok(out) => {
                self.discard(&out.garbage);
                Ok(())
            }
            Err(ApplyError::Op(OpError::Stale)) => Err(NsError::Conflict {
                path: shown,
                reason: match view {
                    View::Send => {
                        "it has been delivered already: only its receivers can take it now".into()
                    }
                    _ => "it is no longer waiting to be received".into(),
                },
            }),
            Err(e) => Err(NsError::from_apply(e, &shown)),
        }
    }

    /// An approver's decision: a rename from `/approve/<lane>/NAME` into
    /// `approved/` approves it, to `rejected/<reason>` rejects it. A
    /// decision that is refused (a rejection without a reason, a file
    /// that is not the approver's to decide, one decided meanwhile) is
    /// recorded as a refusal, whatever door it came through.
    pub(crate) async fn lane_decide(
        &self,
        who: &Principal,
        from: &NsPath,
        to: &NsPath,
    ) -> Result<(), NsError> {
        match self.lane_decision(who, from, to).await {
            Ok(()) => Ok(()),
            Err(e @ NsError::Storage(_)) => Err(e),
            Err(e) => {
                let op = match to {
                    NsPath::Decision { approve: false, .. } => "reject",
                    _ => "approve",
                };
                Err(self.refuse(who, op, &from.to_string(), e))
            }
        }
    }

    async fn lane_decision(
        &self,
        who: &Principal,
        from: &NsPath,
        to: &NsPath,
    ) -> Result<(), NsError> {
        let shown = from.to_string();
        let (
            NsPath::LaneFile {
                view: View::Approve,
                lane,
                ..
            },
            NsPath::Decision {
                lane: to_lane,
                approve,
                text,
            },
        ) = (from, to)
        else {
            return Err(NsError::Denied {
                path: shown,
                reason: "on a lane, the only rename is an approver's decision: from /approve/<lane>/NAME into /approve/<lane>/approved/ or to /approve/<lane>/rejected/<reason>".into(),
            });
        };
        if lane != to_lane {
            return Err(NsError::Denied {
                path: shown,
                reason: "a decision stays on the file's own lane".into(),
            });
        }
        let snap = self.live.get();
        let needed = lane_for(&snap.config, who, View::Approve, lane)
            .map_err(|r| NsError::Denied {
                path: shown.clone(),
                reason: r,
            })?
            .approvals;
        let o = visible(self, who, from)?;
        let (actor, file, at) = (who.actor(), lane_file(&o), Timestamp::now());
        let op = if *approve {
            LaneOp::Approve {
                id: o.id.clone(),
                by: who.user.clone(),
                at,
                needed,
            }
        } else {
            let reason = text.clone().unwrap_or_default();
            if reason.trim().is_empty() {
                return Err(NsError::Denied {
                    path: to.to_string(),
                    reason: format!(
                        "a rejection needs a reason: rename to /approve/{lane}/{REJECTED}/<reason>"
                    ),
                });
            }
            LaneOp::Reject {
                id: o.id.clone(),
                by: who.user.clone(),
                at,
                reason,
            }
        };
        let record = move |out: &journal::Outcome| {
            let now = out.object.as_ref()?;
            Some(match (&now.state, &now.delivered) {
                (ObjectState::Stored, Some(d)) => Event::LaneDelivered {
                    by: Some(actor),
                    file,
                    approved_by: d.approvals.iter().map(|a| a.by.clone()).collect(),
                },
                (ObjectState::AwaitingApproval { approvals, .. }, _) => Event::LaneApproved {
                    actor,
                    file,
                    approvals: approvals.len(),
                    needed,
                },
                _ => Event::LaneRejected {
                    actor,
                    file,
                    reason: now
                        .check
                        .as_ref()
                        .and_then(|c| c.reason.clone())
                        .unwrap_or_default(),
                },
            })
        };
        match self.apply_recorded(Op::Lane(op), record).await {
            Ok(_) => Ok(()),
            Err(ApplyError::Op(OpError::Stale)) => Err(NsError::Conflict {
                path: shown,
                reason: "it is no longer waiting for your approval".into(),
            }),
            Err(e) => Err(NsError::from_apply(e, &shown)),
        }
    }
}
