//! The control socket's view of the arrival checks: files waiting, files
//! held (quarantined or rejected), and the operator's release or deletion
//! of a held file. What a release or deletion does is the core's
//! (`renkei_core::checks::quarantine`); this only adapts it to the socket.

use std::os::unix::net::UnixStream as StdUnixStream;

use super::context::{Context, CtlResult};
use super::proto::{self, ChecksSummary, HeldFile, Reply};

/// Where the checks stand, for `ctl status`.
pub(crate) fn summary(ctx: &Context) -> ChecksSummary {
    ctx.ns.checks_summary(&ctx.live.get())
}

pub(super) fn list(s: &mut StdUnixStream, ctx: &Context) -> CtlResult {
    let held: Vec<HeldFile> = ctx.ns.held()?;
    proto::write_json(s, &Reply::ok(&held))?;
    Ok(format!("held={}", held.len()))
}

pub(super) fn show(s: &mut StdUnixStream, ctx: &Context, id: &str) -> CtlResult {
    let o = ctx.ns.held_file(id)?;
    proto::write_json(s, &Reply::ok(&o))?;
    Ok(format!("object={}", o.id))
}

/// What the operator does with a held file.
#[derive(Debug, Clone, Copy)]
pub(super) enum Decision {
    Release,
    Delete,
}

/// Releases or deletes a held file, as the operator at `uid` decided.
pub(super) fn decide(
    s: &mut StdUnixStream,
    ctx: &Context,
    decision: Decision,
    id: &str,
    reason: &str,
    uid: u32,
) -> CtlResult {
    let by = format!("ctl uid {uid}");
    let o = ctx.runtime.block_on(async {
        match decision {
            Decision::Release => ctx.ns.release_held(id, &by, reason).await,
            Decision::Delete => ctx.ns.delete_held(id, &by, reason).await,
        }
    })?;
    proto::write_json(s, &Reply::ok(&o))?;
    Ok(format!("object={} path=/{}/{}", o.id, o.bx, o.path))
}
