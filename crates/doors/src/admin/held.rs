//! The control socket's view of the arrival checks: files waiting, files
//! held (quarantined or rejected), and the operator's release or deletion
//! of a held file. What a release or deletion does is the core's
//! (`renkei_core::checks::quarantine`); this only adapts it to the socket.

use std::os::unix::net::UnixStream as StdUnixStream;

use jiff::Timestamp;

use super::context::{Context, CtlResult};
use super::proto::{self, ChecksSummary, HeldFile, Reply};
use renkei_model::schedule::rfc3339;
use renkei_storage::journal::{ObjectRecord, ObjectState};

/// The longest reason an operator may give (it is kept in the journal
/// and the trail).
const MAX_REASON: usize = 1024;

pub(crate) fn held_file(o: &ObjectRecord) -> HeldFile {
    let held = match &o.state {
        ObjectState::Quarantined { at } | ObjectState::Rejected { at } => Some(rfc3339(*at)),
        _ => o.check.as_ref().map(|c| rfc3339(c.at)),
    };
    let c = o.check.as_ref();
    HeldFile {
        id: o.id.clone(),
        state: o.state.label().to_string(),
        tenant: o.tenant.clone(),
        bx: o.bx.to_string(),
        path: o.path.clone(),
        size: o.size,
        sha256: o.sha256.clone(),
        uploaded_by: o.uploaded_by.clone(),
        received: rfc3339(o.committed_at),
        held,
        reason: c.and_then(|c| c.reason.clone()),
        signature: c.and_then(|c| c.signature.clone()),
        scanner: c.and_then(|c| c.scanner.clone()),
        checks: c.map(|c| c.ran.clone()).unwrap_or_default(),
    }
}

/// Where the checks stand, for `ctl status`.
pub(crate) fn summary(ctx: &Context) -> ChecksSummary {
    let snap = ctx.live.get();
    let waiting = ctx.ns.checking().unwrap_or_default();
    let now = Timestamp::now();
    ChecksSummary {
        scanner: snap.config.scan.as_ref().map(|s| s.clamd.to_string()),
        rules: snap.config.checks.len(),
        oldest_waiting_secs: waiting
            .first()
            .map(|o| now.duration_since(o.committed_at).as_secs().max(0) as u64),
        waiting: waiting.len(),
        held: ctx.ns.held().map(|h| h.len()).unwrap_or(0),
    }
}

pub(super) fn list(s: &mut StdUnixStream, ctx: &Context) -> CtlResult {
    let held: Vec<HeldFile> = ctx
        .ns
        .held()
        .map_err(|e| e.to_string())?
        .iter()
        .map(held_file)
        .collect();
    proto::write_json(s, &Reply::ok(&held))?;
    Ok(format!("held={}", held.len()))
}

pub(super) fn show(s: &mut StdUnixStream, ctx: &Context, id: &str) -> CtlResult {
    let o = ctx.ns.held_file(id)?;
    proto::write_json(s, &Reply::ok(held_file(&o)))?;
    Ok(format!("object={}", o.id))
}

pub(crate) fn reason_of(reason: &str) -> Result<&str, String> {
    let r = reason.trim();
    if r.is_empty() {
        return Err("a reason is required (--reason TEXT): it is kept in the audit trail".into());
    }
    if r.len() > MAX_REASON {
        return Err(format!("the reason is longer than {MAX_REASON} bytes"));
    }
    Ok(r)
}

pub(super) fn release(
    s: &mut StdUnixStream,
    ctx: &Context,
    id: &str,
    reason: &str,
    uid: u32,
) -> CtlResult {
    let reason = reason_of(reason)?;
    let by = format!("ctl uid {uid}");
    let o = ctx.runtime.block_on(ctx.ns.release_held(id, &by, reason))?;
    proto::write_json(s, &Reply::ok(held_file(&o)))?;
    Ok(format!("object={} path=/{}/{}", o.id, o.bx, o.path))
}

pub(super) fn delete(
    s: &mut StdUnixStream,
    ctx: &Context,
    id: &str,
    reason: &str,
    uid: u32,
) -> CtlResult {
    let reason = reason_of(reason)?;
    let by = format!("ctl uid {uid}");
    let o = ctx.runtime.block_on(ctx.ns.delete_held(id, &by, reason))?;
    proto::write_json(s, &Reply::ok(held_file(&o)))?;
    Ok(format!("object={} path=/{}/{}", o.id, o.bx, o.path))
}
