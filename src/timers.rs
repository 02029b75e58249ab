//! The daemon's timers: expiring partials and aged defender scores,
//! keeping audit notes and checkpoints, the checks stage, expiring lane
//! files, retention, and watching the data volume's free space. Each runs
//! on its own timer; one token stops them all, after everything that could
//! change the boxes has stopped.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use renkei_config::Config;
use renkei_core::defender::Defender;
use renkei_core::events::Event;
use renkei_core::namespace::Namespace;
use renkei_core::namespace::notes;
use renkei_core::namespace::upkeep;
use renkei_storage::audit::AuditLog;

/// Partial expiry and defender pruning, audit notes, retention: each on
/// its own timer, all stopped by one token.
pub(crate) fn start(
    ns: &Arc<Namespace>,
    defender: &Arc<Defender>,
    audit: &AuditLog,
    config: &Config,
    keeper: notes::Keeper,
) -> (CancellationToken, TaskTracker) {
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(sweep(Arc::clone(ns), Arc::clone(defender), stop.clone()));
    tasks.spawn(notes::keep(
        Arc::clone(ns),
        audit.clone(),
        config.audit.checkpoint_interval,
        keeper,
        stop.clone(),
    ));
    tasks.spawn(expire_lanes(Arc::clone(ns), stop.clone()));
    tasks.spawn(renkei_core::checks::stage::run(
        Arc::clone(ns),
        stop.clone(),
    ));
    tasks.spawn(watch_disk(Arc::clone(ns), stop.clone()));
    tasks.spawn(retain(
        Arc::clone(ns),
        audit.clone(),
        config.retention.clone(),
        stop.clone(),
    ));
    (stop, tasks)
}

/// Periodic upkeep: expires partials, forgets aged defender scores.
async fn sweep(ns: Arc<Namespace>, defender: Arc<Defender>, stop: CancellationToken) {
    let every =
        (ns.limits().partial_expiry / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        defender.prune();
        let ns = Arc::clone(&ns);
        match tokio::task::spawn_blocking(move || {
            upkeep::expire_partials(&ns, jiff::Timestamp::now())
        })
        .await
        {
            Ok(Err(e)) => tracing::error!(error = %e, "expiring partial uploads failed"),
            Err(e) => tracing::error!(error = %e, "the partial sweeper panicked"),
            Ok(Ok(_)) => {}
        }
    }
}

/// Lane expiry: every quarter of the shortest lane's `expire_after`, at
/// least every minute.
async fn expire_lanes(ns: Arc<Namespace>, stop: CancellationToken) {
    let shortest = ns
        .live()
        .get()
        .config
        .lanes
        .iter()
        .map(|l| l.expire_after)
        .min();
    let every = shortest.map_or(Duration::from_secs(60), |d| {
        (d / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    });
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let ns = Arc::clone(&ns);
        match tokio::task::spawn_blocking(move || upkeep::expire_lanes(&ns, jiff::Timestamp::now()))
            .await
        {
            Ok(Err(e)) => tracing::error!(error = %e, "expiring lane files failed"),
            Err(e) => tracing::error!(error = %e, "the lane sweeper panicked"),
            Ok(Ok(_)) => {}
        }
    }
}

/// Records `disk_space_low` when a volume holding renkei's data (the data
/// directory, the vault, the audit trail: they may be separate mounts)
/// has less free space than `server.disk_low`, and `disk_space_recovered`
/// once it is a tenth above it again; checked at start and every
/// `server.disk_check_every`.
async fn watch_disk(ns: Arc<Namespace>, stop: CancellationToken) {
    let every = ns.live().get().config.server.disk_check_every;
    let mut tick = tokio::time::interval(every);
    let mut low: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let config = Arc::clone(&ns.live().get().config);
        let data = config.server.data_dir.clone();
        let asked = tokio::task::spawn_blocking(move || volumes(&data));
        let found = match tokio::time::timeout(ns.limits().fs_timeout, asked).await {
            Ok(Ok(found)) => found,
            Ok(Err(_)) | Err(_) => {
                tracing::error!(
                    "the data volumes did not say their free space within limits.fs_timeout"
                );
                continue;
            }
        };
        for (path, free, total) in found {
            let threshold = config.server.disk_low.threshold(total);
            let was_low = low.contains(&path);
            if !was_low && free < threshold {
                low.push(path.clone());
                ns.events().record(Event::DiskSpaceLow {
                    path,
                    free_bytes: free,
                    threshold_bytes: threshold,
                });
            } else if was_low && free >= threshold.saturating_add(threshold / 10) {
                low.retain(|p| *p != path);
                ns.events().record(Event::DiskSpaceRecovered {
                    path,
                    free_bytes: free,
                    threshold_bytes: threshold,
                });
            }
        }
    }
}

/// `(path, free, total)` of each distinct volume under the data
/// directory that renkei writes to.
fn volumes(data: &std::path::Path) -> Vec<(String, u64, u64)> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for dir in [data.to_path_buf(), data.join("vault"), data.join("audit")] {
        let device = match rustix::fs::stat(&dir) {
            Ok(st) => st.st_dev,
            Err(_) => continue,
        };
        if seen.contains(&device) {
            continue;
        }
        seen.push(device);
        match rustix::fs::statvfs(&dir) {
            Ok(s) => {
                out.push((
                    dir.display().to_string(),
                    s.f_bavail.saturating_mul(s.f_frsize),
                    s.f_blocks.saturating_mul(s.f_frsize),
                ));
            }
            Err(e) => {
                tracing::error!(path = %dir.display(), error = %e, "cannot read free space")
            }
        }
    }
    out
}

/// File retention and audit pruning, every `retention.sweep_interval`.
async fn retain(
    ns: Arc<Namespace>,
    audit: AuditLog,
    retention: renkei_config::RetentionConfig,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(retention.sweep_interval);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (rns, period) = (Arc::clone(&ns), retention.acknowledged);
        match tokio::task::spawn_blocking(move || {
            upkeep::retention(&rns, period, jiff::Timestamp::now())
        })
        .await
        {
            Ok(Err(e)) => tracing::error!(error = %e, "file retention failed"),
            Err(e) => tracing::error!(error = %e, "file retention panicked"),
            Ok(Ok(_)) => {}
        }
        let keep =
            jiff::SignedDuration::try_from(retention.audit).unwrap_or(jiff::SignedDuration::MAX);
        let before = jiff::Timestamp::now()
            .checked_sub(keep)
            .unwrap_or(jiff::Timestamp::MIN);
        if let Err(e) = audit.prune(before).await {
            tracing::error!(error = %e, "pruning old audit segments failed");
        }
    }
}
