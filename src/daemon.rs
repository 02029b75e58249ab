//! `renkei serve`: opens storage, recovers, starts the SSH listener and
//! the control socket, and shuts down gracefully on SIGTERM/SIGINT.
//!
//! Start-up order matters: the journal is opened (which also locks out a
//! second daemon on the same data directory) and recovery removes what a
//! crash left behind *before* the listener accepts anyone.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::signals::{Signal, Signals};
use crate::systemd::Notifier;
use renkei_config::{Config, ConfigError};
use renkei_core::defender::Defender;
use renkei_core::events::{Event, Events};
use renkei_core::live::Live;
use renkei_core::namespace::Namespace;
use renkei_core::namespace::notes;
use renkei_core::namespace::upkeep::{self, UpkeepError};
use renkei_core::policy::PolicySet;
use renkei_doors_admin as admin;
use renkei_doors_ssh::ssh::{self, keys::HostKeyError};
use renkei_handoff::route::Router;
use renkei_storage::audit::{AuditConfig, AuditError, AuditLog};
use renkei_storage::fsutil;
use renkei_storage::journal::JournalError;
use renkei_storage::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("start-up recovery failed: {0}")]
    Recovery(#[from] UpkeepError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Control {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Preflight(#[from] crate::preflight::PreflightError),
    #[error(transparent)]
    Front(#[from] crate::fronts::FrontError),
}

/// Runs the daemon until it is told to stop. `config_path` is re-read on
/// reload (`None` for the embedded default, which then prints how to
/// connect).
pub fn run(config: Config, config_path: Option<PathBuf>) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("renkei")
        .max_blocking_threads(1024)
        .build()
        .map_err(DaemonError::Runtime)?;
    let result = runtime.block_on(serve(config, config_path));
    // The trail is sealed by now. A blocking thread still inside a file
    // step (a hung mount) must not keep a stopped daemon alive.
    runtime.shutdown_timeout(SHUTDOWN_STRAGGLERS);
    result
}

/// How long blocking threads get after the stop is complete.
const SHUTDOWN_STRAGGLERS: Duration = Duration::from_secs(2);

async fn serve(config: Config, config_path: Option<PathBuf>) -> Result<(), DaemonError> {
    let demo = config_path.is_none();
    let systemd = Notifier::from_env();
    let mut signals = Signals::install();
    let opened = open(config, config_path)?;
    let keeper = {
        // A long recovery asks systemd for more time as it goes, so the
        // start timeout does not kill a daemon that is doing its work.
        let extend = systemd.extend_while("recovering the journal and the audit trail");
        let kept = recover(&opened).await;
        extend.abort();
        kept?
    };
    let config = Arc::clone(&opened.live.get().config);
    let (running, listen, host_public) = start(&opened, keeper).await?;
    systemd.send(&format!(
        "READY=1\nSTATUS=serving {} municipalities on {listen}{}{}",
        config.tenants.len(),
        if config.segments.is_empty() {
            String::new()
        } else {
            format!(", {} segments", config.segments.len())
        },
        running
            .fronts
            .web_listen
            .first()
            .map(|a| format!(", https on {a}"))
            .unwrap_or_default(),
    ));
    opened.events.record(Event::DaemonStarted {
        version: env!("CARGO_PKG_VERSION"),
        listen,
        config: config.source.clone(),
        tenants: config.tenants.len(),
    });
    tracing::info!(%listen, data_dir = %config.server.data_dir.display(), "renkei is listening");
    if demo {
        let web = running
            .fronts
            .web_listen
            .first()
            .zip(running.certs.web.as_ref())
            .map(|(addr, c)| (*addr, c.fingerprint()));
        println!("{}", crate::demo::banner(listen, &host_public, web));
    }
    let mut watchdog = systemd.watchdog_every().map(tokio::time::interval);
    let reason = loop {
        let tick = async {
            match &mut watchdog {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        let signal = tokio::select! {
            s = signals.next() => s,
            () = tick => {
                // Fed only while the listeners run and the journal writer
                // answers: a stuck daemon is restarted by systemd.
                match running.stuck(&opened).await {
                    None => systemd.send("WATCHDOG=1"),
                    Some(why) => {
                        tracing::error!(why, "not feeding the systemd watchdog");
                        systemd.status(&format!("unhealthy: {why}"));
                    }
                }
                continue;
            }
        };
        match signal {
            Signal::Reload => {
                let runtime = tokio::runtime::Handle::current();
                if let Err(e) = reload(
                    &opened.live,
                    &opened.events,
                    &running.router,
                    &running.certs,
                    &runtime,
                ) {
                    tracing::error!(error = %e, "reload refused; the running configuration and rules stay");
                    systemd.status(&format!("reload refused: {e}"));
                } else {
                    systemd.status("serving; configuration reloaded");
                }
            }
            Signal::Stop(reason) => break reason,
        }
    };
    systemd.send(&format!("STOPPING=1\nSTATUS=stopping ({reason})"));
    stop(running, &config).await;
    opened.events.record(Event::DaemonStopped {
        reason: reason.to_string(),
    });
    // The final checkpoint seals the trail: a clean stop is verifiable as one.
    opened.audit.close().await;
    if let Some(copier) = &opened.trail_copies {
        // The copies end with the same seal, within the bucket's timeout.
        if let Err(e) = copier.pass().await {
            tracing::warn!(error = %e, "the audit trail's last checkpoint was not copied off the node; the next start copies it");
        }
    }
    Ok(())
}

/// Storage and the core, opened and wired, before anything is recovered.
struct Opened {
    audit: AuditLog,
    events: Arc<Events>,
    defender: Arc<Defender>,
    live: Arc<Live>,
    ns: Arc<Namespace>,
    host_keys: Vec<russh::keys::PrivateKey>,
    vault_dir: PathBuf,
    /// The audit trail's copies in the bucket, when the files are in S3.
    trail_copies: Option<crate::trail_copies::TrailCopier>,
    /// Holds `<data_dir>/renkei.lock` while the daemon runs.
    _lock: std::fs::File,
}

/// Checks what can refuse, then opens the trail, the vault and the
/// journal (which locks out a second daemon on the same data directory).
fn open(config: Config, config_path: Option<PathBuf>) -> Result<Opened, DaemonError> {
    let policy = PolicySet::load(&config)?;
    // Everything that can refuse is checked before anything is written.
    let found = crate::preflight::check(&config, true)?;
    if let Some((at, Err(e))) = &found.scanner {
        tracing::warn!(clamd = %at, error = %e, "the scanner does not answer now: arriving files wait in checking until it does");
    }
    let data_dir = config.server.data_dir.clone();
    fsutil::create_private_dir(&data_dir).map_err(|source| DaemonError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let lock = fsutil::lock_dir(&data_dir).map_err(|source| DaemonError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    for w in config.warnings.iter().chain(&policy.warnings) {
        tracing::warn!("configuration: {w}");
    }
    let (audit, _) = AuditLog::open(
        &data_dir.join("audit"),
        &config.audit.key,
        AuditConfig {
            checkpoint_every: config.audit.checkpoint_every,
            checkpoint_interval: config.audit.checkpoint_interval,
            segment_size: config.audit.segment_size,
        },
    )?;
    let events = Arc::new(Events::with_audit(audit.clone()));
    let host_keys = ssh::keys::load_all(&config.server.host_keys)?;
    for (key, path) in host_keys.iter().zip(&config.server.host_keys) {
        if let Some(why) = ssh::keys::caution(key) {
            tracing::warn!(path = %path.display(), "host key: {why}");
        }
    }
    let vault_dir = data_dir.join("vault");
    let vault = Arc::new(crate::engines::open_vault(&config, &vault_dir)?);
    let journal = crate::engines::open_journal(&config)?;
    let trail_copies =
        crate::engines::open_trail_copies(&config)?.map(|to| crate::trail_copies::TrailCopier {
            dir: data_dir.join("audit"),
            to,
        });
    let defender = Defender::open(
        config.defender.clone(),
        journal.clone(),
        Arc::clone(&events),
    )?;
    let live = Live::new(config, policy, config_path);
    let ns = Namespace::new(journal, vault, Arc::clone(&live), Arc::clone(&events));
    ns.check_bans_with(Arc::clone(&defender));
    record_loaded(&events, &live, "start", Vec::new());
    Ok(Opened {
        audit,
        events,
        defender,
        live,
        ns,
        host_keys,
        vault_dir,
        trail_copies,
        _lock: lock,
    })
}

/// Removes what a crash left behind and brings the trail up to date, before
/// anyone can connect.
async fn recover(o: &Opened) -> Result<notes::Keeper, DaemonError> {
    let (recovery_ns, recovery_audit) = (Arc::clone(&o.ns), o.audit.clone());
    let (report, expired, settled) = tokio::task::spawn_blocking(move || {
        let report = upkeep::recover(&recovery_ns)?;
        let expired = upkeep::expire_partials(&recovery_ns, jiff::Timestamp::now())?;
        // Records committed with changes that the trail does not have yet
        // (the daemon stopped first) go in before anyone connects.
        let settled = notes::settle_all(&recovery_ns, &recovery_audit);
        Ok::<_, UpkeepError>((report, expired, settled))
    })
    .await
    .map_err(|e| DaemonError::Runtime(std::io::Error::other(e)))??;
    let mut keeper = notes::Keeper {
        dropped_seen: o.audit.dropped(),
        must_settle: false,
        doubt_seen: 0,
    };
    let reconciled = settled.unwrap_or_else(|e| {
        tracing::error!(error = %e, "audit records committed with changes could not be added to the trail yet; they stay in the journal and are retried");
        keeper.must_settle = true;
        0
    });
    o.events.record(Event::RecoveryCompleted {
        committed_files: report.committed_files,
        partials: report.partials,
        orphan_blobs_removed: report.orphan_blobs_removed,
        partials_expired: expired,
        audit_reconciled: reconciled,
    });
    Ok(keeper)
}

/// What runs once the daemon is up: the branches of the shutdown tree.
///
/// Cancelling `stopping` stops accepting (SSH and the control socket) and
/// stops the routes; the upkeep tasks have their own token, cancelled once
/// nothing else can change the boxes.
struct Running {
    stopping: CancellationToken,
    server_task: tokio::task::JoinHandle<()>,
    /// The browser and FTPS front doors.
    fronts: crate::fronts::Fronts,
    /// Their certificates, read again on reload.
    certs: crate::fronts::Certs,
    monitor_task: Option<tokio::task::JoinHandle<()>>,
    /// The notifier (`[[notify]]`): its last records go in before the seal.
    notify_task: Option<tokio::task::JoinHandle<()>>,
    ctl_task: tokio::task::JoinHandle<()>,
    socket_path: PathBuf,
    /// Control commands in progress (each may write audit records).
    commands: TaskTracker,
    router: Arc<Router>,
    upkeep_stop: CancellationToken,
    upkeep: TaskTracker,
}

impl Running {
    /// Why the daemon should not feed the watchdog now: a listener's task
    /// has ended, or the journal writer does not answer in time. `None`
    /// when healthy.
    async fn stuck(&self, o: &Opened) -> Option<String> {
        if self.server_task.is_finished() {
            return Some("the SSH listener has stopped".into());
        }
        if let Some(why) = self.fronts.stopped() {
            return Some(why);
        }
        let within = o.ns.limits().fs_timeout;
        if !o.ns.journal_answers(within).await {
            return Some(format!(
                "the journal writer did not answer within limits.fs_timeout ({}s)",
                within.as_secs()
            ));
        }
        None
    }
}

/// Binds the listener and the control socket and starts the routes and
/// the upkeep tasks.
async fn start(
    o: &Opened,
    keeper: notes::Keeper,
) -> Result<(Running, std::net::SocketAddr, Vec<russh::keys::PublicKey>), DaemonError> {
    let config = Arc::clone(&o.live.get().config);
    let state = ssh::State::new(
        Arc::clone(&o.live),
        Arc::clone(&o.ns),
        Arc::clone(&o.events),
        Arc::clone(&o.defender),
        o.vault_dir.clone(),
    );
    let host_public = o
        .host_keys
        .iter()
        .map(|k| k.public_key().clone())
        .collect::<Vec<_>>();
    let server = ssh::Server::bind(Arc::clone(&state), o.host_keys.clone())
        .await
        .map_err(|(addr, source)| DaemonError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    let listen = server.local_addr().map_err(|source| DaemonError::Listen {
        addr: config.server.listen.to_string(),
        source,
    })?;
    let mut segment_listen = Vec::new();
    for (door, addr) in server.doors() {
        if let ssh::Door::Segment(name) = door {
            tracing::info!(segment = %name, listen = %addr, "renkei is listening for a segment");
            segment_listen.push((name, addr));
        }
    }
    let stopping = CancellationToken::new();
    let router = Router::start(
        Arc::clone(&o.ns),
        config.routes.clone(),
        stopping.child_token(),
    );
    let socket_path: PathBuf = config.server.data_dir.join(admin::SOCKET_NAME);
    let ctl_listener =
        admin::server::bind(&socket_path).map_err(|source| DaemonError::Control {
            path: socket_path.display().to_string(),
            source,
        })?;
    let certs = crate::fronts::Certs::load(&config)?;
    let ctl = control_context(o, &state, &router, listen, segment_listen, certs.clone());
    let commands = TaskTracker::new();
    let ctl_task = tokio::spawn(admin::server::serve(
        ctl_listener,
        Arc::clone(&ctl),
        stopping.child_token(),
        commands.clone(),
    ));
    let (upkeep_stop, upkeep) = crate::timers::start(&o.ns, &o.defender, &o.audit, &config, keeper);
    if let Some(copier) = &o.trail_copies {
        upkeep.spawn(crate::trail_copies::keep(
            copier.clone(),
            config.audit.checkpoint_interval,
            upkeep_stop.clone(),
        ));
    }
    let core = crate::fronts::Core {
        live: &o.live,
        ns: &o.ns,
        events: &o.events,
        defender: &o.defender,
    };
    let fronts = crate::fronts::start(core, &ctl, &certs, &stopping).await?;
    let monitor_task = match &config.admin {
        Some(a) => {
            let listener = tokio::net::TcpListener::bind(a.listen)
                .await
                .map_err(|source| DaemonError::Listen {
                    addr: a.listen.to_string(),
                    source,
                })?;
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(listen = %addr, "renkei serves /metrics, /healthz and /readyz");
                let _ = ctl.monitor_listen.set(addr);
            }
            Some(tokio::spawn(renkei_doors_admin::monitor::serve(
                listener,
                Arc::clone(&ctl),
                stopping.child_token(),
            )))
        }
        None => None,
    };
    let notify_task =
        renkei_handoff::notify::start(&config, Arc::clone(&o.events), stopping.child_token());
    let server_task = tokio::spawn(server.run(stopping.child_token()));
    let running = Running {
        stopping,
        server_task,
        fronts,
        certs,
        monitor_task,
        notify_task,
        ctl_task,
        socket_path,
        commands,
        router,
        upkeep_stop,
        upkeep,
    };
    Ok((running, listen, host_public))
}

/// What the control socket answers from.
fn control_context(
    o: &Opened,
    state: &Arc<ssh::State>,
    router: &Arc<Router>,
    listen: std::net::SocketAddr,
    segment_listen: Vec<(String, std::net::SocketAddr)>,
    certs: crate::fronts::Certs,
) -> Arc<admin::server::Context> {
    let ctl_state = Arc::clone(state);
    let (live, events, reload_router) = (
        Arc::clone(&o.live),
        Arc::clone(&o.events),
        Arc::clone(router),
    );
    let runtime = tokio::runtime::Handle::current();
    Arc::new(admin::server::Context {
        ns: Arc::clone(&o.ns),
        live: Arc::clone(&o.live),
        defender: Arc::clone(&o.defender),
        router: Arc::clone(router),
        listen,
        segment_listen,
        started: jiff::Timestamp::now(),
        connections: Box::new(move || ctl_state.live_connections()),
        reload: Box::new(move || reload(&live, &events, &reload_router, &certs, &runtime)),
        runtime: tokio::runtime::Handle::current(),
        web: std::sync::OnceLock::new(),
        ftps: std::sync::OnceLock::new(),
        monitor_listen: std::sync::OnceLock::new(),
    })
}

/// Stops the branches of the tree in order. Each stage waits for the one
/// before it, so nothing that still runs can append to the trail after it
/// is sealed.
async fn stop(r: Running, config: &Config) {
    tracing::info!("stopping: sessions get limits.shutdown_grace to finish");
    r.stopping.cancel();
    let _ = r.server_task.await;
    r.fronts.stopped_all().await;
    if let Some(t) = r.monitor_task {
        let _ = t.await;
    }
    let _ = r.ctl_task.await;
    let _ = std::fs::remove_file(&r.socket_path);
    let grace = config.limits.shutdown_grace;
    r.commands.close();
    if tokio::time::timeout(grace, r.commands.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "control commands still running after limits.shutdown_grace; their records are logged if the trail is sealed first"
        );
    }
    r.router.shutdown().await;
    if let Some(t) = r.notify_task {
        let _ = t.await;
    }
    r.upkeep_stop.cancel();
    r.upkeep.close();
    // An upkeep step in progress finishes (each is bounded by
    // limits.fs_timeout); notes not yet cleared stay in the journal and
    // the next start finds their records in the trail.
    if tokio::time::timeout(grace + config.limits.fs_timeout, r.upkeep.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "upkeep still running at stop; its records are logged if the trail is sealed first"
        );
    }
}

/// Records what configuration and rules are in force.
fn record_loaded(events: &Events, live: &Live, how: &str, restart_needed: Vec<String>) {
    let snap = live.get();
    events.record(Event::ConfigLoaded {
        config: snap.config.source.clone(),
        config_sha256: renkei_core::live::config_digest(&snap.config),
        policy_files: if snap.policy.files.is_empty() {
            vec![renkei_core::policy::BASELINE_NAME.to_string()]
        } else {
            snap.policy.files.clone()
        },
        policy_sha256: snap.policy.digest.clone(),
        rules: snap.policy.rules().len(),
        how: how.to_string(),
        restart_needed,
    });
}

/// Reloads configuration and rules (SIGHUP, `renkei ctl reload`); on
/// failure the running ones stay and the error is recorded and returned.
/// Routes that changed are replaced in the background (a route's worker
/// first finishes the transfer it is in), recorded as `routes_changed`.
pub fn reload(
    live: &Live,
    events: &Arc<Events>,
    router: &Arc<Router>,
    certs: &crate::fronts::Certs,
    runtime: &tokio::runtime::Handle,
) -> Result<renkei_core::live::ReloadReport, renkei_config::ConfigError> {
    match live.reload() {
        Ok(mut report) => {
            // The certificates are read again with the configuration.
            certs.reload(&live.get().config, &mut report.warnings);
            for w in &report.warnings {
                tracing::warn!("configuration: {w}");
            }
            record_loaded(events, live, "reload", report.restart_needed.clone());
            let routes = live.get().config.routes.clone();
            report.routes = router.plan(&routes);
            if !report.routes.is_empty() {
                let (router, events) = (Arc::clone(router), Arc::clone(events));
                runtime.spawn(async move {
                    let done = router.apply(routes).await;
                    events.record(Event::RoutesChanged {
                        started: done.started,
                        changed: done.changed,
                        stopped: done.stopped,
                    });
                });
            }
            Ok(report)
        }
        Err(e) => {
            events.record(Event::ReloadFailed {
                error: e.to_string(),
            });
            Err(e)
        }
    }
}
