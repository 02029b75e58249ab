//! After a crash: agreement between the journal and the audit trail.
//!
//! The audit record of a change is written while the journal commits the
//! change (both are durable before the client hears OK), so a crash in
//! between can leave either without the other. At start-up, for the few
//! moments before the trail's last record, [`with_trail`] compares the
//! two: a change the journal holds and the trail lacks is recorded late
//! (`recovered: true`); a commit the trail recorded and the journal never
//! made durable is recorded as `commit_failed`.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use super::Namespace;
use super::upkeep::UpkeepError;
use crate::events::Event;
use crate::journal::ObjectState;

/// How far before the trail's last record a crash may have left changes
/// the journal has and the trail lacks.
const RECONCILE_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// After a crash: brings the trail and the journal into agreement for the
/// moments before the trail's last record — changes the journal committed
/// that the trail lacks are recorded late, and commits the trail recorded
/// that the journal never made durable are recorded as failed.
pub fn with_trail(
    ns: &Namespace,
    audit_dir: &std::path::Path,
    last_ts: &str,
) -> Result<u64, UpkeepError> {
    let Ok(last) = last_ts.parse::<jiff::Timestamp>() else {
        return Ok(0);
    };
    let start = last.checked_sub(RECONCILE_WINDOW).unwrap_or(last);
    let mut trail = TrailWindow::default();
    let from = crate::audit::read::first_segment_since(audit_dir, start)
        .map_err(|e| UpkeepError::Audit(e.to_string()))?;
    crate::audit::read::each(audit_dir, from, |f| {
        let field = |k: &str| {
            f.record
                .fields
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let object = field("object");
        if object.is_empty() {
            return std::ops::ControlFlow::Continue(());
        }
        match f.record.event.as_str() {
            "upload_committed" => {
                trail.uploads.insert(
                    object,
                    RecordedUpload {
                        seq: f.record.seq,
                        tenant: field("tenant"),
                        user: field("user"),
                        source: field("source"),
                        box_name: field("box"),
                        path: field("path"),
                    },
                );
            }
            "deleted" => {
                trail.removals.insert(object);
            }
            "commit_failed" | "purged" => {
                trail.settled.insert(object);
            }
            _ => {}
        }
        std::ops::ControlFlow::Continue(())
    })
    .map_err(|e| UpkeepError::Audit(e.to_string()))?;
    reconcile(ns, start, &trail)
}

/// (tenant, box, path) of a recorded upload.
type Name<'a> = (&'a str, &'a str, &'a str);

/// What the audit trail says about files in the moments before a crash.
#[derive(Debug, Default)]
pub struct TrailWindow {
    /// `upload_committed` records, by object id.
    pub uploads: HashMap<String, RecordedUpload>,
    /// Objects with a `deleted` record.
    pub removals: HashSet<String>,
    /// Objects whose story the trail already ends (`commit_failed`, `purged`).
    pub settled: HashSet<String>,
}

/// Who the trail says committed an upload, and where.
#[derive(Debug, Default)]
pub struct RecordedUpload {
    /// Sequence number of the record.
    pub seq: u64,
    pub tenant: String,
    pub user: String,
    pub source: String,
    pub box_name: String,
    pub path: String,
}

/// Reconciles, at start-up, the journal with the audit trail for the few
/// moments before the trail's last record (from `window_start`), where a
/// crash can separate a change from its record: the record of a commit is
/// written while the commit is made durable, so either may be missing.
/// A change the journal holds and the trail lacks is recorded late; a
/// commit the trail recorded and the journal does not hold is recorded as
/// `commit_failed` (its client was never told OK).
pub fn reconcile(
    ns: &Namespace,
    window_start: Timestamp,
    trail: &TrailWindow,
) -> Result<u64, UpkeepError> {
    let recorded_uploads = &trail.uploads;
    let recorded_removals = &trail.removals;
    let mut added = 0;
    for o in ns.journal.objects()? {
        let actor = crate::events::Actor {
            tenant: o.tenant.clone(),
            user: o.uploaded_by.clone(),
            source: o.source.as_deref().and_then(|s| s.parse().ok()),
            conn: None,
        };
        if o.committed_at >= window_start && !recorded_uploads.contains_key(&o.id) {
            ns.events
                .record_durable_blocking(Event::UploadCommitted {
                    actor: actor.clone(),
                    box_name: o.bx.to_string(),
                    path: o.path.clone(),
                    object: o.id.clone(),
                    size: o.size,
                    sha256: o.sha256.clone(),
                    resumed: o.segments.len() > 1,
                    recovered: true,
                })
                .map_err(|e| UpkeepError::Audit(e.to_string()))?;
            added += 1;
        }
        let removed = match &o.state {
            ObjectState::Deleted { at, by } => Some((*at, by.clone(), false)),
            ObjectState::Acknowledged { at, by } => Some((*at, by.clone(), true)),
            _ => None,
        };
        let missing =
            removed.filter(|(at, _, _)| *at >= window_start && !recorded_removals.contains(&o.id));
        if let Some((_, by, acknowledged)) = missing {
            ns.events
                .record_durable_blocking(Event::Deleted {
                    actor: crate::events::Actor {
                        user: by,
                        source: None,
                        ..actor
                    },
                    box_name: o.bx.to_string(),
                    path: o.path.clone(),
                    object: o.id.clone(),
                    acknowledged,
                    recovered: true,
                })
                .map_err(|e| UpkeepError::Audit(e.to_string()))?;
            added += 1;
        }
    }
    let accounted = |id: &str| -> Result<bool, UpkeepError> {
        Ok(trail.settled.contains(id)
            || trail.removals.contains(id)
            || ns.journal.object(id)?.is_some())
    };
    let mut by_name: HashMap<Name<'_>, Vec<(u64, &str)>> = HashMap::new();
    for (id, u) in &trail.uploads {
        by_name
            .entry((&u.tenant, &u.box_name, &u.path))
            .or_default()
            .push((u.seq, id));
    }
    for (id, u) in &trail.uploads {
        if accounted(id)? {
            continue;
        }
        // Gone because a later upload of the same name replaced it and the
        // replaced object was since forgotten (short retention periods).
        let mut superseded = false;
        for (seq, other) in by_name
            .get(&(u.tenant.as_str(), u.box_name.as_str(), u.path.as_str()))
            .into_iter()
            .flatten()
        {
            if *seq > u.seq && accounted(other)? {
                superseded = true;
                break;
            }
        }
        if superseded {
            continue;
        }
        ns.events
            .record_durable_blocking(Event::CommitFailed {
                actor: crate::events::Actor {
                    tenant: u.tenant.clone(),
                    user: u.user.clone(),
                    source: u.source.parse().ok(),
                    conn: None,
                },
                box_name: u.box_name.clone(),
                path: u.path.clone(),
                object: id.clone(),
                reason: "the daemon stopped before the journal made this commit durable; the upload was not stored and its client was not told OK".into(),
            })
            .map_err(|e| UpkeepError::Audit(e.to_string()))?;
        added += 1;
    }
    Ok(added)
}
