//! The daemon's timers: expiring partials and aged defender scores,
//! keeping audit notes and checkpoints, the checks stage, expiring lane
//! files, and retention. Each runs on its own timer; one token stops them
//! all, after everything that could change the boxes has stopped.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use renkei_config::Config;
use renkei_core::defender::Defender;
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
