//! Keeping storage and journal in agreement: start-up recovery and the
//! expiry of partial uploads.
//!
//! The journal is the truth. At start, before any session can write, every
//! blob that no live record names is garbage left by a crash (an upload in
//! flight, a delete between commit and unlink) and is removed; a blob that a
//! record names but that is missing is reported loudly, because that is
//! data loss.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;

use super::Namespace;
use crate::events::Event;
use renkei_storage::journal::{JournalError, ObjectState, Op, OpError};
use renkei_storage::vault::VaultError;

/// What start-up recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub committed_files: u64,
    pub partials: u64,
    pub orphan_blobs_removed: u64,
    pub missing_blobs: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpkeepError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("the audit trail cannot be written: {0}")]
    Audit(String),
}

/// Removes orphaned blobs. Must run before the first session starts.
pub fn recover(ns: &Namespace) -> Result<RecoveryReport, UpkeepError> {
    let mut report = RecoveryReport::default();
    let mut live = HashSet::new();
    for o in ns.journal.objects()? {
        if o.state.keeps_blobs() {
            if o.state == renkei_storage::journal::ObjectState::Stored {
                report.committed_files += 1;
            }
            live.extend(o.segments.into_iter().map(|s| s.blob));
        }
    }
    for (_, p) in ns.journal.partials("")? {
        report.partials += 1;
        live.extend(p.segments.into_iter().map(|s| s.blob));
    }
    let (on_disk, strays) = ns.vault.scan()?;
    let present: HashSet<&String> = on_disk.iter().collect();
    for blob in &on_disk {
        if !live.contains(blob) {
            ns.vault.remove(blob)?;
            report.orphan_blobs_removed += 1;
        }
    }
    for stray in strays {
        tracing::warn!(path = %stray, "unexpected file in the vault directory; left alone");
    }
    let mut missing: Vec<String> = live
        .iter()
        .filter(|b| !present.contains(b))
        .cloned()
        .collect();
    missing.sort();
    for blob in &missing {
        tracing::error!(
            blob,
            "a blob named by the journal is missing from the vault: its file cannot be read"
        );
    }
    report.missing_blobs = missing;
    Ok(report)
}

/// Drops partials not touched for `limits.partial_expiry`. Returns how
/// many went.
pub fn expire_partials(ns: &Arc<Namespace>, now: Timestamp) -> Result<u64, UpkeepError> {
    let expiry = jiff::SignedDuration::try_from(ns.limits.partial_expiry)
        .unwrap_or(jiff::SignedDuration::MAX);
    let mut expired = 0;
    for (key, p) in ns.journal.partials("")? {
        let Ok(deadline) = p.updated_at.checked_add(expiry) else {
            continue;
        };
        if deadline > now {
            continue;
        }
        // An upload resuming it right now wins.
        let Some(_guard) = ns.claim(&key) else {
            continue;
        };
        match ns.journal.apply_one_blocking(Op::DropPartial {
            key,
            if_updated_at: Some(p.updated_at),
        }) {
            Ok(out) => {
                ns.discard(&out.garbage);
                expired += 1;
                ns.events.record(Event::PartialExpired {
                    tenant: p.tenant.clone(),
                    user: p.account.clone(),
                    box_name: p.bx.to_string(),
                    path: p.path.clone(),
                    size: p.size,
                });
            }
            Err(renkei_storage::journal::ApplyError::Op(OpError::Stale | OpError::NotFound)) => {}
            Err(renkei_storage::journal::ApplyError::Op(e)) => {
                tracing::warn!(error = %e, "could not expire a partial")
            }
            Err(renkei_storage::journal::ApplyError::Journal(e)) => return Err(e.into()),
        }
    }
    Ok(expired)
}

/// Objects every route has delivered (and none still holds): when the last
/// delivery finished, and by which route.
fn handed_on(
    ns: &Namespace,
) -> Result<std::collections::HashMap<String, (Timestamp, String)>, UpkeepError> {
    use renkei_storage::journal::DeliveryState;
    let mut done: std::collections::HashMap<String, (Timestamp, String)> =
        std::collections::HashMap::new();
    let mut pending = std::collections::HashSet::new();
    for d in ns.journal.deliveries("")? {
        match (d.state, d.finished_at) {
            (DeliveryState::Delivered, Some(at)) => {
                let e = done
                    .entry(d.object.clone())
                    .or_insert((at, d.route.clone()));
                if at > e.0 {
                    *e = (at, d.route.clone());
                }
            }
            _ => {
                pending.insert(d.object);
            }
        }
    }
    done.retain(|o, _| !pending.contains(o));
    Ok(done)
}

/// Takes a file that was handed on out of its box and destroys its blobs
/// (one transaction, with its `purged` record). False if it changed.
fn purge_delivered(
    ns: &Namespace,
    o: &renkei_storage::journal::ObjectRecord,
    at: Timestamp,
    route: &str,
) -> Result<bool, UpkeepError> {
    let (dir, name) = o.path.rsplit_once('/').unwrap_or(("", o.path.as_str()));
    let ops = vec![
        Op::RemoveFile {
            entry_key: renkei_storage::journal::entry_key(&o.tenant, o.bx, dir, name),
            state: ObjectState::Acknowledged {
                at,
                by: format!("route:{route}"),
            },
            unless_delivered_by: Vec::new(),
        },
        Op::PurgeObject {
            id: o.id.clone(),
            state: "acknowledged",
        },
    ];
    let record = purged_record(o, "delivered", at);
    // Both steps or neither: the purge only applies to what the removal
    // just acknowledged, and the record only if both were done.
    let note = ns
        .events
        .note(move |r| r.iter().all(Result::is_ok).then_some(record));
    let results = ns.journal.apply_noted_blocking(ops, note)?;
    if !results.iter().all(Result::is_ok) {
        return Ok(false);
    }
    for out in results.iter().flatten() {
        ns.discard(&out.garbage);
    }
    Ok(true)
}

/// What a retention sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    pub purged: u64,
    pub forgotten: u64,
    /// (tenant, files, bytes, oldest) kept because never handed on.
    pub kept: Vec<(String, u64, u64, Timestamp)>,
}

/// Applies file retention at `now`: acknowledged files older than the
/// period lose their blobs (an audited `purged`); records of deleted and
/// superseded files (whose blobs went when they did) are forgotten; inbox
/// files never handed on are kept, and reported.
pub fn retention(
    ns: &Arc<Namespace>,
    period: std::time::Duration,
    now: Timestamp,
) -> Result<RetentionReport, UpkeepError> {
    let period = jiff::SignedDuration::try_from(period).unwrap_or(jiff::SignedDuration::MAX);
    let old = |t: Timestamp| t.checked_add(period).is_ok_and(|end| end <= now);
    let held_for = jiff::SignedDuration::try_from(ns.live.get().config.retention.quarantine)
        .unwrap_or(jiff::SignedDuration::MAX);
    let held_long = |t: Timestamp| t.checked_add(held_for).is_ok_and(|end| end <= now);
    let mut report = RetentionReport::default();
    let mut kept: std::collections::BTreeMap<String, (u64, u64, Timestamp)> =
        std::collections::BTreeMap::new();
    let handed_on = handed_on(ns)?;
    for o in ns.journal.objects()? {
        let (since, state) = match &o.state {
            ObjectState::Acknowledged { at, .. } => (*at, "acknowledged"),
            ObjectState::Deleted { at, .. } => (*at, "deleted"),
            ObjectState::Superseded { at, .. } => (*at, "superseded"),
            // Waiting for its checks or its approvers: not old yet.
            ObjectState::Checking { .. } | ObjectState::AwaitingApproval { .. } => continue,
            // Its bytes went when it expired (recorded then); forgotten now.
            ObjectState::Expired { at } => (*at, "expired"),
            ObjectState::Quarantined { at } | ObjectState::Rejected { at } => {
                if held_long(*at) {
                    let state = o.state.label();
                    let record = purged_record(&o, state, *at);
                    let op = Op::PurgeObject {
                        id: o.id.clone(),
                        state,
                    };
                    match ns.apply_recorded_blocking(op, move |_| Some(record)) {
                        Ok(out) => {
                            ns.discard(&out.garbage);
                            report.purged += 1;
                        }
                        Err(renkei_storage::journal::ApplyError::Op(_)) => {}
                        Err(renkei_storage::journal::ApplyError::Journal(e)) => {
                            return Err(e.into());
                        }
                    }
                }
                continue;
            }
            ObjectState::Stored => {
                if let Some((at, route)) = handed_on.get(&o.id) {
                    if old(*at) && purge_delivered(ns, &o, *at, route)? {
                        report.purged += 1;
                    }
                    continue;
                }
                if o.bx == renkei_model::boxes::BoxKind::Inbox && old(o.committed_at) {
                    let e = kept
                        .entry(o.tenant.clone())
                        .or_insert((0, 0, o.committed_at));
                    e.0 += 1;
                    e.1 += o.size;
                    e.2 = e.2.min(o.committed_at);
                }
                continue;
            }
        };
        if !old(since) {
            continue;
        }
        let purged = purged_record(&o, state, since);
        // Acknowledged files are purged with a record; deleted and replaced
        // ones (whose removal was recorded then) are just forgotten.
        let record = (state == "acknowledged").then_some(purged);
        let op = Op::PurgeObject {
            id: o.id.clone(),
            state,
        };
        let out = match ns.apply_recorded_blocking(op, move |_| record) {
            Ok(out) => out,
            Err(renkei_storage::journal::ApplyError::Op(_)) => continue,
            Err(renkei_storage::journal::ApplyError::Journal(e)) => return Err(e.into()),
        };
        ns.discard(&out.garbage);
        if state == "acknowledged" {
            report.purged += 1;
        } else {
            report.forgotten += 1;
        }
    }
    for (tenant, (files, bytes, oldest)) in kept {
        ns.events.record(Event::RetentionReport {
            tenant: tenant.clone(),
            files,
            bytes,
            oldest: oldest.to_string(),
        });
        report.kept.push((tenant, files, bytes, oldest));
    }
    Ok(report)
}

/// The `purged` record of object `o`, which left in `state` at `since`.
fn purged_record(
    o: &renkei_storage::journal::ObjectRecord,
    state: &str,
    since: Timestamp,
) -> Event {
    Event::Purged {
        tenant: o.tenant.clone(),
        box_name: o.bx.to_string(),
        path: o.path.clone(),
        object: o.id.clone(),
        size: o.size,
        sha256: o.sha256.clone(),
        state: state.to_string(),
        since: since.to_string(),
    }
}

/// Expires delivered lane files nobody received within their lane's
/// `expire_after`: their bytes are destroyed (`lane_expired`). Returns how
/// many.
pub fn expire_lanes(ns: &Namespace, now: Timestamp) -> Result<u64, UpkeepError> {
    let snap = ns.live.get();
    if snap.config.lanes.is_empty() {
        return Ok(0);
    }
    let mut expired = 0;
    for o in ns.journal.objects()? {
        let (Some(lane), ObjectState::Stored, Some(d)) = (
            o.lane().and_then(|l| snap.config.lane(l)),
            &o.state,
            &o.delivered,
        ) else {
            continue;
        };
        let after =
            jiff::SignedDuration::try_from(lane.expire_after).unwrap_or(jiff::SignedDuration::MAX);
        if d.at.checked_add(after).map_or(true, |end| end > now) {
            continue;
        }
        let event = Event::LaneExpired {
            file: super::lanes::lane_file(&o),
            delivered_at: d.at.to_string(),
        };
        let op = Op::Lane(renkei_storage::journal::LaneOp::Expire {
            id: o.id.clone(),
            at: now,
        });
        match ns.apply_recorded_blocking(op, move |_| Some(event)) {
            Ok(out) => {
                ns.discard(&out.garbage);
                expired += 1;
            }
            Err(renkei_storage::journal::ApplyError::Op(_)) => {}
            Err(renkei_storage::journal::ApplyError::Journal(e)) => return Err(e.into()),
        }
    }
    Ok(expired)
}
