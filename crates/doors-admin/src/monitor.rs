//! The monitoring listener (`[admin] listen`): Prometheus metrics at
//! `/metrics`, liveness at `/healthz`, readiness at `/readyz`. Plain HTTP,
//! answered only to the sources `[admin] allow` lists (loopback by
//! default); it reads what the control socket reads and changes nothing.
//!
//! Metric names and labels are documented in docs/operations.md; every
//! label is a fixed set (event names, route names from the configuration,
//! `sftp`/`https`), never something a client sends.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use renkei_config::canonical_ip;
use renkei_console::Context;

/// Serves until `stop`.
pub async fn serve(listener: TcpListener, ctx: Arc<Context>, stop: CancellationToken) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(ctx);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop.cancelled_owned())
    .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the monitoring listener stopped");
    }
}

/// Whether `peer` may ask (`[admin] allow`).
fn allowed(ctx: &Context, peer: SocketAddr) -> bool {
    let ip = canonical_ip(peer.ip());
    ctx.live
        .get()
        .config
        .admin
        .as_ref()
        .is_some_and(|a| a.allow.iter().any(|n| n.contains(&ip)))
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "not an allowed source ([admin] allow)\n",
    )
        .into_response()
}

async fn healthz(
    State(ctx): State<Arc<Context>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !allowed(&ctx, peer) {
        return forbidden();
    }
    // Answering at all is the liveness: the runtime is not wedged.
    (StatusCode::OK, "ok\n").into_response()
}

/// What keeps the daemon from serving now; empty when ready.
async fn not_ready(ctx: &Context) -> Vec<String> {
    let mut why = Vec::new();
    let within = ctx.ns.limits().fs_timeout;
    if !ctx.ns.journal_answers(within).await {
        why.push(format!(
            "journal: the writer did not answer within {}s",
            within.as_secs()
        ));
    }
    if !ctx.ns.events().writable() {
        why.push("audit: the trail cannot be written".to_string());
    }
    let config = ctx.live.get().config.clone();
    let scanner =
        tokio::task::spawn_blocking(move || renkei_core::checks::scanner_answers(&config))
            .await
            .ok()
            .flatten();
    if let Some(Err(e)) = scanner {
        why.push(format!("scanner: {e}"));
    }
    why
}

async fn readyz(
    State(ctx): State<Arc<Context>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !allowed(&ctx, peer) {
        return forbidden();
    }
    let why = not_ready(&ctx).await;
    if why.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n{}\n", why.join("\n")),
        )
            .into_response()
    }
}

/// A label value as the text format wants it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

// Long: one block per metric family, each a few lines; split, it would
// pass the same output through a dozen functions.
async fn metrics(
    State(ctx): State<Arc<Context>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !allowed(&ctx, peer) {
        return forbidden();
    }
    let mut out = String::new();
    let one = |v: f64| vec![(String::new(), v)];
    let m = ctx.ns.events().metrics();
    metric(
        &mut out,
        "renkei_events_total",
        "counter",
        "Events recorded, by name (docs/audit.md): logins, refusals, uploads, hand-offs…",
        &m.events()
            .into_iter()
            .map(|(e, n)| (format!("{{event=\"{}\"}}", label(&e)), n as f64))
            .collect::<Vec<_>>(),
    );
    let (up, down) = m.bytes();
    metric(
        &mut out,
        "renkei_upload_bytes_total",
        "counter",
        "Bytes of committed uploads.",
        &one(up as f64),
    );
    metric(
        &mut out,
        "renkei_download_bytes_total",
        "counter",
        "Bytes served by downloads.",
        &one(down as f64),
    );
    let web = ctx.web.get().and_then(|s| s());
    metric(
        &mut out,
        "renkei_connections_open",
        "gauge",
        "Connections open now, by front door.",
        &[
            (
                "{protocol=\"sftp\"}".to_string(),
                (ctx.connections)() as f64,
            ),
            (
                "{protocol=\"https\"}".to_string(),
                web.as_ref().map_or(0.0, |w| w.connections as f64),
            ),
            (
                "{protocol=\"ftps\"}".to_string(),
                ctx.ftps
                    .get()
                    .and_then(|s| s())
                    .map_or(0.0, |f| f.connections as f64),
            ),
        ],
    );
    metric(
        &mut out,
        "renkei_web_sessions",
        "gauge",
        "Browser sessions held now.",
        &one(web.as_ref().map_or(0.0, |w| w.sessions as f64)),
    );
    route_metrics(&mut out, &ctx);
    upkeep_metrics(&mut out, &ctx);
    let data_dir = ctx.live.get().config.server.data_dir.clone();
    if let Ok(s) = rustix::fs::statvfs(&data_dir) {
        metric(
            &mut out,
            "renkei_disk_free_bytes",
            "gauge",
            "Free space on the data volume, for the daemon's user.",
            &one((s.f_bavail * s.f_frsize) as f64),
        );
    }
    metric(
        &mut out,
        "renkei_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        &one(jiff::Timestamp::now()
            .duration_since(ctx.started)
            .as_secs()
            .max(0) as f64),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// Each route's hand-offs: items by state, the oldest waiting, expected
/// files missing.
fn route_metrics(out: &mut String, ctx: &Context) {
    let Ok(routes) = ctx.router.report() else {
        return;
    };
    let mut samples = Vec::new();
    for r in &routes {
        for (state, n) in [
            ("queued", r.queued),
            ("delivered", r.delivered),
            ("failed", r.failed),
            ("cancelled", r.cancelled),
        ] {
            samples.push((
                format!("{{route=\"{}\",state=\"{state}\"}}", label(&r.name)),
                n as f64,
            ));
        }
    }
    metric(
        out,
        "renkei_handoffs",
        "gauge",
        "Hand-off items of each route, by state.",
        &samples,
    );
    let now = jiff::Timestamp::now().as_second();
    metric(
        out,
        "renkei_handoff_oldest_queued_seconds",
        "gauge",
        "Age of the oldest item waiting in each route's queue (0 when none waits).",
        &routes
            .iter()
            .map(|r| {
                (
                    format!("{{route=\"{}\"}}", label(&r.name)),
                    r.oldest_queued.map_or(0, |t| (now - t).max(0)) as f64,
                )
            })
            .collect::<Vec<_>>(),
    );
    metric(
        out,
        "renkei_expected_missing",
        "gauge",
        "Expected files missing at their last deadline, by route.",
        &routes
            .iter()
            .map(|r| {
                (
                    format!("{{route=\"{}\"}}", label(&r.name)),
                    r.missing.len() as f64,
                )
            })
            .collect::<Vec<_>>(),
    );
}

/// The checks stage, the defender, the audit trail.
fn upkeep_metrics(out: &mut String, ctx: &Context) {
    let one = |v: f64| vec![(String::new(), v)];
    let checks = ctx.ns.checks_summary(&ctx.live.get());
    metric(
        out,
        "renkei_checks_waiting",
        "gauge",
        "Files waiting for the arrival checks.",
        &one(checks.waiting as f64),
    );
    metric(
        out,
        "renkei_checks_oldest_waiting_seconds",
        "gauge",
        "How long the oldest file has waited for the checks.",
        &one(checks.oldest_waiting_secs.unwrap_or(0) as f64),
    );
    metric(
        out,
        "renkei_files_held",
        "gauge",
        "Files held by the checks (quarantined or rejected).",
        &one(checks.held as f64),
    );
    metric(
        out,
        "renkei_bans_active",
        "gauge",
        "Source addresses banned now.",
        &one(ctx.defender.list().len() as f64),
    );
    metric(
        out,
        "renkei_audit_writable",
        "gauge",
        "1 when the audit trail can be written.",
        &one(if ctx.ns.events().writable() { 1.0 } else { 0.0 }),
    );
    let dropped = ctx.ns.events().audit().map_or(0, |a| a.dropped());
    metric(
        out,
        "renkei_audit_records_lost_total",
        "counter",
        "Audit records dropped because the disk refused them.",
        &one(dropped as f64),
    );
    metric(
        out,
        "renkei_audit_unsigned_records",
        "gauge",
        "Audit records written since the last signed checkpoint (the checkpoint lag).",
        &one(ctx.ns.events().audit().map_or(0, |a| a.unsigned()) as f64),
    );
}
