//! The configuration and rule set in force, replaced atomically on reload.
//!
//! Every decision takes a [`Snapshot`] and uses it throughout, so a reload
//! never mixes old and new rules within one decision. A reload (SIGHUP or
//! `renkei ctl reload`) re-reads the configuration file and the rule files;
//! if anything fails to parse, nothing changes and the error is returned.
//! Tenants, accounts, keys, networks and rules take effect at once; the
//! `[server]`, `[vault]`, `[limits]`, `[defender]` and `[log]` tables keep
//! their running values until a restart (the report says which differ).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use jiff::Timestamp;

use crate::policy::PolicySet;
use renkei_config::{Config, ConfigError};

/// What is in force.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Arc<Config>,
    pub policy: Arc<PolicySet>,
    pub loaded_at: Timestamp,
}

/// What a reload did.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    pub policy_files: Vec<String>,
    pub rules: usize,
    pub policy_digest: String,
    pub config_digest: String,
    pub warnings: Vec<String>,
    /// Tables whose changes wait for a restart.
    pub restart_needed: Vec<String>,
    /// Routes started, replaced and stopped (filled by the daemon, which
    /// runs them).
    pub routes: RouteChanges,
}

pub struct Live {
    current: RwLock<Arc<Snapshot>>,
    /// The configuration file to re-read; `None` for the embedded default.
    config_path: Option<PathBuf>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("config_path", &self.config_path)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of the configuration file as read, for the audit trail.
pub fn config_digest(config: &Config) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(config.text.as_bytes()))
}

impl Live {
    pub fn new(config: Config, policy: PolicySet, config_path: Option<PathBuf>) -> Arc<Live> {
        Arc::new(Live {
            current: RwLock::new(Arc::new(Snapshot {
                config: Arc::new(config),
                policy: Arc::new(policy),
                loaded_at: Timestamp::now(),
            })),
            config_path,
        })
    }

    pub fn get(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads configuration and rules; on any error the running ones stay.
    pub fn reload(&self) -> Result<ReloadReport, ConfigError> {
        let old = self.get();
        let mut config = match &self.config_path {
            Some(p) => Config::load(p)?,
            None => (*old.config).clone(),
        };
        let mut restart_needed = Vec::new();
        let running = &old.config;
        if (
            &config.server.listen,
            &config.server.data_dir,
            &config.server.host_keys,
        ) != (
            &running.server.listen,
            &running.server.data_dir,
            &running.server.host_keys,
        ) {
            restart_needed.push("[server]".to_string());
        }
        if config.vault.identity != running.vault.identity {
            restart_needed.push("[vault]".to_string());
        }
        if config.storage != running.storage {
            restart_needed.push("[storage]".to_string());
        }
        if config.limits != running.limits {
            restart_needed.push("[limits]".to_string());
        }
        if config.defender != running.defender {
            restart_needed.push("[defender]".to_string());
        }
        if (&config.audit, &config.retention) != (&running.audit, &running.retention) {
            restart_needed.push("[audit]/[retention]".to_string());
        }
        if config.log != running.log {
            restart_needed.push("[log]".to_string());
        }
        if config.scan != running.scan {
            restart_needed.push("[scan]".to_string());
        }
        let listeners = |c: &renkei_config::Config| -> Vec<(String, Vec<std::net::SocketAddr>)> {
            c.segments
                .iter()
                .map(|s| (s.name.clone(), s.listen.clone()))
                .collect()
        };
        if listeners(&config) != listeners(running) {
            // The listeners stay as they are; accounts and networks of the
            // segments change now.
            restart_needed.push("[[segment]] listen".to_string());
        }
        config.server.listen = running.server.listen;
        config.server.data_dir = running.server.data_dir.clone();
        config.server.host_keys = running.server.host_keys.clone();
        config.vault = running.vault.clone();
        config.storage = running.storage.clone();
        config.limits = running.limits.clone();
        config.defender = running.defender.clone();
        config.audit = running.audit.clone();
        config.retention = running.retention.clone();
        config.log = running.log.clone();
        config.scan = running.scan.clone();
        if self.config_path.is_none() {
            config.server.policy_dir = running.server.policy_dir.clone();
        }
        let policy = PolicySet::load(&config)?;
        let mut warnings = config.warnings.clone();
        warnings.extend(policy.warnings.iter().cloned());
        let report = ReloadReport {
            policy_files: policy.files.clone(),
            rules: policy.rules().len(),
            policy_digest: policy.digest.clone(),
            config_digest: config_digest(&config),
            warnings,
            restart_needed,
            routes: Default::default(),
        };
        let next = Arc::new(Snapshot {
            config: Arc::new(config),
            policy: Arc::new(policy),
            loaded_at: Timestamp::now(),
        });
        match self.current.write() {
            Ok(mut c) => *c = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(report)
    }
}

/// What a reload does to the routes (names).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouteChanges {
    pub started: Vec<String>,
    pub changed: Vec<String>,
    pub stopped: Vec<String>,
}

impl RouteChanges {
    pub fn is_empty(&self) -> bool {
        self.started.is_empty() && self.changed.is_empty() && self.stopped.is_empty()
    }
}
