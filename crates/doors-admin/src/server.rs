//! The daemon side of the control socket.
//!
//! The socket lives in the data directory with mode 0600, and a peer must
//! also be the daemon's own user or root (checked with `SO_PEERCRED`), so
//! only the operator can place or fetch files this way. Each command is an
//! `ctl_command` event. Connections are served on blocking threads: the
//! traffic is small, and uploads and downloads are blocking work anyway.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use super::context::Context;
use super::context::{CtlError, CtlResult};
use super::held::{self, Decision};
use super::proto::{
    self, Ban, GetHeader, LsEntry, PutResult, ReloadResult, Reply, Request, SegmentListener,
    Status, TenantSummary,
};
use renkei_config::TenantCode;
use renkei_core::events::Event;
use renkei_core::namespace::{BoxKind, NsPath, Principal};
use renkei_core::transfer::{Download, OpenMode, Upload};
use renkei_model::schedule::rfc3339;

/// Bytes per data frame of a `get`.
const GET_CHUNK: usize = 256 << 10;

/// Creates the socket (replacing a stale one) with mode 0600.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the control socket until `shutdown` is cancelled. Each
/// connection runs on a blocking thread tracked by `commands`, so the
/// daemon can wait for commands in progress (which write audit records)
/// before it seals the trail.
pub async fn serve(
    listener: UnixListener,
    ctx: Arc<Context>,
    shutdown: CancellationToken,
    commands: TaskTracker,
) {
    let me = rustix::process::geteuid().as_raw();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let uid = match stream.peer_cred() {
                    Ok(c) => c.uid(),
                    Err(_) => continue,
                };
                if uid != me && uid != 0 {
                    tracing::warn!(uid, "control socket connection from another user refused");
                    continue;
                }
                let Ok(std) = stream.into_std() else { continue };
                if std.set_nonblocking(false).is_err() {
                    continue;
                }
                let ctx = Arc::clone(&ctx);
                commands.spawn_blocking(move || {
                    if let Err(e) = handle(std, &ctx, uid) {
                        tracing::debug!(error = %e, "control connection ended");
                    }
                });
            }
        }
    }
}

fn tenant(ctx: &Context, code: &str) -> Result<TenantCode, String> {
    let parsed = TenantCode::parse(code).map_err(|e| e.to_string())?;
    if ctx.live.get().config.tenant(parsed.as_str()).is_none() {
        return Err(format!("tenant {code} is not in the configuration"));
    }
    Ok(parsed)
}

fn box_kind(name: &str) -> Result<BoxKind, String> {
    BoxKind::parse(name).ok_or_else(|| format!("no box {name:?}: use inbox or outbox"))
}

fn file_path(ctx: &Context, bx: BoxKind, name: &str) -> Result<NsPath, String> {
    if name.contains('/') {
        return Err(format!(
            "{name:?}: files are placed under their base name, without '/'"
        ));
    }
    NsPath::in_box(bx, name, ctx.ns.limits().max_path_depth).map_err(|e| e.to_string())
}

fn handle(mut s: StdUnixStream, ctx: &Context, uid: u32) -> io::Result<()> {
    while let Some(frame) = proto::read_frame(&mut s)? {
        let req: Request = match serde_json::from_slice(&frame) {
            Ok(r) => r,
            Err(e) => {
                proto::write_json(&mut s, &Reply::err(format!("unknown command: {e}")))?;
                continue;
            }
        };
        let (command, detail, result) = match req {
            Request::Status => ("status", String::new(), status(&mut s, ctx)),
            Request::Ls { tenant, bx } => {
                let detail = format!("tenant={tenant} box={}", bx.as_deref().unwrap_or("*"));
                ("ls", detail, ls(&mut s, ctx, &tenant, bx.as_deref()))
            }
            Request::Put { tenant, bx, name } => {
                let detail = format!("tenant={tenant} box={bx} name={name}");
                ("put", detail, put(&mut s, ctx, &tenant, &bx, &name))
            }
            Request::Get { tenant, bx, name } => {
                let detail = format!("tenant={tenant} box={bx} name={name}");
                ("get", detail, get(&mut s, ctx, &tenant, &bx, &name))
            }
            Request::Reload => ("reload", String::new(), reload(&mut s, ctx)),
            Request::Bans => ("bans", String::new(), bans(&mut s, ctx)),
            Request::Unban { ip } => {
                let detail = format!("ip={ip}");
                ("unban", detail, unban(&mut s, ctx, &ip, uid))
            }
            Request::Routes => ("routes", String::new(), routes(&mut s, ctx)),
            Request::Retry { route, item } => {
                let detail = format!("route={route} item={}", item.as_deref().unwrap_or("*"));
                ("retry", detail, retry(&mut s, ctx, &route, item.as_deref()))
            }
            Request::Held => ("quarantine list", String::new(), held::list(&mut s, ctx)),
            Request::Lanes => ("lanes", String::new(), lanes(&mut s, ctx)),
            Request::HeldShow { id } => {
                let detail = format!("id={id}");
                ("quarantine show", detail, held::show(&mut s, ctx, &id))
            }
            Request::Release { id, reason } => {
                let detail = format!("id={id} reason={reason:?}");
                let r = held::decide(&mut s, ctx, Decision::Release, &id, &reason, uid);
                ("quarantine release", detail, r)
            }
            Request::DeleteHeld { id, reason } => {
                let detail = format!("id={id} reason={reason:?}");
                let r = held::decide(&mut s, ctx, Decision::Delete, &id, &reason, uid);
                ("quarantine delete", detail, r)
            }
        };
        let (ok, detail) = match &result {
            Ok(extra) if extra.is_empty() => (true, detail),
            Ok(extra) => (true, format!("{detail} {extra}")),
            Err(CtlError::Refused(e)) => (false, format!("{detail}: {e}")),
            Err(CtlError::Io(e)) => (false, format!("{detail}: connection failed: {e}")),
        };
        ctx.ns.events().record(Event::CtlCommand {
            uid,
            command: command.to_string(),
            detail,
            ok,
        });
        match result {
            Ok(_) => {}
            Err(CtlError::Refused(msg)) => proto::write_json(&mut s, &Reply::err(msg))?,
            Err(CtlError::Io(e)) => return Err(e),
        }
    }
    Ok(())
}

fn status(s: &mut StdUnixStream, ctx: &Context) -> CtlResult {
    let routes = ctx.router.report().unwrap_or_default();
    let snap = ctx.live.get();
    let config = &snap.config;
    let st = Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        config: config.source.clone(),
        listen: ctx.listen.to_string(),
        data_dir: config.server.data_dir.display().to_string(),
        started_at: rfc3339(ctx.started),
        uptime_secs: Timestamp::now()
            .duration_since(ctx.started)
            .as_secs()
            .max(0) as u64,
        connections: (ctx.connections)(),
        tenants: config
            .tenants
            .iter()
            .map(|t| TenantSummary {
                code: t.code.to_string(),
                name: t.name.clone(),
                accounts: t.accounts.len(),
            })
            .collect(),
        vault_recipient: ctx.ns.vault_recipient(),
        policy_files: if snap.policy.files.is_empty() {
            vec![renkei_core::policy::BASELINE_NAME.to_string()]
        } else {
            snap.policy.files.clone()
        },
        client_memory: proto::ClientMemory {
            held: ctx.ns.memory().daemon_used(),
            limit: config.limits.max_client_memory,
            account_limit: config.limits.max_account_memory,
            peak: {
                let [requests, replies, out_of_order] = ctx.ns.memory().daemon_peaks();
                proto::MemoryPeaks {
                    requests,
                    replies,
                    out_of_order,
                }
            },
        },
        policy_sha256: snap.policy.digest.clone(),
        rules: snap.policy.rules().len(),
        active_bans: ctx.defender.list().len(),
        checks: held::summary(ctx),
        web: ctx.web.get().and_then(|status| status()),
        ftps: ctx.ftps.get().and_then(|status| status()),
        handoffs_failed: routes.iter().map(|r| r.failed).sum(),
        expected_missing: routes.iter().map(|r| r.missing.len()).sum(),
        monitor_listen: ctx.monitor_listen.get().map(ToString::to_string),
        segments: ctx
            .segment_listen
            .iter()
            .map(|(name, addr)| SegmentListener {
                segment: name.clone(),
                label: config
                    .segment(name)
                    .map(|s| s.label.clone())
                    .unwrap_or_default(),
                listen: addr.to_string(),
            })
            .collect(),
    };
    proto::write_json(s, &Reply::ok(st))?;
    Ok(String::new())
}

fn reload(s: &mut StdUnixStream, ctx: &Context) -> CtlResult {
    let report = (ctx.reload)().map_err(|e| {
        CtlError::Refused(format!(
            "reload refused, the running configuration and rules stay: {e}"
        ))
    })?;
    let result = ReloadResult {
        policy_files: report.policy_files,
        rules: report.rules,
        policy_sha256: report.policy_digest.clone(),
        warnings: report.warnings,
        restart_needed: report.restart_needed,
        routes: report.routes,
    };
    proto::write_json(s, &Reply::ok(&result))?;
    Ok(format!(
        "rules={} policy_sha256={}",
        result.rules, report.policy_digest
    ))
}

fn bans(s: &mut StdUnixStream, ctx: &Context) -> CtlResult {
    let list: Vec<Ban> = ctx
        .defender
        .list()
        .into_iter()
        .map(|b| Ban {
            ip: b.ip,
            until: rfc3339(b.until),
            bans: b.count,
            reason: b.reason,
        })
        .collect();
    proto::write_json(s, &Reply::ok(&list))?;
    Ok(String::new())
}

fn unban(s: &mut StdUnixStream, ctx: &Context, ip: &str, uid: u32) -> CtlResult {
    ctx.runtime
        .block_on(ctx.defender.lift(ip, &format!("ctl (uid {uid})")))
        .map_err(|e| e.to_string())?;
    proto::write_json(s, &Reply::ok(serde_json::Value::Null))?;
    Ok(String::new())
}

fn routes(s: &mut StdUnixStream, ctx: &Context) -> CtlResult {
    let report = ctx.router.report().map_err(|e| e.to_string())?;
    proto::write_json(s, &Reply::ok(&report))?;
    Ok(String::new())
}

fn lanes(s: &mut StdUnixStream, ctx: &Context) -> CtlResult {
    let report = ctx.ns.lane_report().map_err(|e| e.to_string())?;
    proto::write_json(s, &Reply::ok(&report))?;
    Ok(String::new())
}

fn retry(s: &mut StdUnixStream, ctx: &Context, route: &str, item: Option<&str>) -> CtlResult {
    let n = ctx
        .runtime
        .block_on(ctx.router.retry(route, item))
        .map_err(|e| e.to_string())?;
    proto::write_json(s, &Reply::ok(n))?;
    Ok(format!("requeued={n}"))
}

fn ls(s: &mut StdUnixStream, ctx: &Context, code: &str, bx: Option<&str>) -> CtlResult {
    let code = tenant(ctx, code)?;
    let only = bx.map(box_kind).transpose()?;
    let items = ctx.ns.inventory(&code, only)?;
    let entries: Vec<LsEntry> = items
        .into_iter()
        .map(|i| LsEntry {
            bx: i.bx.to_string(),
            path: i.path,
            kind: match i.info.kind {
                renkei_core::namespace::EntryKind::Dir => "dir".into(),
                renkei_core::namespace::EntryKind::File => "file".into(),
            },
            size: i.info.size,
            sha256: i.info.sha256,
            state: i.info.state.to_string(),
            time: i
                .info
                .committed_at
                .or_else(|| Timestamp::from_second(i.info.mtime).ok())
                .map(rfc3339),
            by: i.by,
        })
        .collect();
    proto::write_json(s, &Reply::ok(entries))?;
    Ok(String::new())
}

fn put(s: &mut StdUnixStream, ctx: &Context, code: &str, bx: &str, name: &str) -> CtlResult {
    let code = tenant(ctx, code)?;
    let bx = box_kind(bx)?;
    let path = file_path(ctx, bx, name)?;
    let who = Principal::operator(code);
    let mut up = Upload::begin(&ctx.ns, &who, &path, OpenMode::Truncate)?;
    proto::write_json(s, &Reply::ok(serde_json::Value::Null))?;
    let mut offset = 0u64;
    let mut failed = None;
    loop {
        let frame = proto::read_frame(s)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "ctl put ended before its last frame",
            )
        })?;
        if frame.is_empty() {
            break;
        }
        // After a failure the rest of the stream is read and dropped, so
        // the error reaches the operator instead of a broken pipe.
        if failed.is_none() {
            let n = frame.len() as u64;
            match up.write(offset, Bytes::from(frame)) {
                Ok(()) => offset += n,
                Err(e) => failed = Some(e),
            }
        }
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    let object = up.commit()?;
    let result = PutResult {
        path: format!("/{bx}/{}", object.path),
        size: object.size,
        sha256: object.sha256.clone(),
        state: object.state.label().to_string(),
    };
    proto::write_json(s, &Reply::ok(&result))?;
    Ok(format!("size={} sha256={}", object.size, object.sha256))
}

fn get(s: &mut StdUnixStream, ctx: &Context, code: &str, bx: &str, name: &str) -> CtlResult {
    let code = tenant(ctx, code)?;
    let bx = box_kind(bx)?;
    let path =
        NsPath::in_box(bx, name, ctx.ns.limits().max_path_depth).map_err(|e| e.to_string())?;
    let who = Principal::operator(code);
    let mut d = Download::open(&ctx.ns, &who, &path)?;
    let info = d.info();
    let header = GetHeader {
        size: d.size(),
        sha256: info.sha256.clone().unwrap_or_default(),
    };
    proto::write_json(s, &Reply::ok(&header))?;
    let mut buf = vec![0u8; GET_CHUNK];
    let mut offset = 0u64;
    let outcome = loop {
        match d.read_at(offset, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                proto::write_frame(s, &buf[..n])?;
                offset += n as u64;
            }
            Err(e) => break Err(e.to_string()),
        }
    };
    proto::write_frame(s, &[])?;
    match outcome {
        Ok(()) => {
            proto::write_json(s, &Reply::ok(serde_json::Value::Null))?;
            s.flush()?;
            Ok(format!("bytes={offset}"))
        }
        Err(e) => Err(CtlError::Refused(e)),
    }
}
